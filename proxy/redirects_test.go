package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

func TestRewriteURL(t *testing.T) {
	tests := []struct {
		upstream, in, want string // want "" means unchanged
	}{
		// The upstream's own origin, in every spelling a browser accepts.
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000/x?a=1#f", "https://app.example/x?a=1#f"},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000", "https://app.example"},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000?q", "https://app.example?q"},
		{"http://127.0.0.1:5000", "HTTP://127.0.0.1:5000/X", "https://app.example/X"},
		{"http://127.0.0.1:5000", "http://127.0.0.1:05000/x", "https://app.example/x"},
		{"http://127.0.0.1:5000", "https://127.0.0.1:5000/x", "https://app.example/x"}, // told X-Forwarded-Proto: https
		{"http://127.0.0.1:5000", "//127.0.0.1:5000/x", "https://app.example/x"},
		{"http://127.0.0.1:5000", `\\127.0.0.1:5000/x`, "https://app.example/x"},
		{"http://127.0.0.1:5000", `/\127.0.0.1:5000/x`, "https://app.example/x"},
		{"http://127.0.0.1:5000", `http:\\127.0.0.1:5000\x`, `https://app.example\x`},
		{"http://127.0.0.1:5000", "http:///127.0.0.1:5000/x", "https://app.example/x"},
		{"http://127.0.0.1:5000", " http://127.0.0.1:5000/x", "https://app.example/x"},
		{"http://127.0.0.1:5000", "http://user:pw@127.0.0.1:5000/x", "https://app.example/x"},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000//evil.example/x", "https://app.example//evil.example/x"},
		{"http://127.0.0.1:5000", "http://%31%32%37.0.0.1:5000/x", "https://app.example/x"},
		{"http://App.Internal:8000", "http://APP.INTERNAL:8000/x", "https://app.example/x"},
		{"http://127.0.0.1", "http://127.0.0.1:80/x", "https://app.example/x"},
		{"http://127.0.0.1", "http://127.0.0.1/x", "https://app.example/x"},
		{"http://127.0.0.1", "https://127.0.0.1/x", "https://app.example/x"},
		{"https://127.0.0.1", "https://127.0.0.1:443/x", "https://app.example/x"},
		{"http://[::1]:5000", "http://[::1]:5000/x", "https://app.example/x"},
		// The upstream's path is the proxy's to add back.
		{"http://127.0.0.1:5000/app/", "http://127.0.0.1:5000/app/x?q", "https://app.example/x?q"},
		{"http://127.0.0.1:5000/app", "http://127.0.0.1:5000/app", "https://app.example/"},
		{"http://127.0.0.1:5000/app", "http://127.0.0.1:5000/app#f", "https://app.example/#f"},
		{"http://127.0.0.1:5000/app", "http://127.0.0.1:5000/application", "https://app.example/application"},
		// Everything else is left alone.
		{"http://127.0.0.1:5000", "/x", ""},
		{"http://127.0.0.1:5000", "x/y", ""},
		{"http://127.0.0.1:5000", "?a=1", ""},
		{"http://127.0.0.1:5000", "#f", ""},
		{"http://127.0.0.1:5000", "", ""},
		{"http://127.0.0.1:5000", "http://evil.example/x", ""},
		{"http://127.0.0.1:5000", "https://app.example/x", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.2:5000/x", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5001/x", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1/x", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000@evil.example/", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000:@evil.example/", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000.evil.example/", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1.evil.example:5000/", ""},
		{"http://127.0.0.1:5000", "//evil.example/127.0.0.1:5000", ""},
		{"http://127.0.0.1:5000", "ftp://127.0.0.1:5000/x", ""},
		{"http://127.0.0.1:5000", "javascript://127.0.0.1:5000/%0aalert(1)", ""},
		{"http://127.0.0.1:5000", "http:127.0.0.1:5000/x", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1:99999/x", ""},
		{"http://127.0.0.1:5000", "http://127.0.0.1%zz:5000/x", ""},
		{"http://127.0.0.1", "https://127.0.0.1:443/x", ""},
		{"http://[::1]:5000", "http://[::1]/x", ""},
		{"http://[::1]:5000", "http://[::1]x:5000/x", ""},
	}
	for _, tc := range tests {
		rr := newRedirectRewriter(mustURL(t, tc.upstream))
		got, ok := rr.rewriteURL(tc.in, true, "app.example")
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got != want || ok != (tc.want != "") {
			t.Errorf("upstream %s: %q → %q (%v), want %q", tc.upstream, tc.in, got, ok, want)
		}
	}
}

// The public origin follows the client's connection and Host; a request
// without Host gets a path that stays on whatever origin the client used,
// never a scheme-relative "//host".
func TestRewriteURL_PublicOrigin(t *testing.T) {
	rr := newRedirectRewriter(mustURL(t, "http://127.0.0.1:5000"))
	for _, tc := range []struct {
		tls      bool
		host, in string
		want     string
	}{
		{false, "app.example:8080", "http://127.0.0.1:5000/x", "http://app.example:8080/x"},
		{true, "app.example", "http://127.0.0.1:5000/x", "https://app.example/x"},
		{false, "", "http://127.0.0.1:5000/x", "/x"},
		{false, "", "http://127.0.0.1:5000", "/"},
		{false, "", "http://127.0.0.1:5000//evil.example/x", "/evil.example/x"},
		{false, "", `http://127.0.0.1:5000/\evil.example/x`, "/evil.example/x"},
	} {
		if got, _ := rr.rewriteURL(tc.in, tc.tls, tc.host); got != tc.want {
			t.Errorf("tls=%v host=%q: %q → %q, want %q", tc.tls, tc.host, tc.in, got, tc.want)
		}
	}
}

func TestRewriteRefresh(t *testing.T) {
	rr := newRedirectRewriter(mustURL(t, "http://127.0.0.1:5000"))
	tests := []struct{ in, want string }{
		{"5; url=http://127.0.0.1:5000/x", "5; url=https://app.example/x"},
		{"5;URL=http://127.0.0.1:5000/x", "5;URL=https://app.example/x"},
		{"0, url = 'http://127.0.0.1:5000/x' ignored", "0, url = 'https://app.example/x' ignored"},
		{`0; Url="http://127.0.0.1:5000/x"`, `0; Url="https://app.example/x"`},
		{"3; http://127.0.0.1:5000/x", "3; https://app.example/x"},
		{"3 http://127.0.0.1:5000/x", "3 https://app.example/x"},
		{".5;url=//127.0.0.1:5000/x", ".5;url=https://app.example/x"},
		{"  1.5 ;  url=http://127.0.0.1:5000/x", "  1.5 ;  url=https://app.example/x"},
		{"0; url=/relative", ""},
		{"0; url=http://evil.example/", ""},
		{"5", ""},
		{"5;", ""},
		{"url=http://127.0.0.1:5000/x", ""}, // no delay: browsers ignore it
		{"5x; url=http://127.0.0.1:5000/x", ""},
		{"0; url='", ""},
	}
	for _, tc := range tests {
		got, ok := rr.rewriteRefresh(tc.in, true, "app.example")
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got != want || ok != (tc.want != "") {
			t.Errorf("Refresh %q → %q (%v), want %q", tc.in, got, ok, want)
		}
	}
}

// FuzzRewriteURL: a rewritten URL is the public origin followed by a
// suffix of the input (nothing of the upstream's authority survives, and
// the result can only name the public host); an unchanged one is returned
// as is; and on the URLs net/url parses the way browsers do, the decision
// is the one the standard parser's host and port give.
func FuzzRewriteURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:5000/x", "//127.0.0.1:5000", `\\127.0.0.1:5000`, "http://127.0.0.1:5000@evil.example/",
		"HTTPS://127.0.0.1:5000?x#y", "/x", "http://[::1]:5000/", "http://127.0.0.1:05000", "5; url=http://127.0.0.1:5000/",
	} {
		f.Add(s)
	}
	rr := newRedirectRewriter(mustURL(f, "http://127.0.0.1:5000"))
	const public = "https://app.example"
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := rr.rewriteURL(in, true, "app.example")
		if !ok {
			if got != in {
				t.Fatalf("%q changed to %q without a rewrite", in, got)
			}
		} else {
			rest, found := strings.CutPrefix(got, public)
			if !found || !strings.HasSuffix(in, rest) {
				t.Fatalf("%q → %q: not the public origin plus a suffix of the input", in, got)
			}
			if rest != "" && rest[0] != '/' && rest[0] != '\\' && rest[0] != '?' && rest[0] != '#' {
				t.Fatalf("%q → %q: the suffix extends the public host", in, got)
			}
			if !strings.Contains(strings.ToLower(in), "127.0.0.1") {
				t.Fatalf("%q rewritten without naming the upstream", in)
			}
		}
		if r, ok2 := rr.rewriteRefresh(in, true, "app.example"); !ok2 && r != in {
			t.Fatalf("Refresh %q changed to %q without a rewrite", in, r)
		}
		// Oracle on the plain subset: ASCII printable, no backslash, a
		// scheme followed by exactly "//" or a scheme-relative "//".
		if strings.ContainsAny(in, "\\ ") || strings.HasPrefix(in, "///") || strings.Contains(in, ":///") {
			return
		}
		for i := 0; i < len(in); i++ {
			if in[i] < 0x21 || in[i] > 0x7e {
				return
			}
		}
		u, err := url.Parse(in)
		if err != nil || u.Opaque != "" || u.Host == "" || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
			return
		}
		if u.Scheme == "" && !strings.HasPrefix(in, "//") {
			return
		}
		port, want := u.Port(), false
		if strings.EqualFold(u.Hostname(), "127.0.0.1") {
			n, isNum := portNumber(port)
			want = isNum && n == 5000
		}
		if ok != want {
			t.Fatalf("%q: rewritten %v, net/url reads host %q port %q", in, ok, u.Hostname(), port)
		}
	})
}

// redirectingUpstream answers every request with a redirect (and, for
// /created, a 201) whose URL headers name the upstream's own origin, the
// way an application that builds absolute URLs from the Host it received
// or from its configured base URL does. /hints sends a 103 Early Hints
// with a Location first.
func redirectingUpstream(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	var self string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/hints":
			h.Set("Location", self+"/early")
			w.WriteHeader(http.StatusEarlyHints)
			h.Del("Location")
			h.Set("Location", self+"/after-hints")
			w.WriteHeader(http.StatusFound)
		case "/created":
			h.Set("Location", self+"/items/7")
			h.Set("Content-Location", self+"/items/7?v=1")
			w.WriteHeader(http.StatusCreated)
		case "/refresh":
			h.Set("Refresh", "0; url="+self+"/next")
			io.WriteString(w, "moved")
		case "/elsewhere":
			h.Set("Location", "https://sso.example/login?next="+url.QueryEscape(self+"/x"))
			w.WriteHeader(http.StatusFound)
		case "/relative":
			h.Set("Location", "/login?next=%2Fx")
			w.WriteHeader(http.StatusFound)
		default:
			h.Set("Location", self+"/login?next=%2Fx#top")
			w.WriteHeader(http.StatusFound)
		}
	}))
	t.Cleanup(up.Close)
	self = up.URL // http://127.0.0.1:PORT
	return up, self
}

// TestProxy_UpstreamRedirectLeak: redirects an application sends to its
// own address (http://127.0.0.1:PORT/login) reach the client pointing at
// the origin the client used, whether rampart sends the application the
// client's Host or the upstream's, over TLS or not, on 3xx, 201 and 1xx
// responses and in Refresh and Content-Location; URLs naming another
// origin and relative ones are untouched.
func TestProxy_UpstreamRedirectLeak(t *testing.T) {
	up, self := redirectingUpstream(t)
	for _, preserveHost := range []bool{true, false} {
		for _, tls := range []bool{true, false} {
			p, _, _ := testProxy(t, up.URL, Options{SendUpstreamHost: !preserveHost})
			fe := front(t, p)
			origin := "http://app.example"
			if tls {
				fe = newTLSFront(t, p)
				origin = "https://app.example"
			}
			c := noRedirects(fe.Client())
			get := func(path string, trace *httptrace.ClientTrace) *http.Response {
				t.Helper()
				req := newRequest(t, "GET", fe.URL+path, nil)
				req.Host = "app.example"
				if trace != nil {
					req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res
			}
			name := func(what string) string {
				return what + map[bool]string{true: " (preserve_host", false: " (upstream Host"}[preserveHost] +
					map[bool]string{true: ", TLS)", false: ", plain)"}[tls]
			}
			check := func(what, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s: %q, want %q", name(what), got, want)
				}
				if strings.Contains(got, "127.0.0.1") {
					t.Errorf("%s: the upstream address reached the client: %q", name(what), got)
				}
			}
			res := get("/", nil)
			check("302 Location", res.Header.Get("Location"), origin+"/login?next=%2Fx#top")
			res = get("/created", nil)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("status %d", res.StatusCode)
			}
			check("201 Location", res.Header.Get("Location"), origin+"/items/7")
			check("201 Content-Location", res.Header.Get("Content-Location"), origin+"/items/7?v=1")
			check("Refresh", get("/refresh", nil).Header.Get("Refresh"), "0; url="+origin+"/next")
			var early string
			res = get("/hints", &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				if code == http.StatusEarlyHints {
					early = h.Get("Location")
				}
				return nil
			}})
			check("103 Location", early, origin+"/early")
			check("302 after 103", res.Header.Get("Location"), origin+"/after-hints")
			if got := get("/elsewhere", nil).Header.Get("Location"); got != "https://sso.example/login?next="+url.QueryEscape(self+"/x") {
				t.Errorf("%s: a URL naming another origin was changed: %q", name("other origin"), got)
			}
			if got := get("/relative", nil).Header.Get("Location"); got != "/login?next=%2Fx" {
				t.Errorf("%s: a relative URL was changed: %q", name("relative"), got)
			}
		}
	}
}

// TestProxy_InsecureNoRedirectRewrite: the off switch passes the
// application's URLs as sent, and is reported.
func TestProxy_InsecureNoRedirectRewrite(t *testing.T) {
	up, self := redirectingUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{InsecureNoRedirectRewrite: true})
	fe := front(t, p)
	res, err := noRedirects(fe.Client()).Get(fe.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Location"); got != self+"/login?next=%2Fx#top" {
		t.Errorf("Location = %q, want it as the application sent it", got)
	}
	if w := (&Options{InsecureNoRedirectRewrite: true}).Validate().Warnings(); len(w) != 1 || w[0].Path != "InsecureNoRedirectRewrite" {
		t.Errorf("warnings %q", w)
	}
}

// The rewrite happens in the ResponseWriter: it must cost nothing for a
// response without URL headers beyond three map lookups.
func TestRedirectRewriter_NoURLHeadersNoAllocation(t *testing.T) {
	rr := newRedirectRewriter(mustURL(t, "http://127.0.0.1:5000"))
	h := http.Header{"Content-Type": {"text/html"}, "Location": {"/relative"}}
	if n := testing.AllocsPerRun(100, func() { rr.rewriteHeaders(h, true, "app.example") }); n != 0 {
		t.Errorf("%v allocations per response", n)
	}
}
