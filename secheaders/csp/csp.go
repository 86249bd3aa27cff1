// Package csp parses, builds and checks Content-Security-Policy values.
//
// A Policy is an ordered list of directives, each a name and its source
// expressions, exactly as they appear in the header. Parse reads a policy
// written in a configuration and refuses what cannot be one; Lex reads a
// policy someone else sent, refusing nothing, and Policies splits a header
// value into the policies it lists: one grammar, for rampart's headers and
// for rampart check's audit of a server's. The builder methods (Set, Add,
// Del) change a policy; String writes it back in a canonical form (one
// space between tokens, "; " between directives). Check reports what
// browsers would ignore, reject or what weakens the policy, as findings
// naming the directive, the problem and the fix, so that a configuration
// is judged once, at load time, and never at request time.
package csp

import (
	"errors"
	"fmt"
	"iter"
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
// Content-Security-Policy header field without commas), as written in a
// configuration. Directive names are lower-cased; values are kept as
// written. Empty directives (";;") are skipped, as browsers do. Parse
// rejects only what cannot be a policy at all: control characters, a comma
// (which would make it a list of policies), a directive name that is not a
// token, or a value longer than MaxLen. Use Check for everything else.
//
// For a policy someone else wrote (a header a server sent), use Lex: it
// splits the same way and refuses nothing.
func Parse(s string) (Policy, error) {
	if len(s) > MaxLen {
		return Policy{}, fmt.Errorf("csp: policy is %d bytes, more than the %d accepted", len(s), MaxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return Policy{}, errors.New("csp: policy contains a control character")
		}
		if c == ',' {
			return Policy{}, errors.New("csp: policy contains ',' which separates policies; give one policy")
		}
	}
	var p Policy
	for written, values := range splitDirectives(s) {
		name := strings.ToLower(written)
		if !isDirectiveName(name) {
			return Policy{}, fmt.Errorf("csp: %q is not a directive name", written)
		}
		p.Directives = append(p.Directives, Directive{Name: name, Values: values})
	}
	return p, nil
}

// Lex splits a serialized policy into its directives the way Parse does
// (on ";", then on white space; names lower-cased, values as written,
// empty directives skipped) without refusing anything: names are not
// checked, a directive given twice is kept twice, in order (a browser
// uses the first; Get does too), and control characters and commas stay
// inside the values they are in. It is for reading a policy a server sent,
// to judge it (rampart check), where Parse's refusals would hide what is
// wrong. Lex does no more than linear work on any input.
func Lex(s string) Policy {
	var p Policy
	for written, values := range splitDirectives(s) {
		p.Directives = append(p.Directives, Directive{Name: strings.ToLower(written), Values: values})
	}
	return p
}

// Policies yields each serialized policy of a serialized policy list (CSP3
// §2.2.1: the value of a Content-Security-Policy header field, or of
// several fields joined by commas), as written: not trimmed, possibly
// empty. Each is enforced on its own.
func Policies(list string) iter.Seq[string] {
	return strings.SplitSeq(list, ",")
}

// splitDirectives yields, for each non-empty directive of s, its name as
// written and its values (nil when it has none).
func splitDirectives(s string) iter.Seq2[string, []string] {
	return func(yield func(string, []string) bool) {
		for part := range strings.SplitSeq(s, ";") {
			fields := strings.Fields(part)
			if len(fields) == 0 {
				continue
			}
			var vals []string
			if len(fields) > 1 {
				vals = fields[1:]
			}
			if !yield(fields[0], vals) {
				return
			}
		}
	}
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
