package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 reports a value of the wrong shape as "cannot unmarshal !!str
// `example...` into []string": Go types, a truncated copy of the value
// (which may be a secret), no hint. checkTypes walks the parsed tree
// against the schema before decoding and says the same in words, at the
// key: "hosts: expected a list of host names, got a single string", with
// the right form as the hint. The keys it reports are remembered, so that
// compilation does not report them again as missing (the value was
// dropped, not absent).

// checkTypes checks the document's shape. It reports false when the
// document is not a mapping at all: nothing in it can be read.
func (l *loader) checkTypes(doc *yaml.Node) bool {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		l.typeError("", n.Line, n.Line, "the configuration must be keys with values (hosts:, upstream:, …), got "+gotDesc(n),
			"start each top-level key at the beginning of a line, e.g. hosts: [example.com]")
		return false
	}
	l.checkNode(n, reflect.TypeFor[File](), "", n.Line)
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// checkNode checks n against t. Aliases are not followed: yaml.v3 bounds
// their expansion when it decodes, a walk here would not be.
func (l *loader) checkNode(n *yaml.Node, t reflect.Type, path string, keyLine int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode || isNull(n) {
		return
	}
	bad := func() {
		want, hint := expected(t, path)
		l.typeError(path, keyLine, n.Line, "expected "+want+", got "+gotDesc(n), hint)
	}
	switch {
	case t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[ByteSize]():
		// Their own UnmarshalYAML reports a bad scalar.
		if n.Kind != yaml.ScalarNode {
			bad()
		}
	case t == reflect.TypeFor[Sources]():
		switch n.Kind {
		case yaml.ScalarNode:
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if c.Kind != yaml.ScalarNode && c.Kind != yaml.AliasNode {
					bad()
					return
				}
			}
		default:
			bad()
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad()
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if sf, ok := yamlField(t, k.Value); ok {
				l.checkNode(v, sf.Type, joinKey(path, k.Value), k.Line)
			}
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad()
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			l.checkNode(v, t.Elem(), joinKey(path, k.Value), k.Line)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad()
			return
		}
		for i, c := range n.Content {
			l.checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), c.Line)
		}
	default: // string, bool, int: exactly what yaml.v3 accepts
		if n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil {
			bad()
		}
	}
}

// yamlField finds the field of struct t (inline fields included) whose
// YAML key is name.
func yamlField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if strings.Contains(sf.Tag.Get("yaml"), ",inline") {
			if f, ok := yamlField(sf.Type, name); ok {
				return f, true
			}
		} else if yamlName(sf) == name && name != "" {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// typeError records a wrong-shaped value at key. Both lines are
// remembered so that yaml.v3's own report of it is dropped.
func (l *loader) typeError(key string, keyLine, valueLine int, msg, hint string) {
	l.findings = append(l.findings, Finding{Severity: Error, Where: fmt.Sprintf("%s:%d", l.file, keyLine), Key: key, Message: msg, Hint: hint})
	l.typeErrs[key] = true
	l.typeLines[keyLine] = true
	l.typeLines[valueLine] = true
}

// underTypeError reports whether key is at or below a key whose value had
// the wrong shape: whatever compilation finds there (missing, required,
// empty) is a consequence, already reported.
func (l *loader) underTypeError(key string) bool {
	for k := range l.typeErrs {
		if key == k || k == "" || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// gotDesc says what a node is, in words; never its value, which may be a
// secret.
func gotDesc(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "keys with values (a section)"
	case yaml.AliasNode:
		return "an alias"
	}
	return tagDesc(strings.TrimPrefix(n.ShortTag(), "!!"))
}

func tagDesc(tag string) string {
	switch tag {
	case "str":
		return "a single string"
	case "int", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "null":
		return "nothing"
	case "timestamp":
		return "a date"
	case "seq":
		return "a list"
	case "map":
		return "keys with values (a section)"
	}
	return "a value of another type"
}

// listItems names the items of the lists of strings in the schema, with
// an example, by key.
var listItems = map[string][2]string{
	"hosts":                              {"host names", "[example.com, www.example.com]"},
	"require_secrets":                    {"secret names", "[SECRET_KEY]"},
	"trusted_proxies":                    {"addresses or CIDRs", "[10.0.0.0/8, 192.0.2.7]"},
	"allow":                              {"addresses or CIDRs", "[10.0.0.0/8]"},
	"keep_query_params":                  {"query parameter names", "[page, sort]"},
	"strip_request_headers":              {"header names", "[X-Internal-User]"},
	"remove_response_headers":            {"header names", "[X-Runtime]"},
	"insecure_stream_request_body_paths": {"paths", "[/upload]"},
	"methods":                            {"methods", "[POST, PUT]"},
	"directives":                         {"directive names", "[script-src, style-src]"},
}

// leafKey is the last name of a key path: "hosts" for "hosts",
// "allow" for "ratelimit.zones.api.allow".
func leafKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

// expected describes the value t takes at path, and the hint showing the
// right form.
func expected(t reflect.Type, path string) (want, hint string) {
	key := leafKey(path)
	switch {
	case t == reflect.TypeFor[Duration]():
		return "a duration", durationHint
	case t == reflect.TypeFor[ByteSize]():
		return "a size", sizeHint
	case t == reflect.TypeFor[Sources]():
		return "sources as a string or a list", sourcesHint
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		items := listItems[key]
		if items[0] == "" {
			items = [2]string{"values", "[one, two]"}
		}
		return "a list of " + items[0], fmt.Sprintf(`write a list: %s: %s, or one "- item" per line below %s:`, key, items[1], key)
	case t.Kind() == reflect.Slice:
		return "a list of sections", fmt.Sprintf(`write one entry per item below %s:, each starting with "- ", e.g. "- %s"`, key, firstKeyExample(t.Elem()))
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		return "a section of named entries", fmt.Sprintf(`write one "name:" per entry below %s:, with its keys indented under it`, key)
	case t.Kind() == reflect.Map:
		return "a section of names and values", fmt.Sprintf(`write one "name: value" per line, indented below %s:`, key)
	case t.Kind() == reflect.Struct:
		h := fmt.Sprintf("indent its keys on the lines below %s:", key)
		if key == "" {
			h = "indent its keys on the lines below it"
		}
		if known := knownKeys(t.Name()); known != "" {
			h += "; valid keys here: " + known
		}
		return "a section (keys with values)", h
	case t.Kind() == reflect.Bool:
		return "true or false", fmt.Sprintf("write %s: true or %s: false, without quotes", key, key)
	case t.Kind() == reflect.Int:
		return "a whole number", fmt.Sprintf("write a number without quotes or units, e.g. %s: 10", key)
	}
	return "a single value", fmt.Sprintf(`write %s: value on one line; quote the value ("…") if it contains ": " or " #", or starts with [, {, * or &`, key)
}

// firstKeyExample is "key: …" for the first key of a list entry's section.
func firstKeyExample(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t.NumField() > 0 {
		if name := yamlName(t.Field(0)); name != "" {
			return name + ": …"
		}
	}
	return "key: value"
}

var unmarshalRE = regexp.MustCompile("(?s)^cannot unmarshal !!?(\\S*)(?: `.*`)? into (\\S+)$")

// humanUnmarshal rewrites a yaml.v3 "cannot unmarshal" message that
// checkTypes did not foresee, in the same words and without the value.
func humanUnmarshal(msg string) (string, bool) {
	sm := unmarshalRE.FindStringSubmatch(msg)
	if sm == nil {
		return msg, false
	}
	var want string
	switch typ := sm[2]; {
	case typ == "[]string":
		want = "a list of strings"
	case strings.HasPrefix(typ, "[]"):
		want = "a list of sections"
	case strings.HasPrefix(typ, "map["):
		want = "a section"
	case typ == "bool":
		want = "true or false"
	case strings.HasPrefix(typ, "int") || strings.HasPrefix(typ, "uint"):
		want = "a whole number"
	case typ == "string":
		want = "a single value"
	default:
		want = "a section (keys with values)"
	}
	return "expected " + want + ", got " + tagDesc(sm[1]), true
}

// syntaxError reports a document yaml.v3 cannot parse. Tabs in
// indentation get their own finding on each line that has one, since the
// parser's words ("found character that cannot start any token") do not
// say so.
func (l *loader) syntaxError(data []byte, msg string, line int) {
	tabs := tabIndentedLines(data)
	for i, tl := range tabs {
		if i == 10 {
			l.findings = append(l.findings, Finding{Severity: Error, Where: l.file,
				Message: fmt.Sprintf("%d more lines are indented with tabs", len(tabs)-i), Hint: "replace every indenting tab with spaces"})
			break
		}
		l.findings = append(l.findings, Finding{Severity: Error, Where: fmt.Sprintf("%s:%d", l.file, tl),
			Message: "YAML does not allow tabs for indentation; use spaces",
			Hint:    "replace the tab at the start of the line with spaces (two per level); most editors can be set to indent with spaces"})
	}
	if len(tabs) > 0 && (line == 0 || line >= tabs[0]) {
		return // the first tab explains the parser's error
	}
	fd := Finding{Severity: Error, Where: l.file, Message: msg, Hint: syntaxHint(msg)}
	if line > 0 {
		fd.Where = fmt.Sprintf("%s:%d", l.file, line)
	}
	l.findings = append(l.findings, fd)
}

// tabIndentedLines lists the lines (from 1) whose indentation holds a tab,
// blank lines and comments aside.
func tabIndentedLines(data []byte) []int {
	var out []int
	for i, line := range bytes.Split(data, []byte("\n")) {
		rest := bytes.TrimLeft(line, " \t")
		indent := line[:len(line)-len(rest)]
		rest = bytes.TrimSpace(rest)
		if len(rest) == 0 || rest[0] == '#' {
			continue
		}
		if bytes.IndexByte(indent, '\t') >= 0 {
			out = append(out, i+1)
		}
	}
	return out
}

func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "cannot start any token"):
		return "quote the value: a plain value cannot start with @ or `"
	case strings.Contains(msg, "mapping values are not allowed"):
		return `check the indentation of this line against the one above, and quote a value that contains ": "`
	case strings.Contains(msg, "did not find expected"), strings.Contains(msg, "could not find expected"):
		return "check the indentation: the keys of one section line up under each other, with spaces only"
	case strings.Contains(msg, "already defined"):
		return "remove one of the two, or merge them"
	}
	return "check the indentation (spaces only) and quote values with special characters"
}
