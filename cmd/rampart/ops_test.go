package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/gateway"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/users"
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
	gw, ln, stop := runGateway(t, src)
	defer stop()
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

	if code, _, errs := cli("user", "revoke", "alice"); code != 1 || !strings.Contains(errs, "auth is not configured") {
		t.Errorf("user revoke without auth: exit %d\n%s", code, errs)
	}

	stop()
	if code, _, errs := cli("reload"); code != 1 || !strings.Contains(errs, "cannot reach the admin listener") {
		t.Errorf("admin listener down: exit %d\n%s", code, errs)
	}
}

// TestUserRevokeCLI_EndToEnd: rampart user revoke ends a signed-in user's
// session at once through the running gateway's admin listener; a name
// the users file does not hold is an error that changes nothing.
func TestUserRevokeCLI_EndToEnd(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := testenv.WriteCert(t, dir, "app.test")
	const password = "correct horse battery staple 9"
	hash, err := users.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users.yaml")
	os.WriteFile(usersFile, []byte("users:\n  - name: alice\n    hash: '"+hash+"'\n"), 0o600)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "private") }))
	defer up.Close()
	yaml := "hosts: [app.test]\nstate_dir: " + filepath.Join(dir, "state") + "\ntls: {cert_file: " + cert + ", key_file: " + key + "}\n" +
		"upstream: {url: " + up.URL + "}\nauth:\n  users_file: " + usersFile + "\n  rules:\n    - {prefix: /, require: authenticated}\n"
	secret := base64.StdEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))
	src := config.Source{Path: "rampart.yaml", Data: []byte(yaml), LookupEnv: func(k string) (string, bool) {
		return secret, k == "RAMPART_SECRET_KEY"
	}}
	gw, ln, stop := runGateway(t, src)
	defer stop()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "app.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		}}}
	do := func(method, path, body string, cookies ...*http.Cookie) *http.Response {
		req, _ := http.NewRequest(method, "https://app.test"+path, strings.NewReader(body))
		req.Header.Set("Accept", "application/json")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", "https://app.test")
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	login := do("POST", auth.LoginPath, `{"username": "alice", "password": "`+password+`"}`)
	var session *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == auth.SessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("login: %d, no session cookie", login.StatusCode)
	}
	if code := do("GET", "/private", "", session).StatusCode; code != 200 {
		t.Fatalf("signed in: %d", code)
	}

	var out, errb bytes.Buffer
	admin := "http://" + gw.AdminAddr().String()
	if code := run([]string{"user", "revoke", "--admin", admin, "mallory"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no user mallory") {
		t.Errorf("revoke of an unknown user: exit %d\n%s", code, errb.String())
	}
	if code := do("GET", "/private", "", session).StatusCode; code != 200 {
		t.Fatalf("a failed revoke ended the session: %d", code)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"user", "revoke", "--admin", admin, "alice"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "every session of alice is ended") {
		t.Fatalf("user revoke: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if code := do("GET", "/private", "", session).StatusCode; code != http.StatusUnauthorized {
		t.Errorf("the revoked session's cookie: %d, want 401", code)
	}
}

// runGateway runs the gateway of src on loopback listeners of its own
// (HTTPS and admin) until stop, which may be called more than once.
func runGateway(t *testing.T, src config.Source) (gw *gateway.Gateway, https net.Listener, stop func()) {
	t.Helper()
	plan, fs := config.Load(src)
	if plan == nil {
		t.Fatal(fs.Error())
	}
	https = testenv.Listener(t)
	gw, err := gateway.New(plan, gateway.Options{AdminListener: testenv.Listener(t), Logger: slog.New(slog.DiscardHandler),
		Stdout: io.Discard, Stderr: io.Discard, HTTPSListener: https, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	var once sync.Once
	return gw, https, func() { once.Do(func() { cancel(); <-done }) }
}
