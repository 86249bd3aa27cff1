package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/session"
)

// store is what both implementations offer.
type store interface {
	session.Store
	Fail(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	Failures(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	Reset(ctx context.Context, key string) error
	Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
	Block(ctx context.Context, key string, until time.Time) error
	BlockedUntil(ctx context.Context, key string, now time.Time) (time.Time, error)
}

func embedded(t *testing.T) *Embedded {
	t.Helper()
	e, err := OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// redisStore is a Redis store on the real redis-server at 127.0.0.1:6379,
// its keys under a prefix of its own.
func redisStore(t *testing.T, prefix string) *Redis {
	t.Helper()
	testenv.Redis(t)
	if prefix == "" {
		var b [6]byte
		rand.Read(b[:])
		prefix = "rampart-test-" + hex.EncodeToString(b[:]) + ":"
	}
	r, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: prefix, Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func each(t *testing.T, f func(t *testing.T, s store)) {
	t.Run("embedded", func(t *testing.T) { f(t, embedded(t)) })
	t.Run("redis", func(t *testing.T) { f(t, redisStore(t, "")) })
}

func tok(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func family(id string, now time.Time) session.Family {
	return session.Family{ID: id, User: "alice", Roles: []string{"admin"}, Created: now, LastUsed: now, Expires: now.Add(time.Hour)}
}

// Every outcome of Rotate: a chain of refreshes, a second tab within the
// grace window, a replay after it revoking the family, and what follows.
func TestRotate_Outcomes(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Millisecond)
		if err := s.CreateFamily(ctx, family("s1", now), tok("t1")); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			old, next string
			at        time.Duration
			want      session.Outcome
		}{
			{"t1", "t2", time.Second, session.Rotated},
			{"t2", "t3", 2 * time.Second, session.Rotated},
			{"t2", "tx", 2*time.Second + 5*time.Second/2, session.Grace}, // a second tab, 2.5 s later
			{"nope", "ty", 3 * time.Second, session.Unknown},
			{"t1", "tz", 20 * time.Second, session.Reused},  // a stolen old token
			{"t3", "t4", 21 * time.Second, session.Revoked}, // the family is over
		}
		for _, st := range steps {
			rot, err := s.Rotate(ctx, tok(st.old), tok(st.next), now.Add(st.at), 10*time.Second, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if rot.Outcome != st.want {
				t.Fatalf("rotate %s at +%v: %v, want %v", st.old, st.at, rot.Outcome, st.want)
			}
			if st.want != session.Unknown && (rot.Family.ID != "s1" || rot.Family.User != "alice" || len(rot.Family.Roles) != 1) {
				t.Errorf("rotate %s: family %+v", st.old, rot.Family)
			}
		}
		list, _, err := s.Revocations(ctx, now.Add(22*time.Second))
		if err != nil || !hasSession(list, "s1") {
			t.Errorf("the reused family is not among the revocations: %v %v", list, err)
		}
	})
}

// A refresh after the idle timeout, or after the absolute end, is refused.
func TestRotate_IdleAndAbsoluteTimeouts(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Millisecond)
		s.CreateFamily(ctx, family("idle", now), tok("i1"))
		if rot, _ := s.Rotate(ctx, tok("i1"), tok("i2"), now.Add(31*time.Minute), 0, 30*time.Minute); rot.Outcome != session.Expired {
			t.Errorf("after the idle timeout: %v", rot.Outcome)
		}
		f := family("abs", now)
		f.Expires = now.Add(time.Minute)
		s.CreateFamily(ctx, f, tok("a1"))
		if rot, _ := s.Rotate(ctx, tok("a1"), tok("a2"), now.Add(time.Minute), 0, time.Hour); rot.Outcome != session.Expired && rot.Outcome != session.Unknown {
			t.Errorf("after the absolute end: %v", rot.Outcome)
		}
	})
}

// Two refreshes of the same token at the same moment (two tabs): exactly
// one rotates, the other is within the grace window; none revokes.
func TestRotate_ConcurrentRefreshesOneWins(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Millisecond)
		s.CreateFamily(ctx, family("c", now), tok("c1"))
		var wg sync.WaitGroup
		results := make([]session.Outcome, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rot, err := s.Rotate(ctx, tok("c1"), tok("c2-"+string(rune('a'+i))), now.Add(time.Second), 10*time.Second, time.Hour)
				if err != nil {
					t.Error(err)
				}
				results[i] = rot.Outcome
			}()
		}
		wg.Wait()
		rotated := 0
		for _, o := range results {
			switch o {
			case session.Rotated:
				rotated++
			case session.Grace:
			default:
				t.Errorf("concurrent refresh: %v", o)
			}
		}
		if rotated != 1 {
			t.Errorf("%d refreshes rotated, want exactly 1: %v", rotated, results)
		}
	})
}

// "Log out everywhere" ends the sessions begun before it, not those begun
// after.
func TestRevokeUser(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Millisecond)
		s.CreateFamily(ctx, family("old", now), tok("o1"))
		if err := s.RevokeUser(ctx, "alice", now.Add(time.Second), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f := family("new", now.Add(2*time.Second))
		s.CreateFamily(ctx, f, tok("n1"))
		if rot, _ := s.Rotate(ctx, tok("o1"), tok("o2"), now.Add(3*time.Second), 0, time.Hour); rot.Outcome != session.Revoked {
			t.Errorf("a session begun before the revocation: %v", rot.Outcome)
		}
		if rot, _ := s.Rotate(ctx, tok("n1"), tok("n2"), now.Add(3*time.Second), 0, time.Hour); rot.Outcome != session.Rotated {
			t.Errorf("a session begun after it: %v", rot.Outcome)
		}
		list, _, _ := s.Revocations(ctx, now.Add(3*time.Second))
		found := false
		for _, r := range list {
			found = found || r.User == "alice" && r.Before.Equal(now.Add(time.Second))
		}
		if !found {
			t.Errorf("user revocation not listed: %v", list)
		}
	})
}

// Two instances sharing Redis: a logout on one reaches the other's
// revocation channel at once, and its refresh is refused there too.
func TestRedis_RevocationReachesTheOtherInstance(t *testing.T) {
	a := redisStore(t, "")
	b, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: a.p, Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().Truncate(time.Millisecond)
	_, ch, err := b.Revocations(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the subscription start (not a measurement)
	a.CreateFamily(ctx, family("shared", now), tok("s1"))
	if err := a.RevokeSession(ctx, "shared", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.Session != "shared" {
			t.Errorf("got %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revocation never reached the other instance")
	}
	if rot, _ := b.Rotate(ctx, tok("s1"), tok("s2"), now.Add(time.Second), 0, time.Hour); rot.Outcome != session.Revoked {
		t.Errorf("refresh on the other instance: %v", rot.Outcome)
	}
}

// An instance whose link to Redis fails while another instance ends a
// session (a network fault, Redis restarting) misses the announcement:
// pub/sub has no memory. Once its link is back it must learn of the
// revocation all the same, or it would keep accepting the session's
// access tokens until they expire.
func TestRedis_RevocationMadeWhileCutOffArrivesOnReconnect(t *testing.T) {
	a := redisStore(t, "")
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	b, err := NewRedis(RedisOptions{URL: "redis://" + link.Addr + "/0", Prefix: a.p, Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().Truncate(time.Millisecond)
	_, ch, err := b.Revocations(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	link.Down()
	if err := a.RevokeSession(ctx, "while-cut-off", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeUser(ctx, "mallory", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	link.Up()
	gotSession, gotUser := false, false
	timeout := time.After(10 * time.Second)
	for !gotSession || !gotUser {
		select {
		case r := <-ch:
			gotSession = gotSession || r.Session == "while-cut-off"
			gotUser = gotUser || r.User == "mallory" && r.Before.Equal(now)
		case <-timeout:
			t.Fatalf("revocations made while the link was down never arrived after it came back (session %v, user %v)", gotSession, gotUser)
		}
	}
}

// A burst of revocations from other instances, more than the channel
// holds, while its reader is busy: every one arrives, none is dropped.
func TestRedis_BurstOfRevocationsNoneDropped(t *testing.T) {
	a := redisStore(t, "")
	b := redisStore(t, a.p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().Truncate(time.Millisecond)
	_, ch, err := b.Revocations(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// The subscription is confirmed once the list read after it has
	// come (a revocation made for the purpose).
	a.RevokeSession(ctx, "ready", now.Add(time.Hour))
	for ready := false; !ready; {
		select {
		case r := <-ch:
			ready = r.Session == "ready"
		case <-time.After(10 * time.Second):
			t.Fatal("the subscription never started")
		}
	}
	const n = 500
	for i := range n {
		if err := a.RevokeSession(ctx, fmt.Sprintf("burst-%d", i), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case r := <-ch:
			if strings.HasPrefix(r.Session, "burst-") {
				seen[r.Session] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d revocations arrived", len(seen), n)
		}
	}
}

// A revocation made while Redis cannot be reached is enforced locally at
// once, and pushed to Redis when it answers again: none is lost.
func TestRedis_RevocationWhileDownIsNotLost(t *testing.T) {
	testenv.Redis(t)
	local := embedded(t)
	down, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:1/0", Local: local}) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().Truncate(time.Millisecond)
	_, ch, err := down.Revocations(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := down.RevokeSession(ctx, "lost?", now.Add(time.Hour)); err != nil {
		t.Fatalf("a revocation while Redis is down must not fail the logout: %v", err)
	}
	select {
	case r := <-ch:
		if r.Session != "lost?" {
			t.Errorf("got %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the local revocation was not announced")
	}
	// Redis is back: the same local store behind a reachable Redis.
	up, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: "rampart-test-replay-" + hex.EncodeToString([]byte(t.Name()))[:8] + ":", Local: local})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := up.Replay(ctx, now); err != nil {
		t.Fatal(err)
	}
	other := redisStore(t, up.p)
	list, _, err := other.Revocations(ctx, now)
	if err != nil || !hasSession(list, "lost?") {
		t.Errorf("the revocation made while Redis was down is not in Redis: %v %v", list, err)
	}
}

// While Redis cannot be reached, each call must not wait for a
// connection attempt of its own: a failed login makes six calls, and the
// throttle's first wait (1 s after the fifth failure) would lapse before
// it was written. After the first failure the calls go to OnError at
// once, without touching the network, until a probe finds Redis back.
func TestRedis_UnreachableIsNotDialledOnEveryCall(t *testing.T) {
	testenv.Redis(t)
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	link.Down()
	ctx := context.Background()
	now := time.Now()
	for _, mode := range []OnError{FailLocal, FailClosed} {
		r, err := NewRedis(RedisOptions{URL: "redis://" + link.Addr + "/0", OnError: mode, Local: embedded(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.br.min, r.br.max = time.Hour, time.Hour // no probe in this part
		before := link.Accepted()
		for i := 1; i <= 5; i++ {
			n, err := r.Fail(ctx, "login:p:guess", time.Minute, now)
			switch {
			case mode == FailLocal && (err != nil || n != i):
				t.Errorf("%s: failure %d counted %d, %v", mode, i, n, err)
			case mode == FailClosed && err == nil:
				t.Errorf("%s: failure %d counted while Redis is down", mode, i)
			}
			r.Block(ctx, "login:p:guess", now.Add(time.Minute))
			r.BlockedUntil(ctx, "login:p:guess", now)
		}
		if err := r.CreateFamily(ctx, family("down", now), tok("d1")); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: a session begun while Redis is known down: %v", mode, err)
		}
		if got := link.Accepted() - before; got != 1 {
			t.Errorf("%s: %d connections attempted for 16 calls while Redis is down, want 1 (the first call)", mode, got)
		}
	}

	// Redis back: a probe after the back-off finds it, and the calls
	// go to Redis again.
	link.Up()
	r, err := NewRedis(RedisOptions{URL: "redis://" + link.Addr + "/0", Prefix: redisStore(t, "").p, Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	link.Down()
	r.Fail(ctx, "k", time.Minute, now)
	link.Up()
	direct := redisStore(t, r.p)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.Fail(ctx, "k", time.Minute, now)
		if n, _ := direct.Failures(ctx, "k", time.Minute, now); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store never went back to Redis")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A logout made while Redis is down, then a restart of the instance
// before Redis is back: the revocation is in the state file, and the
// restarted instance must still push it to Redis, or the other instances
// never learn of it.
func TestRedis_RevocationWhileDownSurvivesARestart(t *testing.T) {
	testenv.Redis(t)
	path := filepath.Join(t.TempDir(), "rampart.db")
	local, err := OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	down, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:1/0", Local: local}) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	if err := down.RevokeSession(ctx, "before-restart", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	down.Close()
	local.Close()

	local, err = OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	prefix := redisStore(t, "").p
	up, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: prefix, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := up.Replay(ctx, now); err != nil {
		t.Fatal(err)
	}
	list, _, err := redisStore(t, prefix).Revocations(ctx, now)
	if err != nil || !hasSession(list, "before-restart") {
		t.Errorf("a revocation made while Redis was down, before a restart, never reached Redis: %v %v", list, err)
	}
	// Pushed once: the next Replay has nothing to do.
	if up.isPending() {
		t.Error("still pending after a successful push")
	}
}

func TestFailuresAndOnce(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now()
		for i := 1; i <= 3; i++ {
			if n, err := s.Fail(ctx, "u:alice", time.Minute, now); err != nil || n != i {
				t.Fatalf("fail %d: %d %v", i, n, err)
			}
		}
		if n, _ := s.Failures(ctx, "u:alice", time.Minute, now); n != 3 {
			t.Errorf("failures %d", n)
		}
		s.Reset(ctx, "u:alice")
		if n, _ := s.Failures(ctx, "u:alice", time.Minute, now); n != 0 {
			t.Errorf("after reset: %d", n)
		}
		if first, _ := s.Once(ctx, "totp:alice:123", time.Minute, now); !first {
			t.Error("first use refused")
		}
		if again, _ := s.Once(ctx, "totp:alice:123", time.Minute, now); again {
			t.Error("a TOTP step used twice")
		}
	})
}

// A block holds until its end, a shorter one never shortens it, and it
// ends on time.
func TestBlock(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now()
		if until, err := s.BlockedUntil(ctx, "p:x", now); err != nil || !until.IsZero() {
			t.Fatalf("blocked before any block: %v %v", until, err)
		}
		end := now.Add(time.Minute)
		if err := s.Block(ctx, "p:x", end); err != nil {
			t.Fatal(err)
		}
		if err := s.Block(ctx, "p:x", now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		until, err := s.BlockedUntil(ctx, "p:x", now)
		if err != nil || until.UnixMilli() != end.UnixMilli() && until.Before(end.Add(-time.Millisecond)) {
			t.Errorf("blocked until %v, want %v (%v)", until, end, err)
		}
		if until, _ := s.BlockedUntil(ctx, "p:x", end.Add(time.Millisecond)); !until.IsZero() {
			t.Errorf("still blocked after the end: %v", until)
		}
		if until, _ := s.BlockedUntil(ctx, "p:other", now); !until.IsZero() {
			t.Errorf("another key blocked: %v", until)
		}
	})
}

// The embedded file is private, survives a restart, and is swept.
func TestEmbedded_FileAndSweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "rampart.db")
	e, err := OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	e.CreateFamily(ctx, family("keep", now), tok("k1"))
	e.RevokeSession(ctx, "gone", now.Add(time.Minute))
	e.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	e, err = OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if rot, _ := e.Rotate(ctx, tok("k1"), tok("k2"), now.Add(time.Second), 0, time.Hour); rot.Outcome != session.Rotated {
		t.Errorf("after a restart: %v", rot.Outcome)
	}
	if err := e.Sweep(now.Add(2*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	if rot, _ := e.Rotate(ctx, tok("k2"), tok("k3"), now.Add(2*time.Hour), 0, 0); rot.Outcome != session.Unknown {
		t.Errorf("a swept family: %v", rot.Outcome)
	}
	if list, _ := e.revocations(now); len(list) != 0 {
		t.Errorf("swept revocations remain: %v", list)
	}
	openTimeout = 100 * time.Millisecond
	defer func() { openTimeout = 5 * time.Second }()
	if _, err := OpenEmbedded(path); err == nil || !strings.Contains(err.Error(), "held by another rampart process") {
		t.Errorf("a second opener of the held file: %v", err)
	}
}

func (r *Redis) isPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

func hasSession(list []session.Revocation, sid string) bool {
	for _, r := range list {
		if r.Session == sid {
			return true
		}
	}
	return false
}

func TestRedisOptions_Validate(t *testing.T) {
	for _, c := range []struct {
		o       RedisOptions
		path    string
		warning bool
	}{
		{RedisOptions{}, "URL", false},
		{RedisOptions{URL: "http://127.0.0.1:6379"}, "URL", false},
		{RedisOptions{URL: "redis://:hunter2@127.0.0.1:6379/0"}, "URL", false},
		{RedisOptions{URL: "redis://127.0.0.1:6379/0", OnError: "maybe"}, "OnError", false},
		{RedisOptions{URL: "redis://127.0.0.1:6379/0", OnError: InsecureFailOpen}, "OnError", true},
	} {
		errs := c.o.Validate()
		if len(errs) != 1 || errs[0].Path != c.path || errs[0].Warning != c.warning {
			t.Errorf("%+v: %v", c.o, errs)
		}
		if strings.Contains(errs.Error(), "hunter2") {
			t.Errorf("the password is repeated: %v", errs)
		}
	}
	if errs := (RedisOptions{URL: "rediss://127.0.0.1:6380/1", OnError: FailClosed}).Validate(); len(errs) != 0 {
		t.Errorf("valid options: %v", errs)
	}
}

// A session without roles survives a rotation in Redis, whose Lua JSON
// cannot tell an empty array from an empty object.
func TestRotate_NoRolesSurvive(t *testing.T) {
	each(t, func(t *testing.T, s store) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Second)
		f := family("noroles", now)
		f.Roles = []string{}
		if err := s.CreateFamily(ctx, f, tok("nr1")); err != nil {
			t.Fatal(err)
		}
		rot, err := s.Rotate(ctx, tok("nr1"), tok("nr2"), now.Add(time.Second), time.Second, time.Hour)
		if err != nil || rot.Outcome != session.Rotated || len(rot.Family.Roles) != 0 {
			t.Fatalf("%+v %v", rot, err)
		}
		if err := s.RevokeSession(ctx, f.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		rot, err = s.Rotate(ctx, tok("nr2"), tok("nr3"), now.Add(2*time.Second), time.Second, time.Hour)
		if err != nil || rot.Outcome != session.Revoked {
			t.Fatalf("%+v %v", rot, err)
		}
	})
}

// Ping answers while Redis does, and fails once the link to it is cut.
func TestRedis_Ping(t *testing.T) {
	testenv.Redis(t)
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	r, err := NewRedis(RedisOptions{URL: "redis://" + link.Addr + "/0", Prefix: "rampart-test-ping:", Local: embedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); err != nil {
		t.Fatalf("up: %v", err)
	}
	link.Down()
	if err := r.Ping(context.Background()); err == nil {
		t.Fatal("down: Ping succeeded")
	}
}
