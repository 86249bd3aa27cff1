package check

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/examples/seed/nginx"
	"github.com/rampart-dev/rampart/internal/testenv"
)

// TestRun_SeedRealNginx audits the seed's actual nginx configuration
// (examples/seed/nginx) in front of an app that sets Flask-Talisman's
// headers, and checks that the real stack gets the same grade and the same
// defects as the hand-written seed fixture.
func TestRun_SeedRealNginx(t *testing.T) {
	bin := testenv.LookPath(t, "nginx", "apt-get install nginx")
	p := loadPKI(t)

	// Flask-Talisman's defaults plus the seed's CSP and JWT cookie settings.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "Werkzeug/2.2.2 Python/3.11.2") // hidden by proxy_hide_header
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
		h.Set("Strict-Transport-Security", "max-age=31556926; includeSubDomains")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h.Add("Set-Cookie", "session=e30; Secure; HttpOnly; Path=/; SameSite=Lax")
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><html><body>seed</body></html>"))
	}))
	t.Cleanup(app.Close)

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := x509.MarshalPKCS8PrivateKey(p.rsa.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.rsa.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	params := nginx.Params{
		Prefix: dir, HTTPSAddr: freeLoopback(t), HTTPAddr: freeLoopback(t),
		Upstream: strings.TrimPrefix(app.URL, "http://"), ServerName: "localhost",
		CertFile: certFile, KeyFile: keyFile, WorkerProcesses: "1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := nginx.Start(ctx, bin, params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })

	rep, err := Run(context.Background(), "https://"+params.HTTPSAddr+"/", Options{
		RootCAs: p.pool, HTTPURL: "http://" + params.HTTPAddr + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Score != 55 || rep.Grade != "C" {
		t.Errorf("score %d grade %s, want 55 C; tests %+v", rep.Score, rep.Grade, rep.Tests)
	}
	ids := findingIDs(rep)
	for _, id := range []string{"header-duplicated", "hsts-invalid", "xfo-invalid", "nosniff-invalid",
		"x-xss-protection-enabled", "version-banner", "redirect-reflects-host", "tls-weak-cipher"} {
		if _, ok := ids[id]; !ok {
			t.Errorf("real nginx: missing finding %s", id)
		}
	}
	for _, id := range []string{"tls-legacy-version", "trace-enabled", "git-exposed", "env-exposed"} {
		if _, ok := ids[id]; ok {
			t.Errorf("real nginx: unexpected finding %s", id)
		}
	}
	if t.Failed() || testing.Verbose() {
		var b strings.Builder
		WriteText(&b, rep)
		t.Log(b.String())
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
