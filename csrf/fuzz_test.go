package csrf

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/reqpath"
)

// FuzzCheck sends Check hostile Origin, Sec-Fetch-Site, Host, path, token
// header and cookie values, and holds what a pass must mean: a foreign
// Sec-Fetch-Site only from a trusted origin, an Origin naming the Host (over
// https on TLS) or trusted, and under a token prefix with a session the
// session's own token in both places; all unless the path is bypassed.
func FuzzCheck(f *testing.F) {
	const trusted = "https://app.example.com"
	p, err := New(Options{
		TrustedOrigins:         []string{trusted},
		InsecureBypassPrefixes: []string{"/hooks"},
		TokenPrefixes:          []string{"/api", "/hooks/strict"},
		Secret:                 secret,
		SessionID:              sidFromHeader,
	})
	if err != nil {
		f.Fatal(err)
	}
	good := p.TokenFor("s1")
	for _, s := range [][]string{
		{"/api/x", "", "", "a.example", "", "", ""},
		{"/api/x", "same-origin", "https://a.example", "a.example", "s1", good, good},
		{"/api/x", "cross-site", trusted, "a.example", "s1", good, good},
		{"/hooks/../api", "cross-site", "null", "a.example", "s1", "", ""},
		{"/hooks/strict/x", "same-site", "https://b.a.example", "a.example", "s1", good, "x; " + good},
		{"/x", "", "http://a.example:8443", "a.example:8443", "", "", ""},
		{"/x", "", "https://a.example:8443", "a.example", "", "", ""},
		{"/x", "", "https://[::1]:8443", "[::1]:8443", "", "", ""},
		{"/x", "", "https://user@a.example", "a.example", "", "", ""},
		{"/x", "", "//a.example", "a.example", "", "", ""},
		{"/API/x", "", "", "", "s2", good, good},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], true)
	}
	f.Fuzz(func(t *testing.T, path, fetchSite, origin, host, sid, header, cookie string, overTLS bool) {
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		r := &http.Request{Method: "POST", URL: u, Host: host, Header: http.Header{}}
		if overTLS {
			r.TLS = &tls.ConnectionState{}
		}
		set := func(k, v string) {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		set("Sec-Fetch-Site", fetchSite)
		set("Origin", origin)
		set("X-Test-Session", sid)
		set("X-Csrf-Token", header)
		set("Cookie", "__Host-rampart-csrf="+cookie)

		err = p.Check(r)
		if err != nil {
			if ReasonOf(err) == 0 {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		canon, perr := reqpath.FromRequest(r)
		under := func(s string) bool { return perr == nil && reqpath.MustParsePrefix(s).Match(canon) }
		if under("/hooks") && !under("/hooks/strict") {
			return // bypassed
		}
		if o := r.Header.Get("Origin"); o != trusted {
			switch fs := r.Header.Get("Sec-Fetch-Site"); fs {
			case "", "same-origin", "none":
				if fs == "" && o != "" {
					ou, err := url.Parse(o)
					if err != nil || ou.Host != host {
						t.Fatalf("Origin %q passed for Host %q", o, host)
					}
					if overTLS && ou.Scheme != "https" {
						t.Fatalf("Origin %q passed over TLS", o)
					}
				}
			default:
				t.Fatalf("Sec-Fetch-Site %q passed from %q", fs, o)
			}
		}
		if s := r.Header.Get("X-Test-Session"); s != "" && (perr != nil || under("/api") || under("/hooks/strict")) {
			want := p.TokenFor(s)
			if r.Header.Get("X-Csrf-Token") != want {
				t.Fatalf("session %q passed with header token %q", s, header)
			}
			ok := false
			for _, c := range r.CookiesNamed("__Host-rampart-csrf") {
				ok = ok || c.Value == want
			}
			if !ok {
				t.Fatalf("session %q passed without its cookie (%q)", s, cookie)
			}
		}
	})
}

// FuzzParseOrigin holds that an accepted trusted origin is exactly what a
// browser sends (so it can match), and that it then passes a cross-site
// request from itself and nothing else.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com", "https://app.example.com:8443", "http://localhost:3000", "https://[::1]:8443",
		"null", "https://a.example/", "HTTPS://a.example", "https://a.example:443", "https://127.000.0.1",
		"https://[0::1]", "https://a.example.", "https://xn--bcher-kva.example", "https://a.example:0", "https://1.2.3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, err := parseOrigin(s)
		if err != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme+"://"+u.Host != s || u.Hostname() != host || host == "" {
			t.Fatalf("%q accepted but is not scheme://host[:port] (%v)", s, err)
		}
		if rest := s[len(u.Scheme)+3:]; strings.ToLower(s) != s || strings.ContainsAny(rest, "/\\?#@%* \t\r\n") {
			t.Fatalf("%q accepted with upper case or a path", s)
		}
		p, err := New(Options{TrustedOrigins: []string{s}})
		if err != nil {
			t.Fatalf("%q: parseOrigin accepts, New refuses: %v", s, err)
		}
		r := &http.Request{Method: "POST", URL: &url.URL{Path: "/"}, Host: "rampart.test", Header: http.Header{
			"Sec-Fetch-Site": {"cross-site"}, "Origin": {s},
		}}
		if err := p.Check(r); err != nil {
			t.Fatalf("trusted %q refused: %v", s, err)
		}
		r.Header["Origin"] = []string{s + "x"}
		if p.Check(r) == nil {
			t.Fatalf("trusting %q let %q in", s, s+"x")
		}
	})
}
