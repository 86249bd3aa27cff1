package state

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/seclog"
)

// waitFor polls cond; the bound only stops a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: never happened", what)
}

func banner(t *testing.T, s ban.Store, maxRetry int) *ban.Banner {
	t.Helper()
	b, err := ban.New(ban.Options{Store: s, MaxRetry: maxRetry, Log: seclog.New(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func fail(b *ban.Banner, addr string) {
	b.Observe(seclog.Record{Action: seclog.AuthnLoginFail, Client: netip.MustParseAddr(addr), Count: 1})
}

func banned(b *ban.Banner, addr string) bool {
	_, ok := b.Banned(netip.MustParseAddr(addr))
	return ok
}

// Bans are kept in the file: a restarted instance enforces them, and a
// lifted ban stays lifted.
func TestEmbedded_BansSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	e, err := OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	b := banner(t, e, 3)
	for range 3 {
		fail(b, "203.0.113.9")
	}
	waitFor(t, "ban", func() bool { return banned(b, "203.0.113.9") })
	ctx := context.Background()
	if _, err := b.Ban(ctx, netip.MustParsePrefix("198.51.100.0/24"), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ban(ctx, netip.MustParsePrefix("192.0.2.0/24"), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Unban(ctx, netip.MustParsePrefix("192.0.2.0/24")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	e.Close()

	e, err = OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b = banner(t, e, 3)
	for addr, want := range map[string]bool{"203.0.113.9": true, "198.51.100.77": true, "192.0.2.1": false, "203.0.113.8": false} {
		if got := banned(b, addr); got != want {
			t.Errorf("after reopen, %s banned: %v, want %v", addr, got, want)
		}
	}
	// Sweep drops records past their Forget time only.
	if err := e.Sweep(time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.banRecords(time.Now()); len(recs) != 3 {
		t.Fatalf("after a sweep now: %d records, want 3 (two bans, one lifted)", len(recs))
	}
	if err := e.Sweep(time.Now().Add(30*24*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.banRecords(time.Time{}); len(recs) != 0 {
		t.Fatalf("after a sweep in a month: %d records", len(recs))
	}
}

// Two instances share one redis-server: failures seen by each add up to
// a ban, which both enforce; a ban or unban made on one reaches the other.
func TestRedis_FailuresAcrossInstancesBan(t *testing.T) {
	a := redisStore(t, "")
	b, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: a.p, Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ba, bb := banner(t, a, 6), banner(t, b, 6)
	// Three failures on each: neither instance alone reaches 6.
	for range 3 {
		fail(ba, "203.0.113.50")
		fail(bb, "203.0.113.50")
	}
	waitFor(t, "ban on instance A", func() bool { return banned(ba, "203.0.113.50") })
	waitFor(t, "ban on instance B", func() bool { return banned(bb, "203.0.113.50") })
	if banned(ba, "203.0.113.51") {
		t.Fatal("a neighbour is banned")
	}
	ctx := context.Background()
	if _, err := ba.Ban(ctx, netip.MustParsePrefix("2001:db8:5::/48"), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "operator's ban on B", func() bool { return banned(bb, "2001:db8:5:1::1") })
	if _, err := bb.Unban(ctx, netip.MustParsePrefix("203.0.113.50/32")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unban on A", func() bool { return !banned(ba, "203.0.113.50") })
	// A third instance starting later reads the bans from Redis.
	c, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: a.p, Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bc := banner(t, c, 6)
	if !banned(bc, "2001:db8:5:ffff::1") || banned(bc, "203.0.113.50") {
		t.Fatal("a new instance does not start with the shared bans")
	}
}

// While Redis cannot be reached a ban is enforced by the instance that
// made it, kept in its file, and pushed to Redis once it is back
// (Replay); an instance cut off when a ban was announced learns of it on
// reconnection.
func TestRedis_BansDuringOutage(t *testing.T) {
	a := redisStore(t, "")
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	local := embedded(t)
	b, err := NewRedis(RedisOptions{URL: "redis://" + link.Addr + "/0", Prefix: a.p, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ba, bb := banner(t, a, 3), banner(t, b, 3)
	ctx := context.Background()
	link.Down()
	// B counts locally meanwhile (fail_local) and bans.
	for range 3 {
		fail(bb, "198.51.100.20")
	}
	waitFor(t, "local ban on B", func() bool { return banned(bb, "198.51.100.20") })
	// A bans while B is cut off.
	if _, err := ba.Ban(ctx, netip.MustParsePrefix("198.51.100.21/32"), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's ban marked pending", func() bool { return local.mark(bansPendingMark) })
	link.Up()
	waitFor(t, "A's ban reaches B after reconnection", func() bool { return banned(bb, "198.51.100.21") })
	waitFor(t, "replay", func() bool { return b.Replay(ctx, time.Now()) == nil && !local.mark(bansPendingMark) })
	waitFor(t, "B's ban reaches A", func() bool { return banned(ba, "198.51.100.20") })
}

// A ban another instance made is kept in this instance's file too: after
// a restart while Redis is down, it is still enforced.
func TestRedis_RemoteBanKeptLocally(t *testing.T) {
	a := redisStore(t, "")
	dir := t.TempDir()
	local, err := OpenEmbedded(filepath.Join(dir, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: a.p, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	ba, bb := banner(t, a, 3), banner(t, b, 3)
	if _, err := ba.Ban(context.Background(), netip.MustParsePrefix("192.0.2.77/32"), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's ban reaches B", func() bool { return banned(bb, "192.0.2.77") })
	bb.Close()
	b.Close()
	local.Close()

	// B restarts with its file alone (Redis out of reach).
	reopened, err := OpenEmbedded(filepath.Join(dir, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if !banned(banner(t, reopened, 3), "192.0.2.77") {
		t.Error("after a restart without Redis, the ban another instance made is forgotten")
	}
}
