package csrf

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCheck is the cost Check adds to a request: a GET (never
// checked), a same-origin POST, a cross-site POST refused, and a POST
// with the double-submit token.
func BenchmarkCheck(b *testing.B) {
	p, err := New(Options{
		TrustedOrigins:         []string{"https://app.example.com"},
		InsecureBypassPrefixes: []string{"/hooks/"},
		TokenPrefixes:          []string{"/api/"},
		Secret:                 secret,
		SessionID:              sidFromHeader,
	})
	if err != nil {
		b.Fatal(err)
	}
	tok := p.TokenFor("s-1")
	req := func(method, path string, h map[string]string) *http.Request {
		r := httptest.NewRequest(method, "https://a.example"+path, nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	for _, c := range []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"get", req("GET", "/x", map[string]string{"Sec-Fetch-Site": "cross-site"}), true},
		{"post_same_origin", req("POST", "/x", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://a.example"}), true},
		{"post_origin_only", req("POST", "/x", map[string]string{"Origin": "https://a.example"}), true},
		{"post_cross_site", req("POST", "/x", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}), false},
		{"post_token", req("POST", "/api/x", map[string]string{"Sec-Fetch-Site": "same-origin", "X-Test-Session": "s-1",
			"X-CSRF-Token": tok, "Cookie": "session=s-1; __Host-rampart-csrf=" + tok}), true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Check(c.r); (err == nil) != c.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
