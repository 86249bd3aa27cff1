package gateway

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/dashboard"
	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/metrics"
	"github.com/rampart-dev/rampart/seclog"
)

// benchPage is what the benchmark upstream answers: the page bench/ uses.
const benchPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>bench</title></head>
<body><main><h1>Hello</h1><p>A small page from a fast upstream, served through the proxy under test.</p>
<form method="post" action="/submit"><input name="message"><button>Send</button></form></main></body>
</html>
`

var benchBody = []byte(benchPage)

func benchUpstream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Server", "bench-upstream")
	w.Write(benchBody)
}

// benchPlan is the configuration bench/ runs rampart with: the seed's
// limit_req on /api/ only, every other default.
func benchPlan(b *testing.B, upstreamURL string) *config.Plan {
	b.Helper()
	dir := b.TempDir()
	pair, err := testcert.Write(dir, time.Hour, "localhost")
	if err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`hosts: [localhost]
state_dir: %s
tls: {cert_file: %s, key_file: %s}
upstream: {url: '%s'}
ratelimit:
  zones:
    api_limit: {key: client_ip, rate: 10r/s, size: 10m}
  rules:
    - prefix: /api/
      limits:
        - {zone: api_limit, burst: 20, nodelay: true}
`, filepath.Join(dir, "state"), pair.CertFile, pair.KeyFile, upstreamURL)
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	plan, fs := config.Load(config.Source{Path: path, LookupEnv: func(string) (string, bool) { return "", false }})
	if plan == nil {
		b.Fatalf("config: %s", fs.Error())
	}
	return plan
}

// benchDeps are what a running gateway gives each pipeline: its logs,
// and the process-wide stages of the default configuration (the
// dashboard's counter, the metrics, the auto-ban on an in-memory store).
func benchDeps(b *testing.B) pipelineDeps {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	sec := seclog.New(quiet)
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	banner, err := ban.New(ban.Options{Store: ban.NewMemoryStore(), Log: sec})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { banner.Close() })
	return pipelineDeps{logger: quiet, access: io.Discard, sec: sec, closers: new([]io.Closer),
		rec: dashboard.NewRecorder(dashboard.RecorderOptions{}), metrics: m, banner: banner}
}

// discardWriter is a ResponseWriter that keeps nothing but a header map,
// cleared between requests as net/http gives each request a fresh one.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// benchRequest is a request as wrk sends it over TLS to rampart.
func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "https://localhost/", nil)
	r.RemoteAddr = "127.0.0.1:54321"
	r.Header.Set("User-Agent", "wrk")
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, ServerName: "localhost"}
	return r
}

// BenchmarkPipeline measures what rampart's own stages cost per request,
// apart from TLS and net/http's connection handling (bench/ measures those
// end to end).
//
//   - stages: every stage in front of an in-process handler standing in for
//     the reverse proxy (request id, client address, access log, the
//     dashboard's counter, metrics, security headers, recovery, host check,
//     path, auto-ban, IP rules, probe detector, rate limit, CSRF).
//   - proxied: the same with the real reverse proxy to an upstream on
//     loopback, kept alive.
func BenchmarkPipeline(b *testing.B) {
	run := func(b *testing.B, h http.Handler) {
		req := benchRequest()
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			clear(w.h)
			w.code = 0
			h.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	}
	b.Run("stages", func(b *testing.B) {
		h, err := buildStages(benchPlan(b, "http://127.0.0.1:1"), benchDeps(b), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			w.Write(benchBody)
		}))
		if err != nil {
			b.Fatal(err)
		}
		run(b, h.https)
	})
	b.Run("proxied", func(b *testing.B) {
		up := httptest.NewServer(http.HandlerFunc(benchUpstream))
		defer up.Close()
		h, err := buildPipeline(benchPlan(b, up.URL), benchDeps(b))
		if err != nil {
			b.Fatal(err)
		}
		run(b, h.https)
	})
}
