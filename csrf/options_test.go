package csrf

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/field"
)

var secret = bytes.Repeat([]byte("k"), 32)

func sidFromHeader(r *http.Request) string { return r.Header.Get("X-Test-Session") }

func TestNew_ZeroValueChecksOriginsOnly(t *testing.T) {
	if errs := (Options{}).Validate(); len(errs) != 0 {
		t.Fatalf("zero Options: %v", errs)
	}
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.cookieName() != "__Host-rampart-csrf" || p.headerName() != "X-CSRF-Token" {
		t.Errorf("defaults: cookie %q header %q", p.cookieName(), p.headerName())
	}
	if p.Token(&http.Request{}) != "" {
		t.Error("a token without a secret")
	}
	// The zero Protection is New(Options{}).
	r := httptest.NewRequest("POST", "https://app.example.com/x", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	for _, p := range []*Protection{p, {}} {
		if err := p.Check(r); ReasonOf(err) != CrossSite {
			t.Errorf("cross-site POST: %v", err)
		}
	}
}

func TestValidate_ErrorsNameGoFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		path string
		msg  string
	}{
		{"origin with path", Options{TrustedOrigins: []string{"https://a.example", "https://b.example/"}}, "TrustedOrigins[1]", "path"},
		{"origin null", Options{TrustedOrigins: []string{"null"}}, "TrustedOrigins[0]", "cannot be trusted"},
		{"origin wildcard", Options{TrustedOrigins: []string{"https://*.example.com"}}, "TrustedOrigins[0]", "wildcards"},
		{"origin upper case", Options{TrustedOrigins: []string{"https://App.example.com"}}, "TrustedOrigins[0]", "lower-case"},
		{"origin default port", Options{TrustedOrigins: []string{"https://a.example:443"}}, "TrustedOrigins[0]", "default port"},
		{"origin no scheme", Options{TrustedOrigins: []string{"a.example.com"}}, "TrustedOrigins[0]", "scheme"},
		{"bad bypass", Options{InsecureBypassPrefixes: []string{"hooks"}}, "InsecureBypassPrefixes[0]", "absolute path"},
		{"bad token prefix", Options{TokenPrefixes: []string{"/api/../x"}, Secret: secret, SessionID: sidFromHeader}, "TokenPrefixes[0]", "not a plain path"},
		{"prefix in both lists", Options{InsecureBypassPrefixes: []string{"/api/"}, TokenPrefixes: []string{"/API"}, Secret: secret, SessionID: sidFromHeader}, "TokenPrefixes[0]", "also in InsecureBypassPrefixes"},
		{"token without secret", Options{TokenPrefixes: []string{"/api/"}, SessionID: sidFromHeader}, "Secret", "required"},
		{"short secret", Options{Secret: []byte("short")}, "Secret", "5 bytes"},
		{"token without session", Options{TokenPrefixes: []string{"/api/"}, Secret: secret}, "SessionID", "required"},
		{"bad cookie name", Options{CookieName: "a b"}, "CookieName", "not a valid cookie name"},
		{"safelisted header", Options{HeaderName: "content-type"}, "HeaderName", "cross-site pages may send"},
		{"forbidden header", Options{HeaderName: "Sec-CSRF"}, "HeaderName", "forbid scripts"},
		{"bad header", Options{HeaderName: "X CSRF"}, "HeaderName", "not a valid header name"},
	} {
		errs := tc.o.Validate()
		var found bool
		for _, e := range errs {
			if !e.Warning && e.Path == tc.path && strings.Contains(e.Message, tc.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want an error at %s containing %q, got %v", tc.name, tc.path, tc.msg, errs)
		}
		// New refuses with the same findings, by field.
		_, err := New(tc.o)
		var fe field.Errors
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.path+": ") {
			t.Errorf("%s: New = %v, want the Validate errors", tc.name, err)
		}
	}
}

func TestValidate_SecretNeverInFindings(t *testing.T) {
	s := []byte("hunter2-but-short")
	for _, e := range (Options{Secret: s}).Validate() {
		if strings.Contains(e.Error(), string(s)) {
			t.Errorf("finding shows the secret: %v", e)
		}
	}
}

func TestValidate_Warnings(t *testing.T) {
	o := Options{
		TrustedOrigins:         []string{"http://app.example.com", "http://localhost:3000", "https://app.example.com"},
		InsecureBypassPrefixes: []string{"/oauth/callback", "/"},
		CookieName:             "csrf_token",
	}
	errs := o.Validate()
	if errs.HasErrors() {
		t.Fatalf("errors: %v", errs)
	}
	want := map[string]string{
		"TrustedOrigins[0]":         "plain http",
		"InsecureBypassPrefixes[0]": `paths under "/oauth/callback"`,
		"InsecureBypassPrefixes[1]": "every path",
		"CookieName":                "no __Host- prefix",
	}
	got := map[string]string{}
	for _, w := range errs.Warnings() {
		got[w.Path] = w.Message
	}
	for path, msg := range want {
		if !strings.Contains(got[path], msg) {
			t.Errorf("warning at %s = %q, want it to mention %q", path, got[path], msg)
		}
	}
	if len(got) != len(want) {
		t.Errorf("warnings %v, want exactly %v (a loopback http origin is not one)", got, want)
	}
	if _, err := New(o); err != nil {
		t.Errorf("warnings refused by New: %v", err)
	}
}

func TestParseOrigin(t *testing.T) {
	for _, s := range []string{
		"https://app.example.com", "https://app.example.com:8443", "http://localhost:3000",
		"https://[::1]:8443", "https://127.0.0.1:8443", "https://xn--bcher-kva.example",
	} {
		if _, err := parseOrigin(s); err != nil {
			t.Errorf("parseOrigin(%q): %v", s, err)
		}
	}
	for _, s := range []string{
		"", "null", "https://", "https:app.example.com", "ftp://a.example", "https://user@a.example",
		"https://a.example/", "https://a.example?x", "https://a.example#x", "https://a.example:",
		"https://a.example:0443", "https://a.example:65536", "http://a.example:80", "https://bücher.example",
		"https://[0:0::1]", "https://[::1%25eth0]", "https://127.000.0.1", "https://1.2.3", "https://a.example/..",
		" https://a.example", "https://a.example\n",
	} {
		if h, err := parseOrigin(s); err == nil {
			t.Errorf("parseOrigin(%q) accepted (host %q)", s, h)
		}
	}
}
