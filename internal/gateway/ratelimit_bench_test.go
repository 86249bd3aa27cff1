package gateway

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/testcert"
)

// BenchmarkPipelineRateLimited is BenchmarkPipeline's stages on a path a
// rule governs, so the decision and its access-log annotation are paid on
// every request. The rate is high enough that every request passes.
func BenchmarkPipelineRateLimited(b *testing.B) {
	dir := b.TempDir()
	pair, err := testcert.Write(dir, time.Hour, "localhost")
	if err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`hosts: [localhost]
state_dir: %s
tls: {cert_file: %s, key_file: %s}
upstream: {url: 'http://127.0.0.1:1'}
ratelimit:
  zones:
    api_limit: {key: client_ip, rate: 1000000r/s, size: 10m}
  rules:
    - prefix: /
      limits:
        - {zone: api_limit, burst: 1000000, nodelay: true}
`, filepath.Join(dir, "state"), pair.CertFile, pair.KeyFile)
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	plan, fs := config.Load(config.Source{Path: path, LookupEnv: func(string) (string, bool) { return "", false }})
	if plan == nil {
		b.Fatalf("config: %s", fs.Error())
	}
	h, err := buildStages(plan, benchDeps(b), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write(benchBody)
	}))
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		h.https.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
