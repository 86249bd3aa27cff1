// Package csp parses, builds and checks Content-Security-Policy values.
//
// A Policy is an ordered list of directives, each a name and its source
// expressions, exactly as they appear in the header. Parse reads a header
// value; the builder methods (Set, Add, Del) change one; String writes it
// back in a canonical form (one space between tokens, "; " between
// directives). Check reports what browsers would ignore, reject or what weakens
// the policy, naming the directive and the fix, so that a configuration is
// judged once, at load time, and never at request time.
package csp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Directive is one policy directive: a lower-case name and its values.
type Directive struct {
	Name   string
	Values []string
}

// Policy is a parsed Content-Security-Policy. The zero value is an empty
// policy (which enforces nothing).
type Policy struct {
	Directives []Directive
}

// MaxLen bounds the length of a policy Parse accepts. Real policies are a few
// hundred bytes; the bound keeps a hostile or corrupted value (for example a
// CSP header sent by an upstream that is merged into ours) from costing more
// than linear work on a small input.
const MaxLen = 16 << 10

// Parse reads a serialized policy (one policy: the text of a single
// Content-Security-Policy header field without commas). Directive names are
// lower-cased; values are kept as written. Empty directives (";;") are
// skipped, as browsers do. Parse rejects only what cannot be a policy at all:
// control characters, a comma (which would make it a list of policies), a
// directive name that is not a token, or a value longer than MaxLen. Use Check
// for everything else.
func Parse(s string) (Policy, error) {
	var p Policy
	if len(s) > MaxLen {
		return p, fmt.Errorf("csp: policy is %d bytes, more than the %d accepted", len(s), MaxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return p, errors.New("csp: policy contains a control character")
		}
		if c == ',' {
			return p, errors.New("csp: policy contains ',' which separates policies; give one policy")
		}
	}
	for part := range strings.SplitSeq(s, ";") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		name := strings.ToLower(fields[0])
		if !isDirectiveName(name) {
			return Policy{}, fmt.Errorf("csp: %q is not a directive name", fields[0])
		}
		var vals []string
		if len(fields) > 1 {
			vals = fields[1:]
		}
		p.Directives = append(p.Directives, Directive{Name: name, Values: vals})
	}
	return p, nil
}

// isDirectiveName reports whether s matches the CSP grammar
// directive-name = 1*( ALPHA / DIGIT / "-" ).
func isDirectiveName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// String serializes p: directives in order separated by "; ", values by a
// single space.
func (p Policy) String() string {
	var b strings.Builder
	for i, d := range p.Directives {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.Name)
		for _, v := range d.Values {
			b.WriteByte(' ')
			b.WriteString(v)
		}
	}
	return b.String()
}

// Clone returns a deep copy of p.
func (p Policy) Clone() Policy {
	q := Policy{Directives: make([]Directive, len(p.Directives))}
	for i, d := range p.Directives {
		q.Directives[i] = Directive{Name: d.Name, Values: append([]string(nil), d.Values...)}
	}
	return q
}

// Get returns the values of the first directive named name.
func (p Policy) Get(name string) (values []string, ok bool) {
	name = strings.ToLower(name)
	for _, d := range p.Directives {
		if d.Name == name {
			return d.Values, true
		}
	}
	return nil, false
}

// Has reports whether p has a directive named name.
func (p Policy) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// Set replaces the values of directive name (adding it at the end if p does
// not have it) and returns p for chaining. Each value may hold several
// space-separated source expressions.
func (p *Policy) Set(name string, values ...string) *Policy {
	name = strings.ToLower(strings.TrimSpace(name))
	vals := splitValues(values)
	for i := range p.Directives {
		if p.Directives[i].Name == name {
			p.Directives[i].Values = vals
			return p
		}
	}
	p.Directives = append(p.Directives, Directive{Name: name, Values: vals})
	return p
}

// Add appends values to directive name (creating it if needed), skipping
// values it already has, and returns p for chaining.
func (p *Policy) Add(name string, values ...string) *Policy {
	name = strings.ToLower(strings.TrimSpace(name))
	vals := splitValues(values)
	for i := range p.Directives {
		if p.Directives[i].Name == name {
			for _, v := range vals {
				if !contains(p.Directives[i].Values, v) {
					p.Directives[i].Values = append(p.Directives[i].Values, v)
				}
			}
			return p
		}
	}
	p.Directives = append(p.Directives, Directive{Name: name, Values: vals})
	return p
}

// Del removes every directive named name and returns p for chaining.
func (p *Policy) Del(name string) *Policy {
	name = strings.ToLower(name)
	out := p.Directives[:0]
	for _, d := range p.Directives {
		if d.Name != name {
			out = append(out, d)
		}
	}
	p.Directives = out
	return p
}

func splitValues(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Equal reports whether p and q have the same directives and values in the
// same order.
func (p Policy) Equal(q Policy) bool {
	return slices.EqualFunc(p.Directives, q.Directives, func(a, b Directive) bool {
		return a.Name == b.Name && slices.Equal(a.Values, b.Values)
	})
}
