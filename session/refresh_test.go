package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var ctx = context.Background()

func TestStart_IssuesAccessAndRefreshStoresOnlyTheHash(t *testing.T) {
	m, _, st := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", []string{"staff"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Verify(s.Access)
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "alice" || c.Session != s.ID || !slices.Equal(c.Roles, []string{"staff"}) || !c.AuthTime.Equal(base) {
		t.Fatalf("claims %+v", c)
	}
	if len(s.Refresh) != 43 || !s.AccessExpires.Equal(base.Add(time.Hour)) || !s.RefreshExpires.Equal(base.Add(DefaultIdleTimeout)) {
		t.Fatalf("session %+v", s)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s.Refresh)
	if err != nil || len(raw) != 32 {
		t.Fatalf("refresh token %q: %d bytes, %v", s.Refresh, len(raw), err)
	}
	mf := st.families[s.ID]
	if mf == nil || mf.current != sha256.Sum256(raw) {
		t.Fatal("the store does not know the refresh token by its SHA-256")
	}
	if _, ok := st.tokens[[32]byte(raw)]; ok {
		t.Fatal("the store holds the refresh token itself")
	}
	if !mf.f.Expires.Equal(base.Add(DefaultAbsoluteTimeout)) {
		t.Fatalf("family %+v", mf.f)
	}
}

func TestRefresh_RotatesOnEveryUse(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", []string{"staff"})
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Refresh
	for range 3 {
		c.Add(50 * time.Minute)
		r, err := m.Refresh(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != Rotated || r.Refresh == "" || r.Refresh == tok || r.ID != s.ID || r.User != "alice" {
			t.Fatalf("refresh %+v", r)
		}
		got, err := m.Verify(r.Access)
		if err != nil {
			t.Fatal(err)
		}
		if !got.AuthTime.Equal(base) || got.Session != s.ID {
			t.Fatalf("claims %+v", got)
		}
		tok = r.Refresh
	}
}

func TestAttack_ReplayedRefreshAfterRotation(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	r, err := m.Refresh(ctx, s.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	// The attacker replays the stolen, rotated token after the grace.
	c.Add(DefaultRefreshGrace + time.Second)
	_, err = m.Refresh(ctx, s.Refresh)
	wantReason(t, err, ReasonReused)
	var e *Error
	if !errors.As(err, &e) || e.User != "alice" || e.Session != s.ID {
		t.Fatalf("reuse error %+v: the log needs the user and session", e)
	}
	// The whole family is revoked: the legitimate successor too, and the
	// session's access tokens at once.
	_, err = m.Refresh(ctx, r.Refresh)
	wantReason(t, err, ReasonRevoked)
	_, err = m.Verify(r.Access)
	wantReason(t, err, ReasonRevoked)
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonRevoked)
}

func TestRefresh_ParallelTabsWithinGraceStayLoggedIn(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", []string{"staff"})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	var wg sync.WaitGroup
	var res [2]Result
	var errs [2]error
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = m.Refresh(ctx, s.Refresh)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("a tab was logged out: %v, %v", errs[0], errs[1])
	}
	if res[0].Outcome == Grace {
		res[0], res[1] = res[1], res[0]
	}
	first, second := res[0], res[1]
	if first.Outcome != Rotated || second.Outcome != Grace {
		t.Fatalf("outcomes %v and %v, want rotated and grace", first.Outcome, second.Outcome)
	}
	if second.Refresh != "" || !second.RefreshExpires.IsZero() {
		t.Fatal("the grace answer sets a new refresh token, which would replace the successor")
	}
	for _, r := range res {
		if _, err := m.Verify(r.Access); err != nil {
			t.Fatalf("an access token of the refresh is refused: %v", err)
		}
	}
	// The browser kept the first response's successor: it still works.
	c.Add(time.Hour)
	if _, err := m.Refresh(ctx, first.Refresh); err != nil {
		t.Fatalf("the successor is refused: %v", err)
	}
}

func TestRefresh_IdleTimeout(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(DefaultIdleTimeout + time.Second)
	_, err = m.Refresh(ctx, s.Refresh)
	wantReason(t, err, ReasonSessionExpired)
}

func TestRefresh_AbsoluteTimeout(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	end := base.Add(DefaultAbsoluteTimeout)
	tok := s.Refresh
	for {
		c.Add(50 * time.Minute)
		r, err := m.Refresh(ctx, tok)
		if c.Now().Before(end) {
			if err != nil {
				t.Fatalf("refused at %v, before the session's end: %v", c.Now(), err)
			}
			if r.AccessExpires.After(end) || r.RefreshExpires.After(end) {
				t.Fatalf("tokens outlive the session: access %v refresh %v, end %v", r.AccessExpires, r.RefreshExpires, end)
			}
			tok = r.Refresh
			continue
		}
		wantReason(t, err, ReasonSessionExpired)
		return
	}
}

func TestRefresh_UnknownOrMalformedTokenNeverReachesTheStore(t *testing.T) {
	cs := &countingStore{Store: NewMemoryStore()}
	c := &clock{t: base}
	m, err := New(Options{Secret: testSecret, Now: c.Now}, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	good := strings.Repeat("A", 43)
	for _, tok := range []string{"", "short", good + "A", good[:42] + "B" /* unused bits set */, good[:42] + "=", good[:42] + "+", strings.Repeat("é", 21) + "A"} {
		_, err := m.Refresh(ctx, tok)
		wantReason(t, err, ReasonUnknownRefresh)
	}
	if cs.rotations != 0 {
		t.Fatalf("%d malformed refresh tokens reached the store", cs.rotations)
	}
	// Well formed, never issued: the store says unknown.
	_, err = m.Refresh(ctx, good)
	wantReason(t, err, ReasonUnknownRefresh)
}

func TestRefresh_RolesAskedAgainAndDisabledUserRevoked(t *testing.T) {
	roles := map[string][]string{"alice": {"staff"}}
	var mu sync.Mutex
	m, c, _ := newTestManager(t, func(o *Options) {
		o.Roles = func(user string) ([]string, bool) {
			mu.Lock()
			defer mu.Unlock()
			r, ok := roles[user]
			return r, ok
		}
	})
	s, err := m.Start(ctx, "alice", []string{"staff"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	roles["alice"] = []string{"staff", "admin"}
	mu.Unlock()
	c.Add(time.Hour)
	r, err := m.Refresh(ctx, s.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Verify(r.Access); !slices.Equal(got.Roles, []string{"staff", "admin"}) {
		t.Fatalf("roles %v after the change", got.Roles)
	}
	mu.Lock()
	delete(roles, "alice")
	mu.Unlock()
	c.Add(time.Hour)
	_, err = m.Refresh(ctx, r.Refresh)
	wantReason(t, err, ReasonUserDisabled)
	_, err = m.Verify(r.Access)
	wantReason(t, err, ReasonRevoked)
}

func TestRefresh_StoreFailureIsNotARefusal(t *testing.T) {
	fs := &failingStore{Store: NewMemoryStore()}
	c := &clock{t: base}
	m, err := New(Options{Secret: testSecret, Now: c.Now}, fs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.Start(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	fs.fail = true
	_, err = m.Refresh(ctx, s.Refresh)
	if err == nil || ReasonOf(err) != 0 {
		t.Fatalf("a store failure is %v (reason %v): the client would be logged out", err, ReasonOf(err))
	}
}

type countingStore struct {
	Store
	rotations int
}

func (c *countingStore) Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (Rotation, error) {
	c.rotations++
	return c.Store.Rotate(ctx, old, next, now, grace, idle)
}

type failingStore struct {
	Store
	fail bool
}

var errDown = errors.New("store down")

func (f *failingStore) Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (Rotation, error) {
	if f.fail {
		return Rotation{}, errDown
	}
	return f.Store.Rotate(ctx, old, next, now, grace, idle)
}

func (f *failingStore) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	if f.fail {
		return errDown
	}
	return f.Store.RevokeSession(ctx, sid, until)
}
