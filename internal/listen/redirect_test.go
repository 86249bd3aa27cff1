package listen

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func newTestRedirect(t testing.TB, port int, acme http.Handler) *Redirect {
	rd, err := NewRedirect(RedirectOptions{Hosts: []string{"app.example", "WWW.Example."}, HTTPSPort: port, ACMEChallenge: acme})
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// rawRequest sends raw bytes to a real server running h and returns the
// parsed response, so that request lines net/http's client would never
// produce (absolute-form, odd Host headers) reach the handler.
func rawRequest(t *testing.T, h http.Handler, raw string) *http.Response {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.DisableGeneralOptionsHandler = true // let "OPTIONS *" reach h
	srv.Start()
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestRedirect_ConfiguredHosts(t *testing.T) {
	rd := newTestRedirect(t, 0, nil)
	for _, tc := range []struct{ method, target, host, want string }{
		{"GET", "/", "app.example", "https://app.example/"},
		{"GET", "/a/b?x=1&y=%20", "APP.EXAMPLE:80", "https://app.example/a/b?x=1&y=%20"},
		{"HEAD", "/p", "www.example.", "https://www.example/p"},
		{"POST", "/form", "app.example", "https://app.example/form"},
		{"GET", "/caf%C3%A9", "app.example", "https://app.example/caf%C3%A9"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		rd.ServeHTTP(w, r)
		wantCode := 301
		if tc.method == "POST" {
			wantCode = 308
		}
		if w.Code != wantCode || w.Header().Get("Location") != tc.want {
			t.Errorf("%s %s Host=%s: %d %q, want %d %q", tc.method, tc.target, tc.host, w.Code, w.Header().Get("Location"), wantCode, tc.want)
		}
	}
}

func TestRedirect_NonStandardPort(t *testing.T) {
	rd := newTestRedirect(t, 8443, nil)
	r := httptest.NewRequest("GET", "/x", nil)
	r.Host = "app.example:8080"
	w := httptest.NewRecorder()
	rd.ServeHTTP(w, r)
	if got := w.Header().Get("Location"); got != "https://app.example:8443/x" {
		t.Errorf("Location = %q", got)
	}
	rd = newTestRedirect(t, 443, nil)
	w = httptest.NewRecorder()
	rd.ServeHTTP(w, r)
	if got := w.Header().Get("Location"); got != "https://app.example/x" {
		t.Errorf("Location = %q", got)
	}
}

// TestRedirect_Attacks sends each request through a real server, raw, and
// checks that the response either refuses it without reflecting attacker
// input or redirects to a configured host.
func TestRedirect_Attacks(t *testing.T) {
	rd := newTestRedirect(t, 0, nil)
	for _, tc := range []struct {
		name string
		raw  string
		code int    // expected status
		loc  string // expected Location for redirects
	}{
		{"HostHeaderInjection", "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421, ""},
		{"HostSuffixConfusion", "GET / HTTP/1.1\r\nHost: app.example.evil.example\r\n\r\n", 421, ""},
		{"HostPrefixConfusion", "GET / HTTP/1.1\r\nHost: evilapp.example\r\n\r\n", 421, ""},
		{"HostUserinfoTrick", "GET / HTTP/1.1\r\nHost: app.example@evil.example\r\n\r\n", 400, ""},
		{"HostMissingHTTP10", "GET / HTTP/1.0\r\n\r\n", 400, ""},
		{"HostIPLiteralNotConfigured", "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n", 421, ""},
		{"HostIPv6LiteralNotConfigured", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 421, ""},
		{"HostIPv6Unbracketed", "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400, ""},
		{"HostBadPort", "GET / HTTP/1.1\r\nHost: app.example:99999\r\n\r\n", 400, ""},
		{"HostBackslash", "GET / HTTP/1.1\r\nHost: app.example\\evil.example\r\n\r\n", 400, ""},
		{"AbsoluteFormOtherHost", "GET http://evil.example/ HTTP/1.1\r\nHost: app.example\r\n\r\n", 421, ""},
		{"AbsoluteFormConfiguredHost", "GET http://app.example/p?q HTTP/1.1\r\nHost: evil.example\r\n\r\n", 301, "https://app.example/p?q"},
		{"AbsoluteFormUserinfo", "GET http://app.example@evil.example/ HTTP/1.1\r\nHost: app.example\r\n\r\n", 421, ""},
		{"AbsoluteFormUserinfoReversed", "GET http://evil.example@app.example/ HTTP/1.1\r\nHost: app.example\r\n\r\n", 301, "https://app.example/"},
		{"ProtocolRelativePath", "GET //evil.example/x HTTP/1.1\r\nHost: app.example\r\n\r\n", 301, "https://app.example/evil.example/x"},
		{"BackslashPath", "GET /\\evil.example HTTP/1.1\r\nHost: app.example\r\n\r\n", 301, "https://app.example/%5Cevil.example"},
		{"EncodedCRLFInPath", "GET /%0d%0aSet-Cookie:x=1 HTTP/1.1\r\nHost: app.example\r\n\r\n", 301, "https://app.example/%0d%0aSet-Cookie:x=1"},
		{"EncodedCRLFInQuery", "GET /?a=%0d%0aLocation:%20http://evil.example HTTP/1.1\r\nHost: app.example\r\n\r\n", 301, "https://app.example/?a=%0d%0aLocation:%20http://evil.example"},
		{"FragmentInQuery", "GET /?a#@evil.example HTTP/1.1\r\nHost: app.example\r\n\r\n", 301, "https://app.example/?a%23@evil.example"},
		{"AsteriskForm", "OPTIONS * HTTP/1.1\r\nHost: app.example\r\n\r\n", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawRequest(t, rd, tc.raw)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d (Location %q)", resp.StatusCode, tc.code, resp.Header.Get("Location"))
			}
			if got := resp.Header.Get("Location"); got != tc.loc {
				t.Errorf("Location %q, want %q", got, tc.loc)
			}
			if strings.Contains(strings.ToLower(string(body)), "evil") {
				t.Errorf("response body reflects attacker input: %s", body)
			}
		})
	}
}

func TestRedirect_ACMEChallengeRouted(t *testing.T) {
	acme := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "token for "+r.Host) })
	rd := newTestRedirect(t, 0, acme)
	r := httptest.NewRequest("GET", "/.well-known/acme-challenge/abc", nil)
	r.Host = "APP.example:8080"
	w := httptest.NewRecorder()
	rd.ServeHTTP(w, r)
	// The ACME handler sees the normalised host (autocert compares it
	// verbatim with its whitelist).
	if w.Code != 200 || w.Body.String() != "token for app.example" {
		t.Errorf("challenge: %d %q", w.Code, w.Body)
	}
	// Unknown hosts do not reach the ACME handler either.
	r.Host = "evil.example"
	w = httptest.NewRecorder()
	rd.ServeHTTP(w, r)
	if w.Code != 421 {
		t.Errorf("challenge for unknown host: %d", w.Code)
	}
	// Without an ACME handler the path is just redirected.
	rd = newTestRedirect(t, 0, nil)
	r.Host = "app.example"
	w = httptest.NewRecorder()
	rd.ServeHTTP(w, r)
	if w.Code != 301 {
		t.Errorf("no ACME handler: %d", w.Code)
	}
}

func TestNewRedirect_EmptyHostsRefused(t *testing.T) {
	if _, err := NewRedirect(RedirectOptions{}); err == nil || !strings.HasPrefix(err.Error(), "hosts:") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewRedirect(RedirectOptions{Hosts: []string{"a.example/evil"}}); err == nil {
		t.Fatal("bad host accepted")
	}
	if _, err := NewRedirect(RedirectOptions{Hosts: []string{"a.example"}, HTTPSPort: 70000}); err == nil {
		t.Fatal("bad port accepted")
	}
}

// FuzzRedirectCheck: whatever the Host and request target, a redirect goes
// to https:// plus a configured host, and the Location holds no byte that
// could end a header or the authority.
func FuzzRedirectCheck(f *testing.F) {
	for _, s := range []string{"/", "//evil.example", "/\\evil.example", "/%0d%0a", "http://evil.example/", "/?#@x", "*"} {
		f.Add("app.example", s)
		f.Add("evil.example", s)
		f.Add("app.example@evil.example", s)
	}
	rd := newTestRedirect(f, 8443, nil)
	f.Fuzz(func(t *testing.T, host, target string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")))
		if err != nil {
			return
		}
		loc, err := rd.Check(r)
		if err != nil {
			return
		}
		rest, ok := strings.CutPrefix(loc, "https://app.example:8443/")
		if !ok {
			rest, ok = strings.CutPrefix(loc, "https://www.example:8443/")
		}
		if !ok {
			t.Fatalf("Location %q does not point at a configured host", loc)
		}
		if strings.HasPrefix(rest, "/") {
			t.Fatalf("Location %q has a network-path-looking path", loc)
		}
		for i := 0; i < len(loc); i++ {
			if c := loc[i]; c <= ' ' || c >= 0x7f || c == '\\' || c == '#' {
				t.Fatalf("Location %q holds byte %#x", loc, c)
			}
		}
	})
}

func BenchmarkRedirect(b *testing.B) {
	rd := newTestRedirect(b, 0, nil)
	r := httptest.NewRequest("GET", "/some/path?q=1", nil)
	r.Host = "app.example"
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.HeaderMap = http.Header{}
		rd.ServeHTTP(w, r)
	}
}

// A configured IP address is redirected like a name (the demo serves
// 127.0.0.1 and ::1); another one is refused, not reflected.
func TestRedirect_ConfiguredIPAddress(t *testing.T) {
	rd, err := NewRedirect(RedirectOptions{Hosts: []string{"app.example", "127.0.0.1", "::1"}, HTTPSPort: 8443})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		"127.0.0.1":      "https://127.0.0.1:8443/x?y",
		"127.0.0.1:8080": "https://127.0.0.1:8443/x?y",
		"[::1]:8080":     "https://[::1]:8443/x?y",
		"[0:0::1]":       "https://[::1]:8443/x?y",
		"127.0.0.2":      "",
		"[::2]":          "",
	} {
		r := httptest.NewRequest("GET", "/x?y", nil)
		r.Host = host
		w := httptest.NewRecorder()
		rd.ServeHTTP(w, r)
		if got := w.Header().Get("Location"); got != want || (want == "") != (w.Code == 421) {
			t.Errorf("Host %q: %d %q, want %q", host, w.Code, got, want)
		}
	}
}

// FuzzRequestHost: whatever the Host header, an accepted host is a
// lower-case DNS name, or an IP address in URL form, with no port,
// userinfo or other delimiter.
func FuzzRequestHost(f *testing.F) {
	for _, s := range []string{"app.example", "APP.example:8080", "a@b", "[::1]:80", "x:", ":80", "a..b", "a.b.", "192.0.2.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hostport string) {
		h, ok := requestHost(hostport)
		if !ok {
			return
		}
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			if h != hostOf(a) || a.Zone() != "" {
				t.Fatalf("requestHost(%q) = %q", hostport, h)
			}
			return
		}
		if h == "" || strings.ToLower(h) != h || strings.ContainsAny(h, ":@/\\[]% \t\r\n?#") || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
			t.Fatalf("requestHost(%q) = %q", hostport, h)
		}
	})
}

func BenchmarkRedirectCheck(b *testing.B) {
	rd := newTestRedirect(b, 0, nil)
	r := httptest.NewRequest("GET", "/some/path?q=1", nil)
	r.Host = "App.Example:80"
	b.ReportAllocs()
	for b.Loop() {
		rd.Check(r)
	}
}
