package csp

import (
	"slices"
	"strings"
	"testing"
)

func TestParseString_RoundTrip(t *testing.T) {
	in := "  Default-Src 'self' ;script-src  'self'   https://cdn.example ;; upgrade-insecure-requests"
	p, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "default-src 'self'; script-src 'self' https://cdn.example; upgrade-insecure-requests"
	if got := p.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestParse_Rejects(t *testing.T) {
	for _, in := range []string{
		"default-src 'self'\r\nSet-Cookie: x=1", // header splitting
		"default-src 'self', script-src *",      // a policy list, not a policy
		"default_src 'self'",                    // not a directive token
		"script-src\x00 'self'",
		strings.Repeat("a", MaxLen+1),
	} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

// show writes a finding as a configuration error list would:
// "directive: message (hint: ...)".
func show(f Finding) string {
	s := f.Message
	if f.Directive != "" {
		s = f.Directive + ": " + s
	}
	if f.Hint != "" {
		s += " (hint: " + f.Hint + ")"
	}
	return s
}

func TestBuilder(t *testing.T) {
	var p Policy
	p.Set("default-src", "'self'").Set("script-src", "'self' https://a.example").Add("script-src", "https://a.example", "https://b.example")
	p.Set("img-src", "*").Del("img-src")
	want := "default-src 'self'; script-src 'self' https://a.example https://b.example"
	if got := p.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestCheck lists the mistakes Check must catch, each with its severity and
// the text (directive name or hint) the operator needs.
func TestCheck(t *testing.T) {
	const base = "; object-src 'none'; base-uri 'self'"
	for _, tc := range []struct {
		policy string
		sev    Severity
		want   string // substring of one finding, as show writes it
	}{
		{"default-src self" + base, Error, "default-src: unquoted self is read as a host name (hint: write 'self')"},
		{"script-src 'self' none" + base, Error, "hint: write 'none'"},
		{"script-src nonce-abc" + base, Error, "write 'nonce-abc'"},
		{"scirpt-src 'self'" + base, Error, "scirpt-src: unknown directive (hint: did you mean script-src?)"},
		{"script-src 'nonce-!!!'" + base, Error, "script-src: malformed nonce"},
		{"script-src 'nonce-abc'" + base, Error, "shorter than 128 bits"},
		{"script-src 'sha256-abc'" + base, Error, "script-src: malformed hash"},
		{"script-src 'sha256-" + strings.Repeat("A", 40) + "='" + base, Error, "needs 32"},
		{"script-src 'selfie'" + base, Error, "unknown keyword"},
		{"script-src 'self" + base, Error, "unterminated"},
		{"frame-ancestors 'unsafe-inline'" + base, Error, "not allowed here"},
		{"upgrade-insecure-requests 1" + base, Error, "takes no value"},
		{"sandbox allow-everything" + base, Error, "unknown sandbox flag"},
		{"img-src https://exa_mple.com/ https://a..b" + base, Error, "img-src: malformed source expression \"https://exa_mple.com/\""},
		{"script-src" + base, Error, "has no source"},
		{"script-src 'self' 'unsafe-inline' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'" + base, Warning, "'unsafe-inline' is ignored by browsers when a nonce or hash is present"},
		{"script-src 'self' 'unsafe-inline'" + base, Warning, "defeats XSS protection"},
		{"script-src 'self' 'unsafe-eval'" + base, Warning, "'unsafe-eval'"},
		{"img-src *" + base, Warning, "img-src: the wildcard * allows any host"},
		{"script-src data:" + base, Warning, "data: allows scripts"},
		{"script-src 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'" + base, Warning, "same on every response"},
		{"script-src 'none' 'self'" + base, Warning, "'none' is ignored"},
		{"default-src 'self'", Warning, "object-src: missing"},
		{"default-src 'self'", Warning, "hint: add base-uri 'self'"},
		{"default-src 'self'; default-src *" + base, Warning, "given more than once"},
		{"block-all-mixed-content" + base, Warning, "deprecated"},
	} {
		p, err := Parse(tc.policy)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.policy, err)
			continue
		}
		found := false
		var all []string
		for _, f := range Check(p) {
			all = append(all, f.Severity.String()+" "+show(f))
			if f.Severity == tc.sev && strings.Contains(show(f), tc.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("Check(%q): no %v containing %q; got %q", tc.policy, tc.sev, tc.want, all)
		}
	}
}

func TestCheck_GoodPoliciesHaveNoErrors(t *testing.T) {
	for _, s := range []string{
		"default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'; form-action 'self'",
		"default-src 'none'; script-src 'strict-dynamic' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; base-uri 'none'; report-to csp",
		"img-src 'self' data: https://*.example.com:443/img/ blob:; object-src 'none'; base-uri 'self'; sandbox allow-scripts allow-forms; upgrade-insecure-requests; frame-ancestors https://partner.example 'self'",
	} {
		p, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range Check(p) {
			if f.Severity == Error {
				t.Errorf("Check(%q): unexpected error %v", s, f)
			}
		}
	}
}

// FuzzParse: Parse never panics, what it accepts serializes to a value it
// parses back identically, and Check never panics on it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"default-src 'self'; script-src 'self' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'",
		"img-src * data: https://*.a.b:8443/x; sandbox allow-scripts; upgrade-insecure-requests",
		"script-src 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' self",
		";;;", "a", "frame-ancestors 'none'", "report-uri /r; report-to g",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		out := p.String()
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(String()) failed: %v (in %q, out %q)", err, s, out)
		}
		if q.String() != out {
			t.Fatalf("round trip changed: %q -> %q", out, q.String())
		}
		for _, fd := range Check(p) {
			if fd.Message == "" {
				t.Fatalf("Check(%q): a finding without a message: %+v", s, fd)
			}
			if fd.Directive != "" && !p.Has(fd.Directive) && fd.Directive != "object-src" && fd.Directive != "base-uri" {
				t.Fatalf("Check(%q): a finding on a directive the policy lacks: %+v", s, fd)
			}
		}
	})
}

// TestLex_ReadsWhatParseRefuses: a policy a server sent is read as a
// browser splits it, so an audit can judge it: a repeated directive is
// kept (a browser uses the first), a name Parse would refuse is kept, and
// control characters stay inside the value they are in.
func TestLex_ReadsWhatParseRefuses(t *testing.T) {
	p := Lex(" Script-Src 'self' ; script-src *;; default_src x\r\n y;\x00z ")
	want := []Directive{
		{Name: "script-src", Values: []string{"'self'"}},
		{Name: "script-src", Values: []string{"*"}},
		{Name: "default_src", Values: []string{"x", "y"}},
		{Name: "\x00z"},
	}
	if !p.Equal(Policy{Directives: want}) {
		t.Fatalf("Lex = %#v, want %#v", p.Directives, want)
	}
	if v, _ := p.Get("script-src"); len(v) != 1 || v[0] != "'self'" {
		t.Errorf("Get uses %q, not the first script-src as browsers do", v)
	}
}

func TestPolicies_SplitsAList(t *testing.T) {
	var got []string
	for p := range Policies("default-src 'self', script-src *,,") {
		got = append(got, p)
	}
	if want := []string{"default-src 'self'", " script-src *", "", ""}; !slices.Equal(got, want) {
		t.Errorf("Policies = %q, want %q", got, want)
	}
}

// FuzzLex: Lex reads any bytes (header values come from the audited
// server: untrusted, possibly hostile) without panicking; names are
// lower-case and non-empty, no name or value holds white space or ';',
// what it returns reads back the same, and it agrees with Parse on every
// policy Parse accepts.
func FuzzLex(f *testing.F) {
	for _, s := range []string{
		"default-src 'self'; script-src 'self' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'",
		"script-src a; SCRIPT-SRC b;;", "\x00;\r\n\t;,", "a\u00a0b\u2028c", "\xff\xfe; \xc0\xaf",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Lex(s)
		for _, d := range p.Directives {
			if d.Name == "" || d.Name != strings.ToLower(d.Name) {
				t.Fatalf("Lex(%q): bad name %q", s, d.Name)
			}
			for _, tok := range append([]string{d.Name}, d.Values...) {
				if tok == "" || strings.ContainsRune(tok, ';') || len(strings.Fields(tok)) != 1 {
					t.Fatalf("Lex(%q): token %q not a single field", s, tok)
				}
			}
		}
		if q := Lex(p.String()); !q.Equal(p) {
			t.Fatalf("Lex(%q) does not read back: %#v then %#v", s, p.Directives, q.Directives)
		}
		if strict, err := Parse(s); err == nil && !strict.Equal(p) {
			t.Fatalf("Lex and Parse disagree on %q: %#v vs %#v", s, p.Directives, strict.Directives)
		}
	})
}
