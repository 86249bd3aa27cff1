package check

import (
	"net/http"
	"strings"
	"testing"
)

// Header values come from the audited server: untrusted, possibly hostile.
// The parsers must not panic, and must keep their invariants.

func FuzzParseHSTS(f *testing.F) {
	for _, s := range []string{"max-age=63072000; includeSubDomains; preload", `max-age="1"`, "max-age=1, max-age=2", ";;", "max-age=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h, err := ParseHSTS(v)
		if err != nil {
			if h != (HSTS{}) {
				t.Fatalf("error with non-zero result %+v", h)
			}
			return
		}
		if h.MaxAge < 0 {
			t.Fatalf("negative max-age %d", h.MaxAge)
		}
		if strings.Contains(v, ",") {
			t.Fatalf("combined header accepted: %q", v)
		}
		hstsTest(http.Header{"Strict-Transport-Security": {v}}, true)
	})
}

func FuzzParseCSP(f *testing.F) {
	for _, s := range []string{
		"default-src 'self'; script-src 'nonce-x' 'strict-dynamic' https:; object-src 'none'",
		"default-src 'none', script-src 'self'", "script-src;;;", "report-uri /a; report-uri /b",
	} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, v, ro string) {
		ps, err := ParseCSP([]string{v})
		if err == nil {
			for _, p := range ps {
				if len(p.Order) != len(p.Directives) {
					t.Fatalf("order/directives mismatch: %+v", p)
				}
			}
		}
		var ros []string
		if ro != "" {
			ros = []string{ro}
		}
		h := http.Header{"Content-Security-Policy": {v}}
		o := observatoryCSP([]string{v}, ros, true)
		if _, ok := modifiers[o.result]; !ok {
			t.Fatalf("unknown result %q", o.result)
		}
		cspFindings(h, o)
		xfoTest(h, o)
	})
}

func FuzzSetCookie(f *testing.F) {
	for _, s := range []string{"__Host-s=1; Secure; HttpOnly; Path=/; SameSite=Lax", "a", "=", "sess=1;samesite", "csrf=1; SameSite=None"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, line string, hsts bool) {
		c, ok := ParseSetCookie(line)
		if ok && c.Name == "" {
			t.Fatal("ok with empty name")
		}
		r := observatoryCookies([]string{line}, hsts)
		if _, known := modifiers[r]; !known {
			t.Fatalf("unknown result %q", r)
		}
		for _, fd := range cookieFindings([]string{line}) {
			if fd.Fix == "" || fd.Category != CategoryCookies {
				t.Fatalf("malformed finding %+v", fd)
			}
		}
	})
}

func BenchmarkObservatoryCSP(b *testing.B) {
	v := []string{"default-src 'self'; script-src 'self' 'nonce-abc' 'strict-dynamic'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"}
	b.ReportAllocs()
	for b.Loop() {
		observatoryCSP(v, nil, true)
	}
}

func BenchmarkParseHSTS(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseHSTS("max-age=63072000; includeSubDomains; preload")
	}
}

func BenchmarkCookies(b *testing.B) {
	lines := []string{"__Host-session=abc; Secure; HttpOnly; Path=/; SameSite=Lax", "csrftoken=x; Secure; SameSite=Strict"}
	b.ReportAllocs()
	for b.Loop() {
		observatoryCookies(lines, true)
		cookieFindings(lines)
	}
}

func FuzzSRI(f *testing.F) {
	f.Add(`<script src="//a/b.js" integrity="x"></script><script src=/c.js>`)
	f.Add(`<script src="https://cdn.example.net/a.js"`)
	page := mustURL("https://example.com/")
	f.Fuzz(func(t *testing.T, body string) {
		tr, _ := sriTest("text/html", []byte(body), page)
		if _, ok := modifiers[tr.Result]; !ok {
			t.Fatalf("unknown result %q", tr.Result)
		}
	})
}
