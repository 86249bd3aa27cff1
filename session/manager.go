package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Manager issues and verifies a gateway's tokens and keeps its sessions in
// a Store. It is safe for concurrent use. Close stops its revocation feed.
type Manager struct {
	o        Options // defaults applied
	store    Store
	keys     *keys
	revoked  revocations
	verified verifiedCache

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Session is a session as Start and Refresh return it: what the gateway
// puts in its cookies.
type Session struct {
	ID    string // the session id (sid)
	User  string
	Roles []string
	// Access is the access token, valid until AccessExpires (never past
	// the session's absolute end).
	Access        string
	AccessExpires time.Time
	// Refresh is the refresh token, valid until RefreshExpires (the idle
	// timeout from now, or the session's absolute end if sooner). Empty
	// when Refresh answered within the grace window: the browser keeps
	// the refresh cookie it has.
	Refresh        string
	RefreshExpires time.Time
}

// Result is what Refresh did: Rotated (a new access token and a new
// refresh token) or Grace (a new access token only).
type Result struct {
	Session
	Outcome Outcome
}

// New validates o (Validate: the same checks, the same findings), derives
// the keys, and loads the revocations in force from store, then follows
// them (a revocation made through any instance sharing the store reaches
// Verify at once) until Close. The error, when o is refused, is a
// field.Errors.
func New(o Options, store Store) (*Manager, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("session: a Store is required (NewMemoryStore serves one process)")
	}
	o = o.withDefaults()
	m := &Manager{
		o:     o,
		store: store,
		keys:  newKeys(o.Secret, o.KeyRotation, max(o.AccessTTL, AssertionTTL)),
		done:  make(chan struct{}),
	}
	m.o.Secret = nil // kept only in keys, copied
	m.revoked.init()
	now := o.Now()
	if _, err := m.keys.at(now); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	list, feed, err := store.Revocations(ctx, now)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("session: loading the revocations: %w", err)
	}
	for _, r := range list {
		m.revoked.add(r)
	}
	m.cancel = cancel
	go m.follow(ctx, feed)
	return m, nil
}

// Close stops following the store's revocations. The Manager must not be
// used afterwards.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		<-m.done
	})
	return nil
}

// JWKS is the JSON Web Key Set of the public keys: the current one, the
// previous ones that can still have unexpired tokens, and the next one,
// published a whole KeyRotation before it signs. Public parts only; a
// fresh copy each call.
func (m *Manager) JWKS() []byte {
	ring, err := m.keys.at(m.o.Now())
	if err != nil {
		return nil
	}
	return slices.Clone(ring.jwks)
}

// Start begins a session for user (authenticated by the caller) with
// roles: a new family in the store, its first refresh token and an access
// token.
func (m *Manager) Start(ctx context.Context, user string, roles []string) (Session, error) {
	now := m.o.Now()
	sid, err := randomString(16)
	if err != nil {
		return Session{}, err
	}
	refresh, hash, err := newRefresh()
	if err != nil {
		return Session{}, err
	}
	// Session times are whole seconds, as auth_time is in the tokens, so
	// that the store (comparing Created) and Verify (comparing auth_time)
	// agree on which sessions a user revocation ends.
	created := now.Truncate(time.Second)
	f := Family{ID: sid, User: user, Roles: slices.Clone(roles), Created: created, LastUsed: now, Expires: created.Add(m.o.AbsoluteTimeout)}
	access, accessExp, err := m.issue(kindAccess, m.o.Audience, Claims{User: user, Roles: roles, Session: sid, AuthTime: created}, now, minTime(now.Add(m.o.AccessTTL), f.Expires))
	if err != nil {
		return Session{}, err
	}
	if err := m.store.CreateFamily(ctx, f, hash); err != nil {
		return Session{}, fmt.Errorf("session: creating the session: %w", err)
	}
	return Session{
		ID: sid, User: user, Roles: slices.Clone(roles),
		Access: access, AccessExpires: accessExp,
		Refresh: refresh, RefreshExpires: minTime(now.Add(m.o.IdleTimeout), f.Expires),
	}, nil
}

// Refresh consumes a refresh token (Store.Rotate) and answers with a new
// access token, and a new refresh token unless the token had just been
// rotated by a concurrent refresh (Outcome Grace: Refresh is empty and the
// caller sets no refresh cookie, so parallel tabs are never logged out).
// A refused token gets an *Error: ReasonReused (a rotated token presented
// after the grace: the session is revoked; log authn_token_reuse with the
// Error's User and Session), ReasonUnknownRefresh, ReasonSessionExpired
// (idle or absolute timeout), ReasonRevoked, ReasonUserDisabled. Any other
// error is the store's: the token may be good.
//
// The access token carries the session's roles, or those Options.Roles
// gives now.
func (m *Manager) Refresh(ctx context.Context, refresh string) (Result, error) {
	old, ok := parseRefresh(refresh)
	if !ok {
		return Result{}, refusal(ReasonUnknownRefresh)
	}
	next, nextHash, err := newRefresh()
	if err != nil {
		return Result{}, err
	}
	now := m.o.Now()
	rot, err := m.store.Rotate(ctx, old, nextHash, now, m.o.RefreshGrace, m.o.IdleTimeout)
	if err != nil {
		return Result{}, fmt.Errorf("session: rotating the refresh token: %w", err)
	}
	f := rot.Family
	switch rot.Outcome {
	case Rotated, Grace:
	case Reused:
		// The store revoked the family; this instance stops its access
		// tokens now, before the feed brings the revocation back.
		m.revoked.add(Revocation{Session: f.ID, Until: f.Expires.Add(Leeway)})
		return Result{}, &Error{Reason: ReasonReused, Session: f.ID, User: f.User}
	case Unknown:
		return Result{}, refusal(ReasonUnknownRefresh)
	case Expired:
		return Result{}, &Error{Reason: ReasonSessionExpired, Session: f.ID, User: f.User}
	case Revoked:
		return Result{}, &Error{Reason: ReasonRevoked, Session: f.ID, User: f.User}
	default:
		return Result{}, fmt.Errorf("session: the store answered %v to a rotation", rot.Outcome)
	}
	roles := f.Roles
	if m.o.Roles != nil {
		var ok bool
		if roles, ok = m.o.Roles(f.User); !ok {
			if err := m.Logout(ctx, f.ID); err != nil {
				return Result{}, err
			}
			return Result{}, &Error{Reason: ReasonUserDisabled, Session: f.ID, User: f.User}
		}
	}
	access, accessExp, err := m.issue(kindAccess, m.o.Audience, Claims{User: f.User, Roles: roles, Session: f.ID, AuthTime: f.Created}, now, minTime(now.Add(m.o.AccessTTL), f.Expires))
	if err != nil {
		return Result{}, err
	}
	res := Result{Outcome: rot.Outcome, Session: Session{ID: f.ID, User: f.User, Roles: slices.Clone(roles), Access: access, AccessExpires: accessExp}}
	if rot.Outcome == Rotated {
		res.Refresh, res.RefreshExpires = next, minTime(now.Add(m.o.IdleTimeout), f.Expires)
	}
	return res, nil
}

// Logout ends session sid: its refresh tokens are refused at once, and
// its access tokens by this instance at once and by every instance
// sharing the store as soon as the store's feed reaches them. This
// instance's refusal holds even when the store fails (the error is
// returned, so the caller can log it and retry).
func (m *Manager) Logout(ctx context.Context, sid string) error {
	if err := validSID(sid); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	now := m.o.Now()
	until := now.Add(m.o.AccessTTL + Leeway) // the last access token has expired by then
	m.revoked.add(Revocation{Session: sid, Until: until})
	if err := m.store.RevokeSession(ctx, sid, until); err != nil {
		return fmt.Errorf("session: revoking the session: %w", err)
	}
	return nil
}

// LogoutUser ends every session of user begun before now ("log out
// everywhere", an administrator's revocation), as Logout ends one. Session
// times are whole seconds, so a session begun in the same second as the
// revocation, even just after it, is ended too.
func (m *Manager) LogoutUser(ctx context.Context, user string) error {
	if err := validUser(user); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	now := m.o.Now()
	// Kept until every session begun before now has ended (and its last
	// access token expired), so no family is refreshed after the
	// revocation is forgotten.
	until := now.Add(m.o.AbsoluteTimeout + Leeway)
	m.revoked.add(Revocation{User: user, Before: now, Until: until})
	if err := m.store.RevokeUser(ctx, user, now, until); err != nil {
		return fmt.Errorf("session: revoking the user's sessions: %w", err)
	}
	return nil
}

// follow applies the store's new revocations until ctx is done, and drops
// the expired ones from memory. A feed that ends early (the store's
// connection lost) is resumed, the revocations in force loaded again.
func (m *Manager) follow(ctx context.Context, feed <-chan Revocation) {
	defer close(m.done)
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			m.revoked.sweep(m.o.Now())
		case r, ok := <-feed:
			if ok {
				m.revoked.add(r)
				continue
			}
			if ctx.Err() != nil {
				return // closed because Close cancelled it
			}
			m.o.Log.Warn("session: the store's revocation feed ended; resuming it", "retry_in", backoff.String())
			for feed = nil; feed == nil; {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				list, f, err := m.store.Revocations(ctx, m.o.Now())
				if err != nil {
					m.o.Log.Error("session: resuming the store's revocation feed", "err", err, "retry_in", backoff.String())
					backoff = min(2*backoff, 30*time.Second)
					continue
				}
				for _, r := range list {
					m.revoked.add(r)
				}
				feed, backoff = f, time.Second
				m.o.Log.Info("session: the store's revocation feed resumed")
			}
		}
	}
}

// revocations is the in-memory revocation set Verify consults: a map
// lookup under a read lock, none at all while the set is empty.
type revocations struct {
	mu       sync.RWMutex
	empty    atomic.Bool // no entry: Verify takes no lock
	sessions map[string]time.Time
	users    map[string]userRevocation
}

type userRevocation struct{ before, until time.Time }

func (s *revocations) init() {
	s.sessions = map[string]time.Time{}
	s.users = map[string]userRevocation{}
	s.empty.Store(true)
}

// add records r, merged with what is already known: the later Until, and
// for a user the later Before (ending more sessions, never fewer).
func (s *revocations) add(r Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Session != "":
		if u, ok := s.sessions[r.Session]; !ok || r.Until.After(u) {
			s.sessions[r.Session] = r.Until
		}
	case r.User != "":
		u := s.users[r.User]
		if r.Before.After(u.before) {
			u.before = r.Before
		}
		if r.Until.After(u.until) {
			u.until = r.Until
		}
		s.users[r.User] = u
	}
	s.empty.Store(len(s.sessions)+len(s.users) == 0)
}

// revoked reports whether a token of session sid, of user, whose session
// began at authTime, is revoked at now.
func (s *revocations) revoked(sid, user string, authTime, now time.Time) bool {
	if s.empty.Load() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if until, ok := s.sessions[sid]; ok && now.Before(until) {
		return true
	}
	u, ok := s.users[user]
	return ok && now.Before(u.until) && authTime.Before(u.before)
}

// sweep drops the revocations no longer in force at now: every token they
// stopped has expired.
func (s *revocations) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid, until := range s.sessions {
		if !now.Before(until) {
			delete(s.sessions, sid)
		}
	}
	for user, u := range s.users {
		if !now.Before(u.until) {
			delete(s.users, user)
		}
	}
	s.empty.Store(len(s.sessions)+len(s.users) == 0)
}

func (s *revocations) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions) + len(s.users)
}

// refreshLen is the length of a refresh token: 32 random bytes, base64url.
const refreshLen = 43

// newRefresh makes a refresh token and the hash the store keeps of it.
func newRefresh() (string, [32]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, fmt.Errorf("session: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), sha256.Sum256(b[:]), nil
}

// parseRefresh decodes a refresh token presented by a client into the
// hash the store knows it by. Anything but 43 canonical base64url
// characters is refused without a store round trip.
func parseRefresh(s string) ([32]byte, bool) {
	if len(s) != refreshLen || !canonicalSegment(s) {
		return [32]byte{}, false
	}
	for i := 0; i < len(s); i++ {
		if !b64urlChar(s[i]) {
			return [32]byte{}, false
		}
	}
	var b [32]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(s)); err != nil || n != len(b) {
		return [32]byte{}, false
	}
	return sha256.Sum256(b[:]), true
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
