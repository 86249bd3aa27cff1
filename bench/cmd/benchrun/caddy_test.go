package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var goldenParams = caddyParams{
	HTTPSAddr: "127.0.0.1:8443",
	HTTPAddr:  "127.0.0.1:8080",
	Host:      "localhost",
	Upstream:  "127.0.0.1:5000",
	CertFile:  "/tmp/benchrun-1/cert.pem",
	KeyFile:   "/tmp/benchrun-1/key.pem",
	Dir:       "/tmp/benchrun-1/caddy",
}

func TestRenderCaddyfile_Golden(t *testing.T) {
	got := renderCaddyfile(goldenParams)
	golden := filepath.Join("testdata", "Caddyfile.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("renderCaddyfile differs from %s (go test -update to rewrite):\n%s", golden, got)
	}
}

// A path with a quote or a space stays one Caddyfile token.
func TestRenderCaddyfile_PathQuoting(t *testing.T) {
	p := goldenParams
	p.CertFile = `/tmp/a b"c\d/cert.pem`
	got := renderCaddyfile(p)
	if want := `tls "/tmp/a b\"c\\d/cert.pem" `; !strings.Contains(got, want) {
		t.Errorf("certificate path not quoted as %s:\n%s", want, got)
	}
}

// Debian's caddy accepts the rendered configuration.
func TestRenderCaddyfile_Adapts(t *testing.T) {
	caddy := testenv.LookPath(t, "caddy", caddyInstall)
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(renderCaddyfile(goldenParams)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "adapt", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(withoutEnv(os.Environ(), "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"),
		"HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, out)
	}
	for _, want := range []string{`"protocols":["h1","h2"]`, `"disabled":true`, `"X-Real-Ip":["{http.request.remote.host}"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted configuration lacks %s:\n%s", want, out)
		}
	}
}

// The target as the harness starts it: the upstream's page comes back over
// HTTP/1.1 and HTTP/2 with the seed's headers and no Server header, and
// Caddy's access log and autosaved configuration land in the run's directory.
func TestStartCaddy_ServesSeedSetup(t *testing.T) {
	caddy := testenv.LookPath(t, "caddy", caddyInstall)
	tg, dir, pair := startTarget(t, startCaddy, config{caddy: caddy, host: "localhost", path: "/"})
	ctx := context.Background()
	if err := sanityCheck(ctx, tg, pair.Roots, true); err != nil {
		t.Fatal(err)
	}
	tg.stop()
	if fi, err := os.Stat(filepath.Join(dir, "caddy", "access.log")); err != nil || fi.Size() == 0 {
		t.Errorf("access log not written in the run's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "caddy", "home", "config", "caddy", "autosave.json")); err != nil {
		t.Errorf("autosaved configuration not under the run's HOME: %v", err)
	}
}

func TestStartCaddy_MissingBinarySkips(t *testing.T) {
	c := config{caddy: filepath.Join(t.TempDir(), "no-caddy"), host: "localhost", path: "/"}
	_, err := startCaddy(context.Background(), c, t.TempDir(), "127.0.0.1:1", "cert", "key")
	var skip skipTarget
	if !errors.As(err, &skip) || !strings.Contains(err.Error(), caddyInstall) {
		t.Fatalf("err = %v, want a skipTarget naming %q", err, caddyInstall)
	}
}

func seedResponse() *http.Response {
	h := make(http.Header)
	for k, v := range seedHeaders {
		h.Set(k, v)
	}
	return &http.Response{Proto: "HTTP/2.0", Header: h}
}

func TestCheckSeedHeaders(t *testing.T) {
	if err := checkSeedHeaders(seedResponse()); err != nil {
		t.Fatal(err)
	}
}

// A proxy that leaks the Server header does less than the seed asks.
func TestCheckSeedHeaders_ServerLeaked(t *testing.T) {
	r := seedResponse()
	r.Header.Set("Server", "Caddy")
	if err := checkSeedHeaders(r); err == nil {
		t.Fatal("Server header accepted")
	}
}

// The seed's defect (nginx and Talisman each setting the headers) must not
// pass for the seed's policy.
func TestCheckSeedHeaders_DuplicateHeader(t *testing.T) {
	r := seedResponse()
	r.Header.Add("X-Frame-Options", "SAMEORIGIN")
	if err := checkSeedHeaders(r); err == nil {
		t.Fatal("duplicate X-Frame-Options accepted")
	}
}

func TestCheckSeedHeaders_Missing(t *testing.T) {
	r := seedResponse()
	r.Header.Del("Strict-Transport-Security")
	if err := checkSeedHeaders(r); err == nil {
		t.Fatal("missing HSTS accepted")
	}
}
