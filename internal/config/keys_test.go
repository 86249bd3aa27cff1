package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// planFieldType resolves a plan pattern ("RateLimit.Zones[*].Rate") on the
// Plan type, or reports why it does not.
func planFieldType(pattern string) (reflect.Type, string) {
	t := reflect.TypeFor[Plan]()
	for _, tok := range pathTokens(pattern) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case tok == "[#]":
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil, "[#] on " + t.String()
			}
			t = t.Elem()
		case tok == "[*]":
			if t.Kind() != reflect.Map {
				return nil, "[*] on " + t.String()
			}
			t = t.Elem()
		default:
			if t.Kind() != reflect.Struct {
				return nil, tok + " on " + t.String()
			}
			f, ok := t.FieldByName(tok)
			if !ok {
				return nil, "no field " + tok + " in " + t.String()
			}
			t = f.Type
		}
	}
	return t, ""
}

func TestKeys_YAMLKeyOf(t *testing.T) {
	keyMappings() // the real table, restored below for the tests that follow
	saved := keyTable
	defer func() { keyTable = saved }()
	keyTable = []keyMapping{
		{"listen.read_timeout", "Listen.ReadTimeout"},
		{"ratelimit.zones.*.rate", "RateLimit.Zones[*].Rate"},
		{"ratelimit.rules[#].limits[#].burst", "RateLimit.Rules[#].Limits[#].Burst"},
		{"ratelimit.rules[#]", "RateLimit.Rules[#]"},
		{"headers.csp.directives.*", "Headers.CSP.Directives[*]"},
	}
	for path, want := range map[string]string{
		"Listen.ReadTimeout":                  "listen.read_timeout",
		"RateLimit.Zones[api].Rate":           "ratelimit.zones.api.rate",
		"RateLimit.Rules[2].Limits[10].Burst": "ratelimit.rules[2].limits[10].burst",
		"RateLimit.Rules[2].Prefix":           "ratelimit.rules[2]",
		"Headers.CSP.Directives[script-src]":  "headers.csp.directives.script-src",
		"RateLimit.Rules[x].Limits[0].Burst":  "",
		"Nothing.Here":                        "",
	} {
		if got := yamlKeyOf(path); got != want {
			t.Errorf("yamlKeyOf(%q) = %q, want %q", path, got, want)
		}
	}
}

// Every key of the schema says which Plan field it sets (or "-"), and
// every such field exists: a key added to the schema cannot be forgotten
// by the table that takes a library's findings back to the key.
func TestKeys_EveryKeyReachesAPlanField(t *testing.T) {
	tagged := map[string]bool{}
	for _, m := range keyMappings() {
		tagged[m.yaml] = true
		if _, why := planFieldType(m.plan); why != "" {
			t.Errorf("%s: plan path %s does not resolve: %s", m.yaml, m.plan, why)
		}
	}
	for _, key := range schemaKeys(reflect.TypeFor[File](), "") {
		key = strings.ReplaceAll(strings.ReplaceAll(key, "[]", "[#]"), ".NAME", ".*")
		if !tagged[key] && !tagged[key+".*"] && !tagged[key+"[#]"] && !untagged[key] {
			t.Errorf("%s has no plan tag", key)
		}
	}
}

// untagged are the keys whose value sets no Plan field (tagged "-").
var untagged = func() map[string]bool {
	m := map[string]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name := yamlName(sf)
			if name == "" {
				continue
			}
			key := joinKey(path, name)
			if sf.Tag.Get("plan") == "-" {
				m[key] = true
				continue
			}
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft == reflect.TypeFor[Duration]() || ft == reflect.TypeFor[ByteSize]():
			case ft.Kind() == reflect.Struct:
				walk(ft, key)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+"[#]")
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+".*")
			}
		}
	}
	walk(reflect.TypeFor[File](), "")
	return m
}()

// A key that is itself a map or a list of values, tagged with the path of
// its elements, maps each entry: a finding on one CSP directive or one
// list item names it, not only the key that holds them all.
func TestKeys_MapAndListOfValuesMapTheirEntries(t *testing.T) {
	type nonce struct {
		Directives []string `yaml:"directives" plan:"Headers.CSP.Nonce.Directives[#]"`
	}
	type section struct {
		Directives map[string][]string `yaml:"directives" plan:"Headers.CSP.Directives[*]"`
		Modes      map[string]string   `yaml:"modes" plan:"Headers.Modes"`
		Nonce      nonce               `yaml:"nonce"`
	}
	type file struct {
		CSP section `yaml:"csp"`
	}
	got := buildKeyTable(reflect.TypeFor[file](), "headers", "")
	want := []keyMapping{
		{"headers.csp.directives.*", "Headers.CSP.Directives[*]"},
		{"headers.csp.modes", "Headers.Modes"},
		{"headers.csp.modes.*", "Headers.Modes[*]"},
		{"headers.csp.nonce.directives[#]", "Headers.CSP.Nonce.Directives[#]"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("table = %q, want %q", got, want)
	}
	keyMappings() // the real table, restored below for the tests that follow
	saved := keyTable
	defer func() { keyTable = saved }()
	keyTable = got
	for path, key := range map[string]string{
		"Headers.CSP.Directives[script-src]": "headers.csp.directives.script-src",
		"Headers.CSP.Nonce.Directives[1]":    "headers.csp.nonce.directives[1]",
		"Headers.Modes[X-Frame-Options]":     "headers.csp.modes.X-Frame-Options",
	} {
		if got := yamlKeyOf(path); got != key {
			t.Errorf("yamlKeyOf(%q) = %q, want %q", path, got, key)
		}
	}
}

// Every key of the headers: section sets a field of the plan's
// secheaders.Policy, and a finding on that field comes back to the key:
// the walk the other sections join as they move to field.Errors.
func TestKeys_EveryHeadersKeyReachesAPolicyFieldAndBack(t *testing.T) {
	mapped := map[string]bool{}
	for _, m := range keyMappings() {
		if _, why := planFieldType(m.plan); why != "" {
			t.Errorf("%s: plan path %s does not resolve: %s", m.yaml, m.plan, why)
			continue
		}
		// A concrete path of this key: index 3, map key "k".
		plan := strings.ReplaceAll(strings.ReplaceAll(m.plan, "[#]", "[3]"), "[*]", "[k]")
		yaml := strings.ReplaceAll(m.yaml, "[#]", "[3]")
		yaml = strings.TrimSuffix(strings.ReplaceAll(yaml+".", ".*.", ".k."), ".")
		if got := yamlKeyOf(plan); got != yaml {
			t.Errorf("a finding on %s goes to %q, want %q", plan, got, yaml)
		}
		mapped[strings.TrimSuffix(strings.TrimSuffix(strings.ReplaceAll(m.yaml, "[#]", "[]"), ".*"), "[]")] = true
	}
	for _, key := range schemaKeys(reflect.TypeFor[File](), "") {
		if strings.HasPrefix(key, "headers.") && !mapped[key] {
			t.Errorf("%s has no plan tag naming the Policy field it sets", key)
		}
	}
}

// Every key of the table, written in a file, is found again from the Plan
// field it sets, at its own line: a library's finding on that field
// (fieldFindings: yamlKeyOf, then the loader's index) names the line the
// user wrote, whatever the key, list index or map entry.
func TestKeys_EveryKeyFoundBackAtItsLine(t *testing.T) {
	rows := 0
	for _, m := range keyMappings() {
		key, plan := concreteKey(m.yaml), concretePlan(m.plan)
		doc, line := yamlAt(key)
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
			t.Fatalf("%s: the generated document does not parse: %v\n%s", m.yaml, err, doc)
		}
		l := &loader{file: "rampart.yaml", where: map[string]string{}, lines: map[int]string{}}
		l.index(&root, "")
		got := yamlKeyOf(plan)
		if got != key {
			t.Errorf("%s: the field %s is taken back to key %q, want %q", m.yaml, plan, got, key)
			continue
		}
		if want := fmt.Sprintf("rampart.yaml:%d", line); l.nearest(got) != want {
			t.Errorf("%s: a finding on %s is placed at %s, want %s\n%s", m.yaml, plan, l.nearest(got), want, doc)
		}
		rows++
	}
	if rows < 200 {
		t.Errorf("only %d rows of the table checked", rows)
	}
}

// concreteKey and concretePlan put list index 1 and map entry "entry" in
// a pattern's [#] and * places, the same in both namings.
func concreteKey(pattern string) string {
	s := strings.ReplaceAll(pattern, "[#]", "[1]")
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p == "*" {
			parts[i] = "entry"
		}
	}
	return strings.Join(parts, ".")
}

func concretePlan(pattern string) string {
	return strings.ReplaceAll(strings.ReplaceAll(pattern, "[#]", "[1]"), "[*]", "[entry]")
}

// yamlAt writes a document that sets key (concrete: "a.b[1].c") after a
// few unrelated lines, and returns it with the line of key's last part
// (the list item's line for a key ending in an index).
func yamlAt(key string) (string, int) {
	var b strings.Builder
	b.WriteString("# generated\nhosts: [example.com]\n\n")
	line := 4
	indent := ""
	parts := strings.Split(key, ".")
	for i, p := range parts {
		name, idx := p, ""
		if j := strings.IndexByte(p, '['); j >= 0 {
			name, idx = p[:j], p[j:]
		}
		last := i == len(parts)-1
		switch {
		case idx == "" && last:
			fmt.Fprintf(&b, "%s%s: x\n", indent, name)
			return b.String(), line
		case idx == "":
			fmt.Fprintf(&b, "%s%s:\n", indent, name)
			line++
			indent += "  "
		default:
			// name[1]: a list whose second item is the one that counts.
			fmt.Fprintf(&b, "%s%s:\n%s  - x\n", indent, name, indent)
			line += 2
			if last {
				fmt.Fprintf(&b, "%s  - x\n", indent)
				return b.String(), line
			}
			// The item is a mapping holding the rest of the key.
			fmt.Fprintf(&b, "%s  -\n", indent)
			line++
			indent += "    "
		}
	}
	return b.String(), line
}
