package config

import (
	"reflect"
	"testing"
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
	keyTableOnce.Do(func() {})
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
