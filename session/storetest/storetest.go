// Package storetest checks a session.Store against the contract written on
// the interface: every outcome of Rotate (two concurrent rotations of one
// token included), revocations of a session and of a user's sessions, the
// revocation feed, expiry. An implementation's test calls Run with a
// constructor of empty stores, and RunShared when several Store values can
// share one backend (several instances on one Redis):
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) session.Store { return newStore(t) })
//	}
//
// Times are whole seconds around the real clock (a store with TTLs keeps
// every entry for the test's length), never exactly on an edge.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/session"
)

// Bounds of the test's waits: a revocation must reach a subscriber within
// this (a failure, never a measure of speed).
const wait = 10 * time.Second

const (
	grace = 10 * time.Second
	idle  = time.Hour
)

// Run checks the stores newStore makes, each test on a new one.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"RotateCurrentTokenRotates", testRotate},
		{"RotateSuccessorRotatesAgain", testRotateChain},
		{"PreviousTokenWithinGraceIsGrace", testGrace},
		{"PreviousTokenAfterGraceIsReusedAndRevokesFamily", testReuseAfterGrace},
		{"OlderTokenIsReusedEvenWithinGrace", testReuseOlder},
		{"UnknownTokenIsUnknown", testUnknown},
		{"PastAbsoluteEndIsExpired", testAbsolute},
		{"PastIdleTimeoutIsExpired", testIdle},
		{"RevokedSessionIsRevoked", testRevokeSession},
		{"RevokedUserEndsSessionsBegunBefore", testRevokeUser},
		{"ConcurrentRotationsOneRotatedOneGrace", func(t *testing.T, s session.Store) { testConcurrent(t, s, s) }},
		{"CreateFamilyRefusesSessionIDInUse", testDuplicateID},
		{"RevocationsListsOnlyThoseInForce", testRevocationsList},
		{"RevocationsChannelDeliversNewRevocations", func(t *testing.T, s session.Store) { testFeed(t, s, s) }},
		{"RevocationsChannelClosedWhenContextDone", testFeedClosed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// RunShared checks Store values sharing one backend, as several instances
// do: newPair returns two values on the same, empty backend. A revocation
// made through one reaches the other's Revocations channel; a family
// created through one rotates through the other; concurrent rotations
// through both give one Rotated and one Grace.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b session.Store)) {
	t.Run("RevocationThroughOneReachesTheOther", func(t *testing.T) {
		a, b := newPair(t)
		testFeed(t, a, b)
	})
	t.Run("FamilyCreatedThroughOneRotatesThroughTheOther", func(t *testing.T) {
		a, b := newPair(t)
		ctx := context.Background()
		base := now()
		f, tok := family(t, a, "alice", base)
		r := rotate(t, b, tok, newToken(), base.Add(time.Minute))
		expect(t, r, session.Rotated)
		if r.Family.ID != f.ID {
			t.Errorf("Family.ID = %q, want %q", r.Family.ID, f.ID)
		}
		if err := a.RevokeSession(ctx, f.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		expect(t, rotate(t, b, tok, newToken(), base.Add(2*time.Minute)), session.Revoked)
	})
	t.Run("ConcurrentRotationsThroughBothOneRotatedOneGrace", func(t *testing.T) {
		a, b := newPair(t)
		testConcurrent(t, a, b)
	})
}

// name makes a user or session name unique to one test, for backends
// shared between tests.
func name(prefix string) string { return prefix + "-" + newID()[:8] }

func now() time.Time { return time.Now().Truncate(time.Second) }

func newToken() [32]byte {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return sha256.Sum256(b[:])
}

func newID() string {
	t := newToken()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	id := make([]byte, 22)
	for i := range id {
		id[i] = alphabet[t[i]&63]
	}
	return string(id)
}

// family creates a family of user begun at created, lasting a day.
func family(t *testing.T, s session.Store, user string, created time.Time) (session.Family, [32]byte) {
	t.Helper()
	f := session.Family{ID: newID(), User: user, Roles: []string{"admin", "staff"}, Created: created, LastUsed: created, Expires: created.Add(24 * time.Hour)}
	tok := newToken()
	if err := s.CreateFamily(context.Background(), f, tok); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	return f, tok
}

func rotate(t *testing.T, s session.Store, old, next [32]byte, at time.Time) session.Rotation {
	t.Helper()
	r, err := s.Rotate(context.Background(), old, next, at, grace, idle)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return r
}

func expect(t *testing.T, r session.Rotation, want session.Outcome) {
	t.Helper()
	if r.Outcome != want {
		t.Fatalf("Rotate = %v, want %v", r.Outcome, want)
	}
}

func sameFamily(t *testing.T, got, want session.Family) {
	t.Helper()
	if got.ID != want.ID || got.User != want.User || !slices.Equal(got.Roles, want.Roles) ||
		!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) || !got.LastUsed.Equal(want.LastUsed) {
		t.Errorf("Family = %+v, want %+v", got, want)
	}
}

func testRotate(t *testing.T, s session.Store) {
	base := now()
	f, tok := family(t, s, "alice", base)
	at := base.Add(time.Minute)
	r := rotate(t, s, tok, newToken(), at)
	expect(t, r, session.Rotated)
	f.LastUsed = at
	sameFamily(t, r.Family, f)
}

func testRotateChain(t *testing.T, s session.Store) {
	base := now()
	_, tok := family(t, s, "alice", base)
	next := newToken()
	expect(t, rotate(t, s, tok, next, base.Add(time.Minute)), session.Rotated)
	third := newToken()
	expect(t, rotate(t, s, next, third, base.Add(2*time.Hour/3)), session.Rotated)
	expect(t, rotate(t, s, third, newToken(), base.Add(time.Hour)), session.Rotated)
}

func testGrace(t *testing.T, s session.Store) {
	base := now()
	f, tok := family(t, s, "alice", base)
	next := newToken()
	at := base.Add(time.Minute)
	expect(t, rotate(t, s, tok, next, at), session.Rotated)
	// The second tab, a second later, presents the token the first one
	// just rotated: let in, nothing changed.
	r := rotate(t, s, tok, newToken(), at.Add(time.Second))
	expect(t, r, session.Grace)
	f.LastUsed = at
	sameFamily(t, r.Family, f)
	// The successor the first tab got is still the current token; the
	// token proposed during the grace was never installed.
	expect(t, rotate(t, s, next, newToken(), at.Add(2*time.Second)), session.Rotated)
}

func testReuseAfterGrace(t *testing.T, s session.Store) {
	ctx := context.Background()
	base := now()
	f, tok := family(t, s, "alice", base)
	next := newToken()
	at := base.Add(time.Minute)
	expect(t, rotate(t, s, tok, next, at), session.Rotated)
	r := rotate(t, s, tok, newToken(), at.Add(grace+time.Second))
	expect(t, r, session.Reused)
	if r.Family.ID != f.ID || r.Family.User != f.User {
		t.Errorf("Family = %+v, want session %q of %q", r.Family, f.ID, f.User)
	}
	// The whole family is revoked: the legitimate successor too.
	expect(t, rotate(t, s, next, newToken(), at.Add(grace+2*time.Second)), session.Revoked)
	list, _ := revocations(t, s, ctx, at.Add(grace+3*time.Second))
	if !hasSession(list, f.ID) {
		t.Errorf("Revocations = %+v, want session %q revoked", list, f.ID)
	}
}

func testReuseOlder(t *testing.T, s session.Store) {
	base := now()
	_, t0 := family(t, s, "alice", base)
	t1, t2 := newToken(), newToken()
	at := base.Add(time.Minute)
	expect(t, rotate(t, s, t0, t1, at), session.Rotated)
	expect(t, rotate(t, s, t1, t2, at.Add(time.Second)), session.Rotated)
	// t0 is two rotations old: only the token just before the current
	// one has a grace.
	expect(t, rotate(t, s, t0, newToken(), at.Add(2*time.Second)), session.Reused)
	expect(t, rotate(t, s, t2, newToken(), at.Add(3*time.Second)), session.Revoked)
}

func testUnknown(t *testing.T, s session.Store) {
	base := now()
	family(t, s, "alice", base)
	r := rotate(t, s, newToken(), newToken(), base.Add(time.Minute))
	expect(t, r, session.Unknown)
	if r.Family.ID != "" {
		t.Errorf("Family = %+v, want the zero Family", r.Family)
	}
}

func testAbsolute(t *testing.T, s session.Store) {
	base := now()
	f, tok := family(t, s, "alice", base)
	// Kept alive by a refresh every 50 minutes, the session still ends at
	// f.Expires.
	at := base
	for at.Add(50 * time.Minute).Before(f.Expires) {
		at = at.Add(50 * time.Minute)
		next := newToken()
		expect(t, rotate(t, s, tok, next, at), session.Rotated)
		tok = next
	}
	r := rotate(t, s, tok, newToken(), f.Expires.Add(time.Second))
	expect(t, r, session.Expired)
	if r.Family.ID != f.ID {
		t.Errorf("Family.ID = %q, want %q", r.Family.ID, f.ID)
	}
}

func testIdle(t *testing.T, s session.Store) {
	base := now()
	_, tok := family(t, s, "alice", base)
	next := newToken()
	expect(t, rotate(t, s, tok, next, base.Add(time.Minute)), session.Rotated)
	expect(t, rotate(t, s, next, newToken(), base.Add(time.Minute+idle+time.Second)), session.Expired)
}

func testRevokeSession(t *testing.T, s session.Store) {
	ctx := context.Background()
	base := now()
	f, tok := family(t, s, "alice", base)
	other, otherTok := family(t, s, "alice", base)
	until := base.Add(time.Hour)
	if err := s.RevokeSession(ctx, f.ID, until); err != nil {
		t.Fatal(err)
	}
	expect(t, rotate(t, s, tok, newToken(), base.Add(time.Minute)), session.Revoked)
	// The family stays revoked after the access-token denylist entry has
	// lapsed.
	expect(t, rotate(t, s, tok, newToken(), until.Add(time.Minute)), session.Revoked)
	expect(t, rotate(t, s, otherTok, newToken(), base.Add(time.Minute)), session.Rotated)
	list, _ := revocations(t, s, ctx, base.Add(time.Minute))
	if !hasSession(list, f.ID) || hasSession(list, other.ID) {
		t.Errorf("Revocations = %+v, want %q revoked, %q not", list, f.ID, other.ID)
	}
}

func testRevokeUser(t *testing.T, s session.Store) {
	ctx := context.Background()
	base := now()
	alice, bob := name("alice"), name("bob")
	_, before := family(t, s, alice, base.Add(-10*time.Second))
	_, after := family(t, s, alice, base.Add(10*time.Second))
	_, bobTok := family(t, s, bob, base.Add(-10*time.Second))
	until := base.Add(25 * time.Hour)
	if err := s.RevokeUser(ctx, alice, base, until); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Minute)
	expect(t, rotate(t, s, before, newToken(), at), session.Revoked)
	expect(t, rotate(t, s, after, newToken(), at), session.Rotated)
	expect(t, rotate(t, s, bobTok, newToken(), at), session.Rotated)
	list, _ := revocations(t, s, ctx, at)
	var found bool
	for _, r := range list {
		if r.User == alice {
			found = r.Before.Equal(base) && r.Until.Equal(until)
		}
		if r.User == bob {
			t.Errorf("Revocations lists bob: %+v", r)
		}
	}
	if !found {
		t.Errorf("Revocations = %+v, want alice before %v until %v", list, base, until)
	}
}

func testConcurrent(t *testing.T, a, b session.Store) {
	base := now()
	for i := range 20 {
		_, tok := family(t, a, "alice", base)
		at := base.Add(time.Duration(i+1) * time.Minute)
		var wg sync.WaitGroup
		var got [2]session.Rotation
		var errs [2]error
		start := make(chan struct{})
		for j, s := range []session.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[j], errs[j] = s.Rotate(context.Background(), tok, newToken(), at, grace, idle)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
		}
		outcomes := []session.Outcome{got[0].Outcome, got[1].Outcome}
		slices.Sort(outcomes)
		if outcomes[0] != session.Rotated || outcomes[1] != session.Grace {
			t.Fatalf("two concurrent rotations of one token: %v, want one rotated and one grace", outcomes)
		}
	}
}

func testDuplicateID(t *testing.T, s session.Store) {
	ctx := context.Background()
	base := now()
	f, tok := family(t, s, "alice", base)
	g := f
	g.User = "mallory"
	if err := s.CreateFamily(ctx, g, newToken()); err == nil {
		t.Fatal("CreateFamily accepted a session id already in use")
	}
	if err := s.RevokeSession(ctx, f.ID, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFamily(ctx, g, newToken()); err == nil {
		t.Fatal("CreateFamily replaced a revoked session")
	}
	expect(t, rotate(t, s, tok, newToken(), base.Add(time.Minute)), session.Revoked)
}

func testRevocationsList(t *testing.T, s session.Store) {
	ctx := context.Background()
	base := now()
	short, long, alice := name("short"), name("long"), name("alice")
	if err := s.RevokeSession(ctx, short, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, long, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeUser(ctx, alice, base, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, _ := revocations(t, s, ctx, base)
	if !hasSession(list, short) || !hasSession(list, long) || !hasUser(list, alice) {
		t.Errorf("Revocations at the start = %+v, want short, long and alice", list)
	}
	list, _ = revocations(t, s, ctx, base.Add(2*time.Minute))
	if hasSession(list, short) || !hasSession(list, long) || hasUser(list, alice) {
		t.Errorf("Revocations after two minutes = %+v, want long only", list)
	}
	for _, r := range list {
		if r.Session == long && !r.Until.Equal(base.Add(time.Hour)) {
			t.Errorf("Until = %v, want %v", r.Until, base.Add(time.Hour))
		}
	}
}

func testFeed(t *testing.T, sub, rev session.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := now()
	s1, alice := name("s1"), name("alice")
	_, ch := revocations(t, sub, ctx, base)
	if err := rev.RevokeSession(context.Background(), s1, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := rev.RevokeUser(context.Background(), alice, base, base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f, tok := family(t, rev, "bob", base)
	next := newToken()
	expect(t, rotate(t, rev, tok, next, base.Add(time.Minute)), session.Rotated)
	expect(t, rotate(t, rev, tok, newToken(), base.Add(time.Minute+grace+time.Second)), session.Reused)
	var gotSession, gotUser, gotReuse bool
	timeout := time.After(wait)
	for !gotSession || !gotUser || !gotReuse {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatal("the Revocations channel closed while its context is live")
			}
			switch {
			case r.Session == s1:
				gotSession = r.Until.Equal(base.Add(time.Hour))
			case r.User == alice:
				gotUser = r.Before.Equal(base) && r.Until.Equal(base.Add(2*time.Hour))
			case r.Session == f.ID:
				gotReuse = !r.Until.Before(base.Add(time.Minute + grace))
			}
		case <-timeout:
			t.Fatalf("within %v: session revocation %v, user revocation %v, reuse revocation %v", wait, gotSession, gotUser, gotReuse)
		}
	}
}

func testFeedClosed(t *testing.T, s session.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	_, ch := revocations(t, s, ctx, now())
	cancel()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("the Revocations channel still open %v after its context was cancelled", wait)
		}
	}
}

func revocations(t *testing.T, s session.Store, ctx context.Context, at time.Time) ([]session.Revocation, <-chan session.Revocation) {
	t.Helper()
	sub, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	list, ch, err := s.Revocations(sub, at)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	return list, ch
}

func hasSession(list []session.Revocation, sid string) bool {
	return slices.ContainsFunc(list, func(r session.Revocation) bool { return r.Session == sid })
}

func hasUser(list []session.Revocation, user string) bool {
	return slices.ContainsFunc(list, func(r session.Revocation) bool { return r.User == user })
}
