package auth

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// instance is one rampart's login stage and auto-ban, sharing Redis with
// the others as the gateway wires them: the Banner watches the instance's
// security log and keeps its bans and counts in the same store.
func banInstance(t *testing.T, usersFile, prefix string, secret []byte) (http.Handler, *ban.Banner) {
	t.Helper()
	dir := t.TempDir()
	local, err := state.OpenEmbedded(filepath.Join(dir, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	quiet := slog.New(slog.DiscardHandler)
	rs, err := state.NewRedis(state.RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: prefix, Local: local, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	sec := seclog.New(quiet)
	b, err := ban.New(ban.Options{MaxRetry: 4, Store: rs, Log: sec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	sec.Observe(b.Observe)
	g, err := New(Options{Users: users.Options{Path: usersFile}, Session: session.Options{Secret: secret}},
		Deps{Store: rs, Sec: sec, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("application")) })
	return b.Handler(g.Identify(g.Handler(app))), b
}

// Real failed logins, split between two instances sharing the real
// redis-server, ban the client on both: neither saw enough on its own.
func TestAutoBan_FailedLoginsAcrossTwoInstances(t *testing.T) {
	testenv.Redis(t)
	dir := t.TempDir()
	password := rand.Text()
	hash, err := users.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersFile, []byte("users:\n  - name: alice\n    hash: '"+hash+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var p [6]byte
	rand.Read(p[:])
	prefix := "rampart-test-autoban-" + hex.EncodeToString(p[:]) + ":"
	secret := make([]byte, 32)
	rand.Read(secret)
	ha, ba := banInstance(t, usersFile, prefix, secret)
	hb, bb := banInstance(t, usersFile, prefix, secret)

	login := func(h http.Handler, peer, pw string) int {
		form := url.Values{"username": {"alice"}, "password": {pw}}
		r := httptest.NewRequest(http.MethodPost, "https://app.test"+LoginPath, strings.NewReader(form.Encode()))
		r.RemoteAddr = peer
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Sec-Fetch-Mode", "navigate")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	attacker, other := "203.0.113.66", "198.51.100.5"
	// A request without credentials gets 401 or a login page: never
	// counted.
	for range 10 {
		r := httptest.NewRequest(http.MethodGet, "https://app.test/private", nil)
		r.RemoteAddr = attacker + ":1"
		ha.ServeHTTP(httptest.NewRecorder(), r)
	}
	wrong := func(h http.Handler, client string) {
		t.Helper()
		if c := login(h, client+":1", "wrong password "+rand.Text()); c == http.StatusSeeOther {
			t.Fatal("a wrong password signed in")
		}
	}
	banned := func(b *ban.Banner, client string) bool {
		_, ok := b.Banned(netip.MustParseAddr(client))
		return ok
	}
	// Three wrong passwords, one short of MaxRetry.
	for _, h := range []http.Handler{ha, hb, ha} {
		wrong(h, attacker)
	}
	// A sentinel client reaches MaxRetry after them: once each instance
	// has banned it, each has counted everything before, so the 10
	// unauthenticated requests and the 3 failures have not banned the
	// attacker.
	sentinel := "192.0.2.77"
	for _, h := range []http.Handler{ha, hb, ha, hb} {
		wrong(h, sentinel)
	}
	for name, b := range map[string]*ban.Banner{"A": ba, "B": bb} {
		for deadline := time.Now().Add(15 * time.Second); !banned(b, sentinel); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("instance %s never banned the sentinel", name)
			}
		}
		if banned(b, attacker) {
			t.Fatalf("instance %s banned the attacker below MaxRetry: the requests without credentials were counted", name)
		}
	}
	// The fourth wrong password, on the other instance.
	wrong(hb, attacker)
	for name, b := range map[string]*ban.Banner{"A": ba, "B": bb} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, ok := b.Banned(netip.MustParseAddr(attacker)); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %s never banned the client", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Banned: even the right password gets 403 now, on both.
	for _, h := range []http.Handler{ha, hb} {
		if c := login(h, attacker+":1", password); c != http.StatusForbidden {
			t.Fatalf("banned client signing in: %d", c)
		}
	}
	// Another client signs in.
	if c := login(hb, other+":1", password); c != http.StatusSeeOther {
		t.Fatalf("another client: %d", c)
	}
}
