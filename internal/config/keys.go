package config

import (
	"reflect"
	"strings"
	"sync"

	"github.com/rampart-dev/rampart/field"
)

// The one table from the YAML keys of the schema to the Plan fields they
// set, read from the schema's struct tags. Each key of File carries, next
// to its yaml tag, a plan tag: the Go path of the Plan field it sets,
// "[#]" standing for a list index and "[*]" for a map key, in the order
// the key's own lists and maps appear (several paths, comma-separated,
// when one key sets two fields; "-" when it sets none, a secret's name
// for instance). A section's tag is the path its keys share, or "" when
// it has none of its own.
//
// The libraries validate their Options and name the Go fields they find
// fault with (package field); the table takes such a path back to the key
// the user wrote, and the loader's index from there to file:line. It is
// the only place the two namings meet, and TestKeys_EveryKeyReachesAPlanField
// holds it complete.

type keyMapping struct {
	yaml string // "ratelimit.zones.*.rate", "ratelimit.rules[#].limits[#].burst"
	plan string // "RateLimit.Zones[*].Rate", "RateLimit.Rules[#].Limits[#].Burst"
}

var (
	keyTableOnce sync.Once
	keyTable     []keyMapping
)

func keyMappings() []keyMapping {
	keyTableOnce.Do(func() { keyTable = buildKeyTable(reflect.TypeFor[File](), "", "") })
	return keyTable
}

func buildKeyTable(t reflect.Type, yamlPath, planBase string) []keyMapping {
	var out []keyMapping
	for i := range t.NumField() {
		sf := t.Field(i)
		if strings.Contains(sf.Tag.Get("yaml"), ",inline") {
			out = append(out, buildKeyTable(sf.Type, yamlPath, planBase)...)
			continue
		}
		name := yamlName(sf)
		if name == "" {
			continue
		}
		key := joinKey(yamlPath, name)
		base := planBase
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if tag, ok := sf.Tag.Lookup("plan"); ok && tag != "" && tag != "-" {
			for p := range strings.SplitSeq(tag, ",") {
				p = planTag(strings.TrimSpace(p), planBase)
				own := ownElement(key, ft, p)
				out = append(out, keyMapping{yaml: own, plan: p})
				switch {
				case own != key:
					// The tag names the key's entries themselves.
				case ft.Kind() == reflect.Slice:
					// A list: its items by index.
					out = append(out, keyMapping{yaml: key + "[#]", plan: p + "[#]"})
				case ft.Kind() == reflect.Map:
					// A map: its entries by name.
					out = append(out, keyMapping{yaml: key + ".*", plan: p + "[*]"})
				}
				base = p
			}
		}
		switch {
		case ft == reflect.TypeFor[Duration]() || ft == reflect.TypeFor[ByteSize]():
		case ft.Kind() == reflect.Struct:
			out = append(out, buildKeyTable(ft, key, base)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, buildKeyTable(ft.Elem(), key+"[#]", base+"[#]")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, buildKeyTable(ft.Elem(), key+".*", base+"[*]")...)
		}
	}
	return out
}

// ownElement is the YAML pattern of a key whose plan path ends at an
// element of the key's own list or map ("Headers.CSP.Directives[*]" for a
// map of strings, "Headers.CSP.Nonce.Directives[#]" for a list): the key
// followed by that element, "headers.csp.directives.*" or
// "headers.csp.nonce.directives[#]", so a finding on one entry names the
// entry. A plan path without it maps the key as a whole.
func ownElement(key string, t reflect.Type, plan string) string {
	switch {
	case t.Kind() == reflect.Map && strings.HasSuffix(plan, "[*]"):
		return key + ".*"
	case t.Kind() == reflect.Slice && strings.HasSuffix(plan, "[#]"):
		return key + "[#]"
	}
	return key
}

// planTag resolves a tag relative to its section (".MaxSizeMB") to an
// absolute Plan path.
func planTag(tag, base string) string {
	if strings.HasPrefix(tag, ".") {
		return base + tag
	}
	return tag
}

// yamlKeyOf returns the YAML key that sets the Plan field at path (a
// concrete path: "RateLimit.Zones[api].Rate"), or of its nearest ancestor
// that a key sets; "" when none does.
func yamlKeyOf(path string) string {
	toks := pathTokens(path)
	for n := len(toks); n > 0; n-- {
		for _, m := range keyMappings() {
			if key, ok := substitute(m, toks[:n]); ok {
				return key
			}
		}
	}
	return ""
}

// pathTokens splits a Go path into names and bracketed parts:
// "A.B[x].C" → "A", "B", "[x]", "C".
func pathTokens(p string) []string {
	var out []string
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p)
			}
			out = append(out, p[:end+1])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}

// substitute matches the concrete tokens against m's plan pattern and, on
// a match, returns m's YAML pattern with the captured indices and keys put
// in place of its [#] and * in order.
func substitute(m keyMapping, toks []string) (string, bool) {
	pat := pathTokens(m.plan)
	if len(pat) != len(toks) {
		return "", false
	}
	var caps []string
	for i, p := range pat {
		t := toks[i]
		switch p {
		case "[#]":
			if len(t) < 3 || t[0] != '[' || strings.Trim(t[1:len(t)-1], "0123456789") != "" {
				return "", false
			}
			caps = append(caps, t[1:len(t)-1])
		case "[*]":
			if len(t) < 2 || t[0] != '[' {
				return "", false
			}
			caps = append(caps, t[1:len(t)-1])
		default:
			if p != t {
				return "", false
			}
		}
	}
	var b strings.Builder
	y := m.yaml
	for y != "" {
		switch {
		case strings.HasPrefix(y, "[#]"):
			if len(caps) == 0 {
				return "", false
			}
			b.WriteString("[" + caps[0] + "]")
			caps, y = caps[1:], y[3:]
		case y[0] == '*' && (len(y) == 1 || y[1] == '.'):
			if len(caps) == 0 {
				return "", false
			}
			b.WriteString(caps[0])
			caps, y = caps[1:], y[1:]
		default:
			b.WriteByte(y[0])
			y = y[1:]
		}
	}
	return b.String(), len(caps) == 0
}

// fieldFindings records a library's validation findings of the Plan field
// at root (a library's Options) at the YAML keys that set the fields they
// name. A finding on a field no key sets goes to the nearest key that
// does, and its message names the field. A finding at or below a key
// whose value had the wrong shape is dropped: it is a consequence of that
// error, already reported. The hint of a key that a flag sets says so.
func (l *loader) fieldFindings(root string, errs field.Errors) {
	for _, e := range errs {
		path := field.Join(root, e.Path)
		key := yamlKeyOf(path)
		if key != "" && l.underTypeError(key) {
			continue
		}
		msg, hint := e.Message, e.Hint
		if key == "" {
			msg = path + ": " + msg
		}
		if flag := flagOf(key); flag != "" && hint != "" {
			hint += " (flag --" + flag + ")"
		}
		sev := Error
		if e.Warning {
			sev = Warning
		}
		l.findings = append(l.findings, Finding{Severity: sev, Where: l.nearest(key), Key: key, Message: msg, Hint: hint})
	}
}
