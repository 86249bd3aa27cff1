package admin

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/seclog"
)

var token = []byte("0123456789abcdefghijklmnopqrstuvwxyzABCD")

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newServer(t *testing.T, o Options) (*Server, *syncBuffer, *syncBuffer) {
	t.Helper()
	var logs, sec syncBuffer
	o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	o.SecLog = seclog.New(slog.New(slog.NewJSONHandler(&sec, nil)))
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs, &sec
}

// do sends a request to s's handler from peer with the given Host and
// Authorization.
func do(s *Server, method, path, peer, host, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr, r.Host = peer, host
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		o       Options
		errPath string // "" for none
		warn    bool
	}{
		{Options{}, "", false},
		{Options{Listen: "off"}, "", false},
		{Options{Listen: "OFF", Token: []byte("short")}, "", false},
		{Options{Listen: "127.0.0.1:9180"}, "", false},
		{Options{Listen: "[::1]:9180"}, "", false},
		{Options{Listen: "localhost:9180"}, "", false},
		{Options{Listen: "0.0.0.0:9180"}, "Listen", false},
		{Options{Listen: ":9180"}, "Listen", false},
		{Options{Listen: "192.0.2.10:9180"}, "Listen", false},
		{Options{Listen: "[::]:9180"}, "Listen", false},
		{Options{Listen: "0.0.0.0:9180", Token: token}, "", true},
		{Options{Listen: "127.0.0.1:9180", Token: []byte("too short")}, "Token", false},
		{Options{Listen: "9180"}, "Listen", false},
		{Options{Listen: "127.0.0.1:"}, "Listen", false},
	} {
		errs := tc.o.Validate()
		gotErr := ""
		for _, e := range errs {
			if !e.Warning {
				gotErr = e.Path
			}
		}
		if gotErr != tc.errPath {
			t.Errorf("%q: error on %q, want %q: %v", tc.o.Listen, gotErr, tc.errPath, errs)
		}
		if got := len(errs.Warnings()) > 0; got != tc.warn {
			t.Errorf("%q: warning %v, want %v: %v", tc.o.Listen, got, tc.warn, errs)
		}
		if _, err := New(tc.o); (err != nil) != (tc.errPath != "") {
			t.Errorf("%q: New: %v", tc.o.Listen, err)
		}
	}
	// The refusal says how to fix it, loudly.
	errs := Options{Listen: "0.0.0.0:9180"}.Validate()
	if msg := errs.Error(); !strings.Contains(msg, "not a loopback address") || !strings.Contains(msg, "admin.token_secret") {
		t.Errorf("message: %s", msg)
	}
}

// Without a token, only loopback peers with a loopback Host are served:
// another machine is refused, and so is a browser led to 127.0.0.1 by a
// hostile name (DNS rebinding).
func TestNoToken_LoopbackOnly(t *testing.T) {
	s, _, sec := newServer(t, Options{})
	for _, tc := range []struct {
		peer, host string
		want       int
	}{
		{"127.0.0.1:5000", "127.0.0.1:9180", 200},
		{"[::1]:5000", "[::1]:9180", 200},
		{"127.0.0.1:5000", "localhost:9180", 200},
		{"127.0.0.1:5000", "LOCALHOST.", 200},
		{"[::ffff:127.0.0.1]:5000", "127.0.0.1", 200},
		{"192.0.2.1:5000", "127.0.0.1:9180", 403},
		{"10.0.0.1:5000", "127.0.0.1:9180", 403},
		{"127.0.0.1:5000", "attacker.example:9180", 403},
		{"127.0.0.1:5000", "127.0.0.1.nip.io:9180", 403},
		{"127.0.0.1:5000", "", 403},
		{"not an address", "127.0.0.1", 403},
	} {
		w := do(s, "GET", "/healthz", tc.peer, tc.host, "")
		if w.Code != tc.want {
			t.Errorf("peer %s host %q: %d, want %d", tc.peer, tc.host, w.Code, tc.want)
		}
	}
	if !strings.Contains(sec.String(), `"event.action":"authz_fail"`) {
		t.Errorf("no security event for the refusals: %s", sec)
	}
}

// With a token, every request but /healthz needs it; a missing, wrong,
// truncated or extended token, or another scheme, gets 401.
func TestToken_Required(t *testing.T) {
	s, _, sec := newServer(t, Options{Listen: "0.0.0.0:9180", Token: token})
	s.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") }))
	good := "Bearer " + string(token)
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/metrics", good, 200},
		{"/metrics", "bearer " + string(token), 200},
		{"/readyz", good, 200},
		{"/metrics", "", 401},
		{"/readyz", "", 401},
		{"/metrics", "Bearer ", 401},
		{"/metrics", "Bearer " + string(token[:len(token)-1]), 401},
		{"/metrics", "Bearer " + string(token) + "x", 401},
		{"/metrics", "Bearer " + strings.Repeat("A", len(token)), 401},
		{"/metrics", "Basic " + string(token), 401},
		{"/metrics", string(token), 401},
		{"/nothing", "", 401}, // no hint of what exists without the token
		{"/nothing", good, 404},
	} {
		// From another machine: the token is what admits it.
		w := do(s, "GET", tc.path, "192.0.2.7:4000", "admin.example:9180", tc.auth)
		if w.Code != tc.want {
			t.Errorf("%s with %q: %d, want %d", tc.path, tc.auth, w.Code, tc.want)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.path)
		}
		if strings.Contains(w.Body.String(), string(token)) {
			t.Errorf("%s: the token is echoed", tc.path)
		}
	}
	if !strings.Contains(sec.String(), `"event.action":"authn_login_fail"`) || strings.Contains(sec.String(), string(token)) {
		t.Errorf("security log: %s", sec)
	}
}

// Every response, refusals and 404s included, carries the strict headers;
// a mounted page may set its own policy.
func TestSecurityHeaders(t *testing.T) {
	s, _, _ := newServer(t, Options{})
	s.Handle("GET /page", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'")
	}))
	for _, tc := range []struct{ path, peer string }{
		{"/healthz", "127.0.0.1:1"}, {"/readyz", "127.0.0.1:1"}, {"/missing", "127.0.0.1:1"}, {"/healthz", "192.0.2.1:1"},
	} {
		w := do(s, "GET", tc.path, tc.peer, "127.0.0.1", "")
		h := w.Header()
		if !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'") ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s from %s (%d): headers %v", tc.path, tc.peer, w.Code, h)
		}
	}
	if got := do(s, "GET", "/page", "127.0.0.1:1", "127.0.0.1", "").Header().Get("Content-Security-Policy"); got != "default-src 'none'; style-src 'self'" {
		t.Errorf("mounted page's policy: %q", got)
	}
	if w := do(s, "POST", "/healthz", "127.0.0.1:1", "127.0.0.1", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d", w.Code)
	}
}

// /readyz flips to 503 when the upstream stops listening, names the
// failing check and nothing of its error, in text and in JSON.
func TestReadyz_FlipsWhenUpstreamStops(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	u, _ := url.Parse("http://user:hunter2@" + up.Addr().String())
	s, logs, _ := newServer(t, Options{})
	s.AddCheck("upstream", CheckUpstream(u, time.Second))
	s.AddCheck("redis", CheckPing("redis", func(context.Context) error { return nil }))
	if w := do(s, "GET", "/readyz", "127.0.0.1:1", "127.0.0.1", ""); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("upstream up: %d %q", w.Code, w.Body)
	}
	up.Close()
	w := do(s, "GET", "/readyz", "127.0.0.1:1", "127.0.0.1", "")
	if w.Code != 503 || w.Body.String() != "not ready\nupstream: failed\n" {
		t.Fatalf("upstream down: %d %q", w.Code, w.Body)
	}
	r := httptest.NewRequest("GET", "/readyz", nil)
	r.RemoteAddr, r.Host = "127.0.0.1:1", "127.0.0.1"
	r.Header.Set("Accept", "application/json")
	jw := httptest.NewRecorder()
	s.Handler().ServeHTTP(jw, r)
	var got readiness
	if err := json.Unmarshal(jw.Body.Bytes(), &got); err != nil || jw.Code != 503 || got.Status != "not ready" || got.Failing["upstream"] != "failed" || len(got.Failing) != 1 {
		t.Fatalf("JSON: %d %s (%v)", jw.Code, jw.Body, err)
	}
	// The detail is in the log, once, not in the answer; never the
	// URL's password.
	if !strings.Contains(logs.String(), "readiness check failing") || strings.Count(logs.String(), "readiness check failing") != 1 {
		t.Errorf("log: %s", logs)
	}
	if strings.Contains(logs.String()+w.Body.String(), "hunter2") {
		t.Error("the upstream password leaked")
	}
}

// A check that hangs is cut at CheckTimeout and reported as timed out;
// one that panics is a failure, not a crash; checks run at once.
func TestReadyz_TimeoutAndPanic(t *testing.T) {
	s, _, _ := newServer(t, Options{CheckTimeout: 50 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	s.AddCheck("hangs", func(context.Context) error { <-release; return nil })
	s.AddCheck("slow_but_honest", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	s.AddCheck("panics", func(context.Context) error { panic("boom") })
	s.AddCheck("fine", func(context.Context) error { return nil })
	w := do(s, "GET", "/readyz", "127.0.0.1:1", "127.0.0.1", "")
	want := "not ready\nhangs: timed out\npanics: failed\nslow_but_honest: timed out\n"
	if w.Code != 503 || w.Body.String() != want {
		t.Fatalf("%d %q, want %q", w.Code, w.Body, want)
	}
}

func TestCheckCertificate(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		cert *x509.Certificate
		ok   bool
	}{
		{&x509.Certificate{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, true},
		{&x509.Certificate{NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)}, false},
		{&x509.Certificate{NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)}, false},
		{nil, false},
	} {
		err := CheckCertificate(func() *x509.Certificate { return tc.cert })(context.Background())
		if (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cert, err)
		}
	}
	leaves := func(context.Context) []tlsconf.Leaf {
		return []tlsconf.Leaf{
			{Name: "a.example", Cert: &x509.Certificate{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}},
			{Name: "b.example", Cert: &x509.Certificate{NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)}},
		}
	}
	if err := CheckLeaves(leaves)(context.Background()); err == nil || !strings.Contains(err.Error(), "b.example") {
		t.Errorf("expired leaf: %v", err)
	}
	if err := CheckLeaves(func(context.Context) []tlsconf.Leaf { return nil })(context.Background()); err != nil {
		t.Errorf("no certificate yet (ACME): %v", err)
	}
}

// The server binds at Listen (a port in use is an error there), serves
// over TCP, and stops when Run's context ends.
func TestListenAndRun(t *testing.T) {
	s, _, _ := newServer(t, Options{Listen: "127.0.0.1:0"})
	if s.Addr() != nil {
		t.Fatal("address before Listen")
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	busy, _, _ := newServer(t, Options{Listen: addr})
	if err := busy.Listen(); err == nil || !strings.Contains(err.Error(), "admin.listen") {
		t.Fatalf("port in use: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("%d %q", res.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

// "off" builds a Server that does nothing.
func TestDisabled(t *testing.T) {
	s, err := New(Options{Listen: "off"})
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("GET /x", http.NotFoundHandler())
	s.AddCheck("x", func(context.Context) error { return errors.New("x") })
	if s.Enabled() || s.Listen() != nil || s.Addr() != nil {
		t.Fatal("a disabled server listens")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// A body larger than MaxBodyBytes cannot be read by a mounted handler.
func TestBodyLimit(t *testing.T) {
	s, _, _ := newServer(t, Options{})
	var readErr error
	s.Handle("POST /api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
	}))
	r := httptest.NewRequest("POST", "/api", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	r.RemoteAddr, r.Host = "127.0.0.1:1", "127.0.0.1"
	s.Handler().ServeHTTP(httptest.NewRecorder(), r)
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) {
		t.Fatalf("read: %v", readErr)
	}
}
