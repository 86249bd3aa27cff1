package config

import (
	"strings"
	"testing"
)

// A host written as a string instead of a list is one mistake: it must not
// also be reported as "at least one host name is required", nor turn into
// "no certificate source: hosts []".
func TestLoad_TypeErrorIsNotReportedAgainAsMissing(t *testing.T) {
	for _, c := range []struct{ yaml, key string }{
		{"hosts: example.com\nupstream: {url: 'http://127.0.0.1:5000'}\n", "hosts"},
		{"hosts: [example.com]\nupstream: http://127.0.0.1:5000\n", "upstream"},
		{"hosts: [example.com]\nupstream:\n  url: [http://127.0.0.1:5000]\n", "upstream.url"},
	} {
		p, fs, _ := load(t, c.yaml, nil, Flags{})
		if p != nil || len(fs) != 1 || fs[0].Key != c.key || !strings.Contains(fs[0].Message, "expected") {
			t.Errorf("%q: want exactly one finding, on %s, got:\n%s", c.yaml, c.key, fmtFindings(fs))
		}
	}
}

// Type errors say what was expected in words, with the right form as the
// hint, and never repeat the value (yaml.v3 quotes its first characters,
// and a list of secret names may hold a secret).
func TestLoad_TypeErrorsInWordsWithoutTheValue(t *testing.T) {
	cases := []struct{ yaml, want, hint string }{
		{"require_secrets: q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6Fg0Hu3Io8Pz\n", "require_secrets: expected a list of secret names, got a single string", "require_secrets: [SECRET_KEY]"},
		{"listen: {idle_timeout: [2m]}\n", "listen.idle_timeout: expected a duration, got a list", `"10s"`},
		{"limits: {max_body_bytes: {a: 1}}\n", "limits.max_body_bytes: expected a size, got keys with values", `"10m"`},
		{"upstream: {forwarded: yes please}\n", "upstream.forwarded: expected true or false, got a single string", "forwarded: true"},
		{"upstream: {max_idle_conns: lots}\n", "upstream.max_idle_conns: expected a whole number, got a single string", "max_idle_conns: 10"},
		{"headers: {modes: [strict]}\n", "headers.modes: expected a section of names and values, got a list", "name: value"},
		{"ratelimit: {zones: [a]}\n", "ratelimit.zones: expected a section of named entries, got a list", `"name:"`},
		{"ratelimit: {rules: {prefix: /}}\n", "ratelimit.rules: expected a list of sections, got keys with values", `"- prefix: …"`},
		{"tls: true\n", "tls: expected a section (keys with values), got true or false", "valid keys here: acme, cert_file"},
		{"state_dir: {a: b}\n", "state_dir: expected a single value, got keys with values", "quote the value"},
		{"- hosts: [a]\n", "the configuration must be keys with values (hosts:, upstream:, …), got a list", "top-level key"},
	}
	for _, c := range cases {
		_, fs, _ := load(t, c.yaml, nil, Flags{})
		got := fmtFindings(fs)
		if !strings.Contains(got, c.want) || !strings.Contains(got, c.hint) {
			t.Errorf("%q: want %q with hint %q, got:\n%s", c.yaml, c.want, c.hint, got)
		}
		for _, goWords := range []string{"!!", "config.", "unmarshal", "q8Vh3tZ"} {
			if strings.Contains(got, goWords) {
				t.Errorf("%q: report has %q:\n%s", c.yaml, goWords, got)
			}
		}
	}
}

// A tab in the indentation is named as such, on each line that has one,
// instead of the parser's "found character that cannot start any token".
func TestLoad_TabIndentationIsNamed(t *testing.T) {
	_, fs, _ := load(t, "hosts: [example.com]\nupstream:\n\turl: http://127.0.0.1:5000\n  \tpreserve_host: true\n", nil, Flags{})
	got := fmtFindings(fs)
	for _, w := range []string{"rampart.yaml:3: error: YAML does not allow tabs for indentation; use spaces",
		"rampart.yaml:4: error: YAML does not allow tabs for indentation; use spaces", "hint: replace the tab"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if strings.Contains(got, "cannot start any token") {
		t.Errorf("the parser's words remain:\n%s", got)
	}
	// A parse error before the first tab is the parser's, with a hint.
	_, fs, _ = load(t, "hosts: [example.com]\nlog: {level: @x}\nupstream:\n\turl: x\n", nil, Flags{})
	if got := fmtFindings(fs); !strings.Contains(got, "rampart.yaml:2: error: found character that cannot start any token\n\thint: quote the value") {
		t.Errorf("parse error before the tab:\n%s", got)
	}
}

// A key defined twice makes yaml.v3 drop the whole mapping: the duplicate
// is the one finding, not every key of the mapping reported missing.
func TestLoad_DuplicateKeyIsTheOnlyFinding(t *testing.T) {
	_, fs, _ := load(t, "hosts: [example.com]\nupstream: {url: 'http://127.0.0.1:5000'}\nhosts: [b.example]\n", nil, Flags{})
	if len(fs) != 1 || !strings.Contains(fs[0].String(), `rampart.yaml:3: error: hosts: mapping key "hosts" already defined at line 1`) {
		t.Errorf("want one finding on the duplicate, got:\n%s", fmtFindings(fs))
	}
}

// Every finding names a place: the file when no line applies.
func TestLoad_EveryFindingHasAPlace(t *testing.T) {
	_, fs, _ := load(t, "hosts: [app.test]\n", nil, Flags{})
	for _, f := range fs {
		if f.Where == "" {
			t.Errorf("no place: %s", f)
		}
	}
	if !strings.Contains(fmtFindings(fs), "rampart.yaml: error: upstream.url: is required") {
		t.Errorf("a required key the file lacks is not placed in the file:\n%s", fmtFindings(fs))
	}
}
