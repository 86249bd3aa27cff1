package reqpath

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// canonicalCases hold the strict policy: each row is a path as a client
// sends it, and what rules match it as, or why it is refused.
var canonicalCases = []struct {
	name   string
	raw    string
	want   string
	reason Reason
}{
	{"root", "/", "/", 0},
	{"empty target of an absolute-form request", "", "/", 0},
	{"plain", "/api/users/42", "/api/users/42", 0},
	{"trailing slash kept", "/api/", "/api/", 0},
	{"dot file is not a dot segment", "/.well-known/security.txt", "/.well-known/security.txt", 0},
	{"dots inside a segment", "/a/..b/c../.../x.y", "/a/..b/c../.../x.y", 0},
	{"escaped letters decoded", "/%61pi/x", "/api/x", 0},
	{"escaped space", "/a%20b", "/a b", 0},
	{"UTF-8 decoded", "/caf%C3%A9", "/café", 0},
	{"escaped semicolon is data", "/a%3Bb", "/a;b", 0},
	{"repeated slashes merged", "//api///x", "/api/x", 0},
	{"repeated slashes at the end", "/api//", "/api/", 0},

	{"OPTIONS * has no path", "*", "", NotOrigin},
	{"relative", "api/x", "", NotOrigin},

	{"dot-dot", "/api/../admin", "", DotSegment},
	{"dot", "/api/./x", "", DotSegment},
	{"trailing dot-dot", "/api/..", "", DotSegment},
	{"encoded dot-dot", "/api/%2e%2e/admin", "", DotSegment},
	{"upper-case encoded dot-dot", "/api/%2E%2E/admin", "", DotSegment},
	{"half-encoded dot-dot", "/api/.%2e/admin", "", DotSegment},
	{"encoded dot", "/api/%2e/x", "", DotSegment},
	{"tomcat dot-dot-semicolon", "/api/..;/admin", "", DotSegment},
	{"tomcat dot-dot with parameter", "/api/..;x=1/admin", "", DotSegment},

	{"encoded slash dodging a prefix", "/api/..%2fx", "", DotSegment},
	{"encoded slash, upper case", "/api/..%2Fx", "", DotSegment},
	{"encoded slash", "/admin%2fembed/x", "", EncodedSlash},
	{"encoded slash alone", "/files/a%2Fb", "", EncodedSlash},
	{"backslash", "/api\\..\\admin", "", Backslash},
	{"backslash alone", "/a\\b", "", Backslash},
	{"encoded backslash", "/api/..%5cadmin", "", Backslash},
	{"encoded backslash, upper case", "/a%5Cb", "", Backslash},

	{"semicolon parameter", "/admin;x/", "", Semicolon},
	{"jsessionid", "/app;jsessionid=ABC/x", "", Semicolon},
	{"semicolon at the end", "/a/b;", "", Semicolon},

	{"encoded NUL", "/admin%00.html", "", Control},
	{"encoded newline", "/x%0a{\"status\":200}", "", Control},
	{"encoded CR", "/x%0d", "", Control},
	{"encoded DEL", "/x%7f", "", Control},

	{"double-encoded dot-dot", "/api/%252e%252e/admin", "", DoubleEncoding},
	{"double-encoded slash", "/api%252fadmin", "", DoubleEncoding},
	{"escape of an escape", "/a/%25%32%65", "", DoubleEncoding},

	{"overlong slash", "/api/%c0%af../admin", "", InvalidUTF8},
	{"overlong dot", "/%c0%ae%c0%ae/admin", "", InvalidUTF8},
	{"lone continuation byte", "/a%80", "", InvalidUTF8},
	{"truncated sequence", "/a%e2%82", "", InvalidUTF8},
	{"UTF-16 surrogate", "/a%ed%a0%80", "", InvalidUTF8},
	{"malformed escape", "/a%zz", "", InvalidUTF8},
	{"truncated escape", "/a%2", "", InvalidUTF8},
}

func TestCanonical(t *testing.T) {
	for _, tc := range canonicalCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(tc.raw)
			if tc.reason != 0 {
				if err == nil {
					t.Fatalf("Canonical(%q) = %q, want refusal %s", tc.raw, got, tc.reason)
				}
				if r := ReasonOf(err); r != tc.reason {
					t.Fatalf("Canonical(%q): reason %s, want %s", tc.raw, r, tc.reason)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Canonical(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
}

// TestCanonicalThroughNetHTTP sends each path as raw bytes on a real
// connection, so what is checked is what net/http hands a handler (its
// parser refuses some forms itself, and for those the 400 comes first).
func TestCanonicalThroughNetHTTP(t *testing.T) {
	type result struct {
		path string
		err  error
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Canonical(r.URL.EscapedPath())
		got <- result{c, err}
	}))
	defer srv.Close()
	for _, tc := range canonicalCases {
		if tc.raw == "" || tc.raw == "*" || tc.raw[0] != '/' {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			status := rawRequest(t, srv.Listener.Addr().String(), tc.raw)
			select {
			case res := <-got:
				if tc.reason != 0 {
					if res.err == nil || ReasonOf(res.err) != tc.reason {
						t.Fatalf("%q: got %q, %v; want refusal %s", tc.raw, res.path, res.err, tc.reason)
					}
					return
				}
				if res.err != nil || res.path != tc.want {
					t.Fatalf("%q: got %q, %v; want %q", tc.raw, res.path, res.err, tc.want)
				}
			default:
				// net/http refused it before any handler: fine for a
				// refused form, a bug for an accepted one.
				if tc.reason == 0 {
					t.Fatalf("%q: net/http answered %d before the handler", tc.raw, status)
				}
			}
		})
	}
}

func rawRequest(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestPlainPathDoesNotAllocate(t *testing.T) {
	p := "/api/v1/users/42/avatar.png"
	n := testing.AllocsPerRun(100, func() {
		if c, err := Canonical(p); err != nil || c != p {
			t.Fatal(c, err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations for a plain path, want 0", n)
	}
}

func TestPrefix(t *testing.T) {
	cases := []struct {
		prefix string
		path   string
		want   bool
	}{
		{"/api/", "/api/x", true},
		{"/api/", "/api", true},
		{"/api", "/api/", true},
		{"/api", "/api/x/y", true},
		{"/api", "/apiary", false},
		{"/api/", "/apiary/x", false},
		{"/api", "/ap", false},
		{"/api", "/API/x", true},
		{"/API", "/api/x", true},
		{"/Admin/", "/aDMIN", true},
		{"/k", "/\u212a", false}, // the Kelvin sign is not ASCII K
		{"/", "/anything", true},
		{"/", "/", true},
		{"/caf%C3%A9", "/café/x", true},
		{"/café", "/café", true},
		{"/a b", "/a b/c", true},
		{"/api/v1", "/api/v2", false},
	}
	for _, tc := range cases {
		p, err := ParsePrefix(tc.prefix)
		if err != nil {
			t.Fatalf("ParsePrefix(%q): %v", tc.prefix, err)
		}
		if got := p.Match(tc.path); got != tc.want {
			t.Errorf("Prefix(%q).Match(%q) = %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

func TestParsePrefixRefuses(t *testing.T) {
	for _, s := range []string{"", "api", "/api/../x", "/a%2Fb", "/a;b", "/a\\b", "/a?x", "/a#x", "/a%00", "*"} {
		if p, err := ParsePrefix(s); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", s, p)
		}
	}
}

func TestLongest(t *testing.T) {
	ps := []Prefix{MustParsePrefix("/"), MustParsePrefix("/api"), MustParsePrefix("/api/admin/"), MustParsePrefix("/apiary")}
	for path, want := range map[string]int{"/x": 0, "/api/x": 1, "/api/admin": 2, "/API/Admin/x": 2, "/apiary/x": 3} {
		if got := Longest(ps, path); got != want {
			t.Errorf("Longest(%q) = %d, want %d", path, got, want)
		}
	}
	if got := Longest(nil, "/x"); got != -1 {
		t.Errorf("Longest(nil) = %d", got)
	}
}

func TestRelaxations(t *testing.T) {
	p, err := New(Options{
		InsecureAllowEncodedSlashes: []string{"/api/v4/projects/"},
		InsecureAllowSemicolons:     []string{"/legacy"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		raw    string
		want   string
		reason Reason
	}{
		{"/api/v4/projects/group%2Fproject/issues", "/api/v4/projects/group/project/issues", 0},
		{"/API/v4/projects/a%2fb", "/API/v4/projects/a/b", 0},
		// The relaxation cannot be used to leave its prefix.
		{"/api/v4/projects/..%2f..%2fadmin", "", DotSegment},
		{"/api/v4/projects%2f..%2f..%2fadmin", "", DotSegment},
		// Nor does it apply outside.
		{"/api/v4/users/a%2Fb", "", EncodedSlash},
		{"/api/v4%2Fprojects/x", "", 0 /* decided below */},
		{"/legacy;jsessionid=1/x", "/legacy/x", 0},
		{"/legacy/x;v=2/y", "/legacy/x/y", 0},
		{"/legacy/..;/admin", "", DotSegment},
		{"/other;x/y", "", Semicolon},
		{"/legacy/a%2Fb", "", EncodedSlash},
	}
	for _, tc := range cases {
		got, err := p.Canonical(tc.raw)
		if tc.raw == "/api/v4%2Fprojects/x" {
			// Its strict reading is under the prefix: the same thing a
			// WSGI application routes on, so it is accepted as that.
			if err != nil || got != "/api/v4/projects/x" {
				t.Errorf("%q: %q, %v", tc.raw, got, err)
			}
			continue
		}
		if tc.reason != 0 {
			if ReasonOf(err) != tc.reason {
				t.Errorf("%q: got %q, %v; want %s", tc.raw, got, err, tc.reason)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	if _, err := New(Options{InsecureAllowEncodedSlashes: []string{"api", "/a/../b"}}); err == nil ||
		!strings.Contains(err.Error(), "InsecureAllowEncodedSlashes[0]") || !strings.Contains(err.Error(), "InsecureAllowEncodedSlashes[1]") {
		t.Errorf("bad prefixes: %v", err)
	}
	if w := (Options{InsecureAllowSemicolons: []string{"/x"}}).Validate(); len(w) != 1 || w.HasErrors() {
		t.Errorf("warnings: %v", w)
	}
}

func TestHandler(t *testing.T) {
	p, _ := New(Options{InsecureAllowEncodedSlashes: []string{"/files"}})
	var seen string
	h := p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := FromRequest(r)
		if err != nil {
			t.Errorf("FromRequest after the handler: %v", err)
		}
		seen = c
	}))
	for raw, want := range map[string]string{
		"/a/b":         "/a/b",
		"/a//b":        "/a/b",
		"/files/x%2Fy": "/files/x/y",
	} {
		seen = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, &http.Request{Method: "GET", URL: mustURL(t, raw), Header: http.Header{}})
		if rec.Code != 200 || seen != want {
			t.Errorf("%q: status %d, canonical %q; want 200, %q", raw, rec.Code, seen, want)
		}
	}
	for _, raw := range []string{"/x/..%2fy", "/a%2fb", "/a;b"} {
		seen = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, &http.Request{Method: "GET", URL: mustURL(t, raw), Header: http.Header{}})
		if rec.Code != http.StatusBadRequest || seen != "" {
			t.Errorf("%q: status %d, reached next: %v", raw, rec.Code, seen != "")
		}
		if strings.Contains(rec.Body.String(), "..") || strings.Contains(rec.Body.String(), "%2f") {
			t.Errorf("%q: the 400 page echoes the path: %s", raw, rec.Body)
		}
	}
}

func TestFromRequestWithoutHandlerIsStrict(t *testing.T) {
	r := &http.Request{URL: mustURL(t, "/x/..%2fadmin")}
	if _, err := FromRequest(r); ReasonOf(err) != DotSegment {
		t.Errorf("FromRequest without the handler: %v", err)
	}
	r = &http.Request{URL: mustURL(t, "/x//y")}
	if c, err := FromRequest(r); err != nil || c != "/x/y" {
		t.Errorf("FromRequest(/x//y) = %q, %v", c, err)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func FuzzCanonical(f *testing.F) {
	for _, tc := range canonicalCases {
		f.Add(tc.raw)
	}
	pol, err := New(Options{InsecureAllowEncodedSlashes: []string{"/f"}, InsecureAllowSemicolons: []string{"/s"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, c := range []func(string) (string, error){Canonical, pol.Canonical} {
			got, err := c(raw)
			if err != nil {
				if ReasonOf(err) == 0 {
					t.Fatalf("%q: error without a reason: %v", raw, err)
				}
				continue
			}
			// What is accepted is a clean, rooted, valid UTF-8 path
			// with no dot segment, no empty segment and nothing a
			// second decoding or another separator could change.
			if got == "" || got[0] != '/' {
				t.Fatalf("%q → %q: not rooted", raw, got)
			}
			if strings.Contains(got, "//") || strings.ContainsAny(got, "\\\x00\r\n") {
				t.Fatalf("%q → %q: empty segment or separator/control left", raw, got)
			}
			if hasDotSegment(got) {
				t.Fatalf("%q → %q: dot segment left", raw, got)
			}
			// Canonical is idempotent on its own output once escaped.
			again, err := c(escapeRaw(strings.ReplaceAll(got, "%", "%25")))
			if err != nil && ReasonOf(err) != DoubleEncoding && ReasonOf(err) != Semicolon {
				t.Fatalf("%q → %q → %v", raw, got, err)
			}
			if err == nil && again != got {
				t.Fatalf("%q → %q → %q: not idempotent", raw, got, again)
			}
		}
	})
}

// A rule on /api/ must hold for an application that ignores case (which
// serves /API/x as /api/x) without relaxing a route for one that does not
// (which serves /EMBED/x elsewhere): case variants of the prefixes are
// refused, unless the application is declared case-insensitive.
func TestCaseVariants(t *testing.T) {
	prefixes := []Prefix{MustParsePrefix("/api/"), MustParsePrefix("/embed"), MustParsePrefix("/Legacy")}
	strict, _ := New(Options{Prefixes: prefixes})
	folded, _ := New(Options{Prefixes: prefixes, CaseInsensitive: true})
	for _, tc := range []struct {
		path         string
		strict, fold string // "" means refused
	}{
		{"/api/x", "/api/x", "/api/x"},
		{"/API/x", "", "/api/x"},
		{"/Api", "", "/api"},
		{"/apiary/X", "/apiary/X", "/apiary/x"},
		{"/EMBED/x", "", "/embed/x"},
		{"/embed/X", "/embed/X", "/embed/x"},
		{"/Legacy/a", "/Legacy/a", "/legacy/a"},
		{"/legacy/a", "", "/legacy/a"},
		{"/Other/Page", "/Other/Page", "/other/page"},
	} {
		r := httptest.NewRequest("GET", "http://a"+tc.path, nil)
		got, err := strict.Check(r)
		if tc.strict == "" {
			if ReasonOf(err) != CaseVariant {
				t.Errorf("strict %q: %q, %v; want a case_variant refusal", tc.path, got, err)
			}
		} else if err != nil || got != tc.strict {
			t.Errorf("strict %q: %q, %v; want %q", tc.path, got, err, tc.strict)
		}
		if got, err := folded.Check(r); err != nil || got != tc.fold {
			t.Errorf("case-insensitive %q: %q, %v; want %q", tc.path, got, err, tc.fold)
		}
	}
}
