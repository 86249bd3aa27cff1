package auth

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/state"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newThrottle(t *testing.T) (*throttle, *clock) {
	t.Helper()
	st, err := state.OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	return &throttle{c: st, now: c.now}, c
}

func isBlocked(t *testing.T, th *throttle, k throttleKeys) bool {
	t.Helper()
	until, err := th.blocked(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return !until.IsZero()
}

var (
	attacker = netip.MustParseAddr("127.0.0.66")
	home     = netip.MustParseAddr("127.0.0.7")
)

// Five free guesses per (name, address), then a doubling wait before each
// next one.
func TestAttack_PasswordGuessingBacksOff(t *testing.T) {
	th, clk := newThrottle(t)
	ctx := context.Background()
	k := keysFor("alice", attacker)
	for i := 1; i < PairFreeFailures; i++ {
		fc, err := th.fail(ctx, k)
		if err != nil || fc.wait != 0 || isBlocked(t, th, k) {
			t.Fatalf("failure %d already waits %v (%v)", i, fc.wait, err)
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		fc, err := th.fail(ctx, k)
		if err != nil || fc.wait != w {
			t.Fatalf("failure %d: wait %v, want %v (%v)", PairFreeFailures+i, fc.wait, w, err)
		}
		if !isBlocked(t, th, k) {
			t.Fatalf("failure %d: no block", PairFreeFailures+i)
		}
		clk.advance(w - time.Millisecond)
		if !isBlocked(t, th, k) {
			t.Fatalf("block ended early")
		}
		clk.advance(time.Millisecond)
		if isBlocked(t, th, k) {
			t.Fatalf("block outlived its wait")
		}
	}
}

// An attacker guessing alice's password from elsewhere does not lock
// alice out at home.
func TestAttack_LockoutOfARealUserFromElsewhereFails(t *testing.T) {
	th, _ := newThrottle(t)
	ctx := context.Background()
	for range 3 * PairFreeFailures {
		th.fail(ctx, keysFor("alice", attacker))
	}
	if !isBlocked(t, th, keysFor("alice", attacker)) {
		t.Fatal("the attacker is not slowed down")
	}
	if isBlocked(t, th, keysFor("alice", home)) {
		t.Fatal("alice is locked out at home by failures elsewhere")
	}
}

// Credential stuffing against one name from many addresses raises the
// alarm, and then every address with a failure for that name waits.
func TestAttack_DistributedGuessingOfOneUser(t *testing.T) {
	th, _ := newThrottle(t)
	ctx := context.Background()
	var alarmed bool
	for i := range UserAlarmFailures {
		addr := netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
		fc, err := th.fail(ctx, keysFor("alice", addr))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range fc.alarm {
			alarmed = alarmed || a == "user"
		}
	}
	if !alarmed {
		t.Fatal("no alarm after a spread attack")
	}
	next := netip.MustParseAddr("127.2.0.1")
	if fc, _ := th.fail(ctx, keysFor("alice", next)); fc.wait == 0 {
		t.Error("during the alarm, a first failure from a new address costs nothing")
	}
	if isBlocked(t, th, keysFor("alice", home)) {
		t.Error("alice at home, without a failure, is blocked")
	}
}

// One address trying many names waits too.
func TestAttack_OneAddressManyNames(t *testing.T) {
	th, _ := newThrottle(t)
	ctx := context.Background()
	for i := range AddressFreeFailures {
		th.fail(ctx, keysFor("user"+string(rune('a'+i)), attacker))
	}
	if !isBlocked(t, th, keysFor("somebody-new", attacker)) {
		t.Error("an address that failed on 20 names tries a 21st at once")
	}
	if isBlocked(t, th, keysFor("somebody-new", home)) {
		t.Error("another address is blocked")
	}
}

// A success forgets the pair's failures but not the alarm counts.
func TestSuccessResetsThePair(t *testing.T) {
	th, _ := newThrottle(t)
	ctx := context.Background()
	k := keysFor("alice", home)
	for range PairFreeFailures - 1 {
		th.fail(ctx, k)
	}
	th.success(ctx, k)
	if fc, _ := th.fail(ctx, k); fc.pair != 1 || fc.user != PairFreeFailures {
		t.Errorf("after a success: pair %d, user %d", fc.pair, fc.user)
	}
}

// Names are compared without case and never stored as typed; IPv6
// addresses count per /64.
func TestKeys(t *testing.T) {
	a := keysFor("Alice", netip.MustParseAddr("::1"))
	b := keysFor("alice", netip.MustParseAddr("::1"))
	if a != b {
		t.Errorf("case matters: %v %v", a, b)
	}
	c := keysFor("alice", netip.MustParseAddr("2001:db8::1"))
	d := keysFor("alice", netip.MustParseAddr("2001:db8::ffff"))
	if c.addr != d.addr {
		t.Errorf("one /64, two keys: %s %s", c.addr, d.addr)
	}
	if len(keysFor(string(make([]byte, 5000)), home).pair) > 80 {
		t.Error("a long name makes a long key")
	}
}
