package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/seclog"
)

const testAdminToken = "s3cret-admin-token-for-tests"

// adminServer serves ban.AdminHandler on loopback behind a bearer token
// check, as the admin listener mounts it.
func adminServer(t *testing.T) (*httptest.Server, *ban.Banner) {
	t.Helper()
	b, err := ban.New(ban.Options{Log: seclog.New(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	api := ban.AdminHandler(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testAdminToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"unauthorized"}`)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, b
}

func runBanCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"ban"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBanCLI_EndToEnd(t *testing.T) {
	srv, b := adminServer(t)
	t.Setenv("RAMPART_ADMIN_TOKEN", testAdminToken)
	code, out, errOut := runBanCmd("list", "--admin", srv.URL)
	if code != 0 || !strings.Contains(out, "no bans in force") {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runBanCmd("add", "203.0.113.7", "--for", "2h", "--reason", "abuse\x1b[31m", "--admin", srv.URL)
	if code != 0 || !strings.Contains(out, "banned 203.0.113.7/32 until") || !strings.Contains(out, "(2h0m0s)") {
		t.Fatalf("add: %d %q %q", code, out, errOut)
	}
	if _, ok := b.Banned(netip.MustParseAddr("203.0.113.7")); !ok {
		t.Fatal("the ban is not in force in the server")
	}
	code, out, _ = runBanCmd("--admin", srv.URL, "add", "2001:db8::1")
	if code != 0 || !strings.Contains(out, "2001:db8::/64") {
		t.Fatalf("add v6: %d %q", code, out)
	}
	code, out, _ = runBanCmd("list", "--admin", srv.URL)
	if code != 0 || !strings.Contains(out, "203.0.113.7/32") || !strings.Contains(out, "2001:db8::/64") || !strings.Contains(out, "operator") {
		t.Fatalf("list: %d %q", code, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Fatalf("a control character from the reason reached the terminal: %q", out)
	}
	code, out, _ = runBanCmd("remove", "203.0.113.7", "--admin", srv.URL)
	if code != 0 || !strings.Contains(out, "ban of 203.0.113.7/32 lifted") {
		t.Fatalf("remove: %d %q", code, out)
	}
	code, out, _ = runBanCmd("remove", "203.0.113.7", "--admin", srv.URL)
	if code != 0 || !strings.Contains(out, "was not banned") {
		t.Fatalf("remove again: %d %q", code, out)
	}
	// The token from a file.
	t.Setenv("RAMPART_ADMIN_TOKEN", "")
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte(testAdminToken+"\n"), 0o600)
	if code, out, errOut = runBanCmd("list", "--admin", srv.URL, "--token-file", tf); code != 0 {
		t.Fatalf("token file: %d %q %q", code, out, errOut)
	}
}

func TestBanCLI_Errors(t *testing.T) {
	srv, _ := adminServer(t)
	// A port nothing listens on: the admin listener is off.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	off := "http://" + ln.Addr().String()
	ln.Close()
	notBan := httptest.NewServer(http.NotFoundHandler())
	defer notBan.Close()
	for _, c := range []struct {
		name  string
		token string
		args  []string
		code  int
		want  string
	}{
		{"listener off", testAdminToken, []string{"list", "--admin", off}, 1, "cannot reach the admin listener"},
		{"no token", "", []string{"list", "--admin", srv.URL}, 1, "set RAMPART_ADMIN_TOKEN or --token-file"},
		{"wrong token", "nope", []string{"list", "--admin", srv.URL}, 1, "refused the request (401)"},
		{"no ban API", testAdminToken, []string{"list", "--admin", notBan.URL}, 1, "has no ban API"},
		{"token in clear over the network", testAdminToken, []string{"list", "--admin", "http://192.0.2.1:9180"}, 2, "in clear"},
		{"bad admin URL", "", []string{"list", "--admin", "127.0.0.1:9180"}, 2, "write the admin listener's URL"},
		{"bad address", testAdminToken, []string{"add", "example.com", "--admin", srv.URL}, 2, "not an address"},
		{"everyone", testAdminToken, []string{"add", "0.0.0.0/0", "--admin", srv.URL}, 2, "every client"},
		{"missing address", testAdminToken, []string{"add", "--admin", srv.URL}, 2, "takes one address"},
		{"unknown command", testAdminToken, []string{"purge"}, 2, "unknown ban command"},
		{"for on remove", testAdminToken, []string{"remove", "1.2.3.4", "--for", "1h"}, 2, "go with ban add"},
		{"token file missing", "", []string{"list", "--token-file", "/nonexistent/token"}, 2, "--token-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("RAMPART_ADMIN_TOKEN", c.token)
			code, _, errOut := runBanCmd(c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, c.code, c.want)
			}
			if c.token != "" && strings.Contains(errOut, c.token) {
				t.Fatalf("the token is printed: %q", errOut)
			}
		})
	}
}
