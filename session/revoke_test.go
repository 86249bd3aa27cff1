package session

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestAttack_AccessTokenAfterLogout(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(s.Access); err != nil {
		t.Fatal(err)
	}
	if err := m.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	// Refused at once, not when it expires in an hour (its verification
	// cached before the logout included).
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonRevoked)
	_, err = m.Refresh(ctx, s.Refresh)
	wantReason(t, err, ReasonRevoked)
	// The user's other session is untouched.
	if _, err := m.Verify(other.Access); err != nil {
		t.Fatal(err)
	}
	// Past the token's life, the denylist entry goes; the token is
	// refused as expired.
	c.Add(DefaultAccessTTL + Leeway)
	m.revoked.sweep(c.Now())
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonExpired)
}

func TestLogoutUser_EndsEverySessionOfTheUser(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	a1, _ := m.Start(ctx, "alice", nil)
	c.Add(time.Minute)
	a2, _ := m.Start(ctx, "alice", nil)
	b, _ := m.Start(ctx, "bob", nil)
	// A token re-issued after the revocation for an old session (a
	// refresh racing the revocation) is refused too: auth_time, not iat.
	c.Add(time.Minute)
	for _, tok := range []string{a1.Access, a2.Access} {
		if _, err := m.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.LogoutUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	late, _, err := m.issue(kindAccess, m.o.Audience, Claims{User: "alice", Session: a2.ID, AuthTime: base.Add(time.Minute)}, c.Now(), c.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{a1.Access, a2.Access, late} {
		_, err := m.Verify(tok)
		wantReason(t, err, ReasonRevoked)
	}
	for _, r := range []string{a1.Refresh, a2.Refresh} {
		_, err := m.Refresh(ctx, r)
		wantReason(t, err, ReasonRevoked)
	}
	if _, err := m.Verify(b.Access); err != nil {
		t.Fatalf("another user's session was ended: %v", err)
	}
	// Logging in again, a second later, works.
	c.Add(time.Second)
	again, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(again.Access); err != nil {
		t.Fatalf("a session begun after the revocation is refused: %v", err)
	}
	c.Add(time.Hour)
	if _, err := m.Refresh(ctx, again.Refresh); err != nil {
		t.Fatalf("a session begun after the revocation cannot refresh: %v", err)
	}
}

func TestLogout_OnOneInstanceEnforcedByAnother(t *testing.T) {
	st := NewMemoryStore()
	c := &clock{t: base}
	a, err := New(Options{Secret: testSecret, Now: c.Now}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Options{Secret: testSecret, Now: c.Now}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := a.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := a.Start(ctx, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{s.Access, t2.Access} {
		if _, err := b.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(time.Second) // the user revocation ends sessions begun before it
	if err := a.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.LogoutUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, b, s.Access)
	waitRefused(t, b, t2.Access)
}

// waitRefused waits, at most 10 s, for m to refuse tok as revoked: the
// revocation travels through the store's feed.
func waitRefused(t *testing.T, m *Manager, tok string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := m.Verify(tok)
		if ReasonOf(err) == ReasonRevoked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other instance still answers %v after 10s", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRevocations_LoadedAtNew(t *testing.T) {
	st := NewMemoryStore()
	c := &clock{t: base}
	a, err := New(Options{Secret: testSecret, Now: c.Now}, st)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := a.Start(ctx, "alice", nil)
	if err := a.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	a.Close()
	// A restarted instance knows the revocation before its first request.
	b, err := New(Options{Secret: testSecret, Now: c.Now}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Verify(s.Access)
	wantReason(t, err, ReasonRevoked)
}

func TestRevocations_ExpiredDroppedFromMemory(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, _ := m.Start(ctx, "alice", nil)
	if err := m.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.LogoutUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if n := m.revoked.len(); n != 2 {
		t.Fatalf("%d revocations in memory, want 2", n)
	}
	c.Add(DefaultAccessTTL + Leeway)
	m.revoked.sweep(c.Now())
	if n := m.revoked.len(); n != 1 {
		t.Fatalf("%d revocations in memory after the session's tokens expired, want the user's only", n)
	}
	c.Add(DefaultAbsoluteTimeout)
	m.revoked.sweep(c.Now())
	if n := m.revoked.len(); n != 0 || !m.revoked.empty.Load() {
		t.Fatalf("%d revocations in memory after they all lapsed", n)
	}
}

func TestLogout_StoreDownStillRefusedHere(t *testing.T) {
	fs := &failingStore{Store: NewMemoryStore()}
	c := &clock{t: base}
	m, err := New(Options{Secret: testSecret, Now: c.Now}, fs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, _ := m.Start(ctx, "alice", nil)
	fs.fail = true
	if err := m.Logout(ctx, s.ID); err == nil {
		t.Fatal("the store's failure was not reported")
	}
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonRevoked)
}

func TestRevocations_FeedResumedWhenItEnds(t *testing.T) {
	fs := &flakyFeedStore{MemoryStore: NewMemoryStore()}
	c := &clock{t: base}
	m, err := New(Options{Secret: testSecret, Now: c.Now}, fs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	other, err := New(Options{Secret: testSecret, Now: c.Now}, fs.MemoryStore)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s, _ := other.Start(ctx, "alice", nil)
	fs.endFirstFeed()
	// Revoked while m has no feed: the resumed feed's list brings it.
	if err := other.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, m, s.Access)
}

// flakyFeedStore ends its first revocation feed on demand, as a store
// losing its connection does.
type flakyFeedStore struct {
	*MemoryStore
	mu     sync.Mutex
	first  context.CancelFunc
	opened int
}

func (f *flakyFeedStore) Revocations(ctx context.Context, now time.Time) ([]Revocation, <-chan Revocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened++
	if f.opened == 1 {
		sub, cancel := context.WithCancel(ctx)
		f.first = cancel
		return f.MemoryStore.Revocations(sub, now)
	}
	return f.MemoryStore.Revocations(ctx, now)
}

func (f *flakyFeedStore) endFirstFeed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.first()
}

func TestClose_StopsFollowing(t *testing.T) {
	st := NewMemoryStore()
	m, err := New(Options{Secret: testSecret}, st)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	m.Close() // idempotent
	select {
	case <-m.done:
	default:
		t.Fatal("the feed goroutine still runs after Close")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	_ = st.subs // the subscription ends with its goroutine (checked by the store's own test)
}

// Inspect names the session of an expired token, to end it; it never
// accepts a forged or revoked one, nor stands in for Verify.
func TestInspect_ExpiredTokenStillNamesItsSession(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(DefaultAccessTTL + 2*Leeway)
	if _, err := m.Verify(s.Access); ReasonOf(err) != ReasonExpired {
		t.Fatalf("Verify of an expired token: %v", err)
	}
	got, ok := m.Inspect(s.Access)
	if !ok || got.Session != s.ID || got.User != "alice" {
		t.Fatalf("Inspect = %+v, %v", got, ok)
	}
	// A character in the middle of the signature, changed: its end
	// often carries no bits (S < 2^253).
	i := len(s.Access) - 20
	flip := byte('A')
	if s.Access[i] == 'A' {
		flip = 'B'
	}
	if _, ok := m.Inspect(s.Access[:i] + string(flip) + s.Access[i+1:]); ok {
		t.Errorf("Inspect accepted a tampered signature: %s", s.Access)
	}
	other, _, _ := newTestManager(t, func(o *Options) { o.Secret = []byte("another secret of thirty-two bytes!!") })
	if _, ok := other.Inspect(s.Access); ok {
		t.Error("Inspect accepted another secret's token")
	}
	if err := m.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Inspect(s.Access); ok {
		t.Error("Inspect accepted a revoked session's token")
	}
}
