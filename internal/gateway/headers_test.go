package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var securityHeaders = []string{
	"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
	"Referrer-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy",
	"X-Xss-Protection",
}

func assertSecurityHeadersOnce(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, name := range securityHeaders {
		if v := h.Values(name); len(v) != 1 {
			t.Errorf("%s: %s sent %d times: %q", what, name, len(v), v)
		}
	}
	if v := h.Get("X-Xss-Protection"); v != "0" {
		t.Errorf("%s: X-XSS-Protection = %q, want 0", what, v)
	}
}

// The seed sends every header twice (Talisman in the app, add_header in
// nginx). Here the application sends its own copies and the client still
// receives each header once, with rampart's value.
func TestGateway_HeadersSentOnceDespiteUpstreamCopies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "ALLOWALL")
		w.Header().Set("X-XSS-Protection", "1; mode=block")
		w.Header().Set("Strict-Transport-Security", "max-age=60")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write([]byte("ok"))
	}))
	defer up.Close()
	h := start(t, up.URL, "")
	resp, _ := h.get("/", nil)
	assertSecurityHeadersOnce(t, "200", resp.Header)
	if v := resp.Header.Get("X-Frame-Options"); v != "SAMEORIGIN" {
		t.Errorf("upstream X-Frame-Options won: %q", v)
	}
	if v := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(v, "max-age=63072000") {
		t.Errorf("HSTS = %q", v)
	}
}

// nginx's add_header without `always` drops headers on error pages; every
// response rampart writes itself carries them.
func TestGateway_HeadersOnErrorResponses(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	h := start(t, dead, "limits: {max_body_bytes: 1k}\nratelimit:\n  zones: {api: {rate: 1r/m}}\n  rules: [{prefix: /api/, limits: [{zone: api, burst: 0, nodelay: true}]}]\n")
	resp, _ := h.get("/", nil)
	if resp.StatusCode != 502 {
		t.Fatalf("want 502, got %d", resp.StatusCode)
	}
	assertSecurityHeadersOnce(t, "502", resp.Header)

	req, _ := http.NewRequest("POST", "https://app.test/", strings.NewReader(strings.Repeat("x", 4096)))
	r2, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("want 413, got %d", r2.StatusCode)
	}
	assertSecurityHeadersOnce(t, "413", r2.Header)

	h.get("/api/x", nil) // the first request of a new key is free
	r3, _ := h.get("/api/x", nil)
	if r3.StatusCode != 429 {
		t.Fatalf("want 429, got %d", r3.StatusCode)
	}
	assertSecurityHeadersOnce(t, "429", r3.Header)
}

// The seed's limit shape: burst 20 nodelay on /api/ (at 1r/m rather than
// 10r/s, so no request refills the bucket however slowly the test runs). A
// burst gets exactly 21 through, then 429 with Retry-After, never 503; path
// tricks do not dodge the rule.
func TestGateway_SeedRateLimitAnswers429(t *testing.T) {
	h := start(t, upstream(t).URL, `ratelimit:
  zones:
    api_limit: {key: client_ip, rate: 1r/m, size: 10m}
  rules:
    - prefix: /api/
      limits: [{zone: api_limit, burst: 20, nodelay: true}]
`)
	ok, limited := 0, 0
	paths := []string{"/api/x", "//api/x", "/%61pi/x"}
	for i := range 40 {
		resp, _ := h.get(paths[i%len(paths)], nil)
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 21 || limited != 19 {
		t.Errorf("passed %d, limited %d", ok, limited)
	}
	// Spellings an application could read as /api/x or as another path
	// are refused, never forwarded.
	for _, p := range []string{"/static/../api/x", "/API/x", "/static/..%2fapi/x"} {
		if resp, _ := h.get(p, nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", p, resp.StatusCode)
		}
	}
	if !strings.Contains(h.errlog.String(), "excess_rate_limit_exceeded") {
		t.Errorf("no security event for the rejections")
	}
}

// A Host the configuration does not name never reaches the application:
// over TLS it gets 421, with the security headers, and is not reflected.
func TestGateway_HostHeaderInjectionOverTLS(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	for _, host := range []string{"evil.example", "app.test.evil.example", "evil.example:443", ""} {
		req, _ := http.NewRequest("GET", "https://app.test/", nil)
		req.Host = host
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if host == "" {
			// net/http fills an empty Host from the URL: app.test.
			if resp.StatusCode != 200 {
				t.Errorf("Host from URL: %d", resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: got %d, want 421", host, resp.StatusCode)
		}
		if strings.Contains(string(body), "evil") {
			t.Errorf("Host %q reflected: %s", host, body)
		}
		assertSecurityHeadersOnce(t, "421", resp.Header)
	}
	for _, host := range []string{"APP.TEST", "app.test.", "app.test:443"} {
		req, _ := http.NewRequest("GET", "https://app.test/", nil)
		req.Host = host
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("configured host spelled %q: got %d", host, resp.StatusCode)
		}
	}
}

func TestSplitJoinHost(t *testing.T) {
	for in, want := range map[string]string{"App.Test:8443": "app.test:8443", "[::1]:8443": "[::1]:8443", "::1": "[::1]",
		"127.0.0.1:8443": "127.0.0.1:8443", "example.com.": "example.com", "Example.COM.:443": "example.com",
		"[::1]:443": "[::1]", "app.test": "app.test"} {
		h, p, ok := splitHost(in)
		if got := joinHost(h, p); !ok || got != want {
			t.Errorf("%q: got %q (%v), want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"app.test:x1", "[::1]x", "[::1]:1x"} {
		if h, p, ok := splitHost(in); ok {
			t.Errorf("%q: accepted as %q %q", in, h, p)
		}
	}
}

// Cross-site tracing: TRACE would echo the request's headers back.
func TestGateway_TraceRefused(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	for _, m := range []string{"TRACE", "TRACK"} {
		req, _ := http.NewRequest(m, "https://app.test/", nil)
		req.Header.Set("Cookie", "session=secret")
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || strings.Contains(string(body), "secret") {
			t.Errorf("%s: %d %s", m, resp.StatusCode, body)
		}
	}
}
