package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/testenv"
)

// harness is a running gateway on loopback with a real certificate for
// app.test, in front of upstream.
type harness struct {
	t              *testing.T
	httpsAddr      string
	httpAddr       string
	client         *http.Client
	access, errlog *testenv.Buffer
	pool           *x509.CertPool
	gw             *Gateway
	// src is the configuration file; certFile and keyFile the
	// certificate it names (a reload test rewrites them).
	src               config.Source
	certFile, keyFile string
}

// start runs a gateway for upstreamURL configured by yaml (hosts, tls and
// upstream are filled in).
func start(t *testing.T, upstreamURL, yaml string) *harness {
	t.Helper()
	return startFor(t, "app.test", upstreamURL, yaml)
}

// startFor is start for another host name.
func startFor(t *testing.T, host, upstreamURL, yaml string) *harness {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := testenv.WriteCert(t, dir, host)
	h := &harness{t: t, pool: pool}
	cfg := fmt.Sprintf("hosts: ["+host+"]\nstate_dir: %q\ntls: {cert_file: %q, key_file: %q}\nupstream: {url: %q}\n%s",
		filepath.Join(dir, "state"), certFile, keyFile, upstreamURL, yaml)
	path := filepath.Join(dir, "rampart.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	h.src = config.Source{Path: path, LookupEnv: func(string) (string, bool) { return "", false }}
	h.certFile, h.keyFile = certFile, keyFile
	plan, fs := config.Load(h.src)
	if plan == nil {
		t.Fatalf("config: %s", fs.Error())
	}
	httpsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	h.httpsAddr, h.httpAddr = httpsLn.Addr().String(), httpLn.Addr().String()
	h.access, h.errlog = &testenv.Buffer{}, &testenv.Buffer{}
	gw, err := New(plan, Options{AdminListener: testenv.Listener(t),
		Logger: slog.New(slog.NewJSONHandler(h.errlog, nil)), Stdout: h.access, Stderr: h.errlog,
		HTTPSListener: httpsLn, HTTPListener: httpLn,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	// As serve does: every listener open before anything is served.
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: host},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, h.httpsAddr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	h.client = &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

func (h *harness) get(path string, header http.Header) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", "https://app.test"+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// upstream echoes what it received as JSON and sends the fingerprint and
// duplicate headers a Flask+Talisman app sends.
func upstream(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Werkzeug/2.2.2 Python/3.11.2")
		w.Header().Set("X-Powered-By", "Flask")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "header": r.Header, "path": r.URL.Path})
	}))
	t.Cleanup(s.Close)
	return s
}

func TestGateway_ProxiesWithRealClientAndHTTPS(t *testing.T) {
	up := upstream(t)
	h := start(t, up.URL, "")
	resp, body := h.get("/api/hello", http.Header{
		"X-Forwarded-For":   {"203.0.113.66"},
		"X-Real-Ip":         {"203.0.113.66"},
		"X-Forwarded-Proto": {"http"},
		"X-Remote-User":     {"admin"},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("want HTTP/2 by ALPN, got %s", resp.Proto)
	}
	var got struct {
		Host   string
		Header http.Header
	}
	json.Unmarshal([]byte(body), &got)
	if got.Host != "app.test" {
		t.Errorf("Host not preserved: %q", got.Host)
	}
	if xff := got.Header.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != "127.0.0.1" {
		t.Errorf("spoofed X-Forwarded-For reached the app: %v", xff)
	}
	if v := got.Header.Get("X-Real-Ip"); v != "127.0.0.1" {
		t.Errorf("X-Real-IP = %q", v)
	}
	if v := got.Header.Get("X-Forwarded-Proto"); v != "https" {
		t.Errorf("X-Forwarded-Proto = %q: a Flask app behind rampart would redirect-loop", v)
	}
	if v := got.Header.Get("X-Remote-User"); v != "" {
		t.Errorf("client-sent identity header reached the app: %q", v)
	}
	if v := resp.Header.Values("Server"); len(v) != 0 {
		t.Errorf("Server header sent: %v", v)
	}
	if v := resp.Header.Get("X-Powered-By"); v != "" {
		t.Errorf("X-Powered-By sent: %v", v)
	}
}

func TestGateway_UpstreamDownIsGeneric502(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	h := start(t, dead, "")
	resp, body := h.get("/", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "refused") {
		t.Errorf("502 body leaks internals: %s", body)
	}
	if !strings.Contains(h.errlog.String(), "connection refused") {
		t.Errorf("the log must carry the detail: %s", h.errlog.String())
	}
}

func TestGateway_OversizedBodyIs413(t *testing.T) {
	h := start(t, upstream(t).URL, "limits: {max_body_bytes: 1k}\n")
	req, _ := http.NewRequest("POST", "https://app.test/upload", strings.NewReader(strings.Repeat("x", 4096)))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("got %d, want 413", resp.StatusCode)
	}
}

func TestGateway_RedirectOnlyConfiguredHosts(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]int{"app.test": 301, "APP.test": 301, "evil.example": 421} {
		req, _ := http.NewRequest("GET", "http://"+h.httpAddr+"/path?q=1", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: got %d, want %d", host, resp.StatusCode, want)
		}
		loc := resp.Header.Get("Location")
		if want == 301 && !strings.HasPrefix(loc, "https://app.test:") {
			t.Errorf("Location %q", loc)
		}
		if strings.Contains(loc+string(body), "evil") {
			t.Errorf("foreign Host reflected: %q %q", loc, body)
		}
	}
}

// A client that leaves while the application works ends the application's
// request: the proxy closes its upstream connection, over HTTP/1.1 (the
// lane tells the proxy itself, AfterClientGone) and HTTP/2 (the stream's
// context).
func TestGateway_ClientGoneEndsTheUpstreamRequest(t *testing.T) {
	arrived, ended := make(chan struct{}, 1), make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done(): // its connection closed
			ended <- struct{}{}
		case <-time.After(20 * time.Second):
		}
	}))
	t.Cleanup(up.Close)
	h := start(t, up.URL, "")
	wait := func(t *testing.T, c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(15 * time.Second):
			t.Fatal(what)
		}
	}
	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{RootCAs: h.pool, ServerName: "app.test", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: app.test\r\n\r\n")
		wait(t, arrived, "the request did not reach the upstream")
		time.Sleep(100 * time.Millisecond) // past the lane's client watch start
		c.Close()
		wait(t, ended, "the upstream request outlived its client")
	})
	t.Run("HTTP/2", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://app.test/slow", nil)
		go func() { <-arrived; cancel() }()
		res, err := h.client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.ProtoMajor != 2 {
				t.Fatalf("%s, want HTTP/2", res.Proto)
			}
			t.Fatalf("status %d, want the client's cancellation", res.StatusCode)
		}
		wait(t, ended, "the upstream request outlived its client")
	})
}
