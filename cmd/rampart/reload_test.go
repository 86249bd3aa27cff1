package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/gateway"
	"github.com/rampart-dev/rampart/internal/testenv"
)

// TestReloadCLI_EndToEnd: rampart reload asks a running gateway (its
// reload API on a loopback server standing for the admin listener) to
// read its file again, and says what happened: reloaded, or refused with
// the running configuration kept.
func TestReloadCLI_EndToEnd(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := testenv.WriteCert(t, dir, "app.test")
	path := filepath.Join(dir, "rampart.yaml")
	base := "hosts: [app.test]\nstate_dir: " + filepath.Join(dir, "state") + "\ntls: {cert_file: " + cert + ", key_file: " + key + "}\nupstream: {url: http://127.0.0.1:1}\n"
	os.WriteFile(path, []byte(base), 0o600)
	src := config.Source{Path: path, LookupEnv: func(string) (string, bool) { return "", false }}
	plan, fs := config.Load(src)
	if plan == nil {
		t.Fatal(fs.Error())
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var sec testenv.Buffer
	gw, err := gateway.New(plan, gateway.Options{AdminListener: adminListener(t), Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Stderr: &sec, HTTPSListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() { cancel(); <-done }()
	admin := httptest.NewServer(gw.ReloadHandler(src))
	defer admin.Close()

	reload := func() (int, string, string) {
		var out, errb bytes.Buffer
		code := run([]string{"reload", "--admin", admin.URL}, &out, &errb)
		return code, out.String(), errb.String()
	}
	os.WriteFile(path, []byte(base+"headers: {referrer_policy: origin}\n"), 0o600)
	if code, out, errs := reload(); code != 0 || !strings.Contains(out, "configuration reloaded") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errs)
	}
	if gw.Plan().Headers.ReferrerPolicy != "origin" {
		t.Errorf("the new configuration is not in force: %q", gw.Plan().Headers.ReferrerPolicy)
	}
	os.WriteFile(path, []byte(base+"headers: {referrer_policy: nonsense}\n"), 0o600)
	if code, _, errs := reload(); code != 1 || !strings.Contains(errs, "the running one stays") || !strings.Contains(errs, "referrer_policy") {
		t.Errorf("refused reload: exit %d\n%s", code, errs)
	}
	if gw.Plan().Headers.ReferrerPolicy != "origin" {
		t.Error("a refused configuration replaced the running one")
	}
	admin.Close()
	if code, _, errs := reload(); code != 1 || !strings.Contains(errs, "cannot reach the admin listener") {
		t.Errorf("admin listener down: exit %d\n%s", code, errs)
	}
}

// adminListener is a loopback listener of the test's own for the admin
// listener: tests run side by side, never on the default port.
func adminListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
