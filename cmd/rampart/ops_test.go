package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/gateway"
	"github.com/rampart-dev/rampart/internal/testenv"
)

// TestOpsCLI_EndToEnd: rampart reload and rampart ban talk to a running
// gateway's admin listener: a reload applies the file as it is now, or
// says it was refused with the running configuration kept; a ban made
// with the CLI refuses the peer before TLS, and lifting it lets it back.
func TestOpsCLI_EndToEnd(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := testenv.WriteCert(t, dir, "app.test")
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
	gw, err := gateway.New(plan, gateway.Options{AdminListener: adminListener(t), Logger: slog.New(slog.DiscardHandler),
		Stdout: io.Discard, Stderr: &sec, HTTPSListener: ln, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() { cancel(); <-done }()
	admin := "http://" + gw.AdminAddr().String()

	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append(args, "--admin", admin), &out, &errb)
		return code, out.String(), errb.String()
	}
	os.WriteFile(path, []byte(base+"headers: {referrer_policy: origin}\n"), 0o600)
	if code, out, errs := cli("reload"); code != 0 || !strings.Contains(out, "configuration reloaded") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errs)
	}
	if gw.Plan().Headers.ReferrerPolicy != "origin" {
		t.Errorf("the new configuration is not in force: %q", gw.Plan().Headers.ReferrerPolicy)
	}
	os.WriteFile(path, []byte(base+"headers: {referrer_policy: nonsense}\n"), 0o600)
	if code, _, errs := cli("reload"); code != 1 || !strings.Contains(errs, "the running one stays") || !strings.Contains(errs, "referrer_policy") {
		t.Errorf("refused reload: exit %d\n%s", code, errs)
	}
	if gw.Plan().Headers.ReferrerPolicy != "origin" {
		t.Error("a refused configuration replaced the running one")
	}

	handshake := func(from string) error {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := tls.DialWithDialer(&d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "app.test"})
		if err == nil {
			c.Close()
		}
		return err
	}
	if code, out, errs := cli("ban", "add", "127.0.0.2", "--for", "1h", "--reason", "test"); code != 0 {
		t.Fatalf("ban add: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := cli("ban", "list"); code != 0 || !strings.Contains(out, "127.0.0.2/32") {
		t.Errorf("ban list: exit %d\n%s", code, out)
	}
	if handshake("127.0.0.2") == nil {
		t.Error("a peer banned with rampart ban completed a TLS handshake")
	}
	if err := handshake("127.0.0.1"); err != nil {
		t.Errorf("another peer: %v", err)
	}
	if code, out, errs := cli("ban", "remove", "127.0.0.2"); code != 0 {
		t.Fatalf("ban remove: exit %d\n%s%s", code, out, errs)
	}
	if err := handshake("127.0.0.2"); err != nil {
		t.Errorf("after rampart ban remove: %v", err)
	}

	cancel()
	<-done
	done <- nil
	if code, _, errs := cli("reload"); code != 1 || !strings.Contains(errs, "cannot reach the admin listener") {
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
