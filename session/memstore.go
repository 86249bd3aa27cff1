package session

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store in this process's memory: for a single instance
// whose sessions may end with the process, tests, and library users. Its
// zero value is ready; it is safe for concurrent use. Families and
// revocations are dropped from memory once past their end (at most a
// minute late).
type MemoryStore struct {
	mu        sync.Mutex
	families  map[string]*memFamily   // by session id
	tokens    map[[32]byte]*memFamily // every token a family has had
	sessions  map[string]time.Time    // revoked sessions, until
	users     map[string]userRevocation
	subs      map[*memSub]struct{}
	lastSweep time.Time
}

type memFamily struct {
	f        Family
	current  [32]byte
	previous [32]byte // zero until the first rotation
	rotated  bool
	revoked  bool
	tokens   [][32]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (s *MemoryStore) init() {
	if s.families == nil {
		s.families = map[string]*memFamily{}
		s.tokens = map[[32]byte]*memFamily{}
		s.sessions = map[string]time.Time{}
		s.users = map[string]userRevocation{}
		s.subs = map[*memSub]struct{}{}
	}
}

// CreateFamily implements Store. A session id or a token already known is
// refused: a new session never replaces one (a revoked one would come
// back).
func (s *MemoryStore) CreateFamily(ctx context.Context, f Family, token [32]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.sweepLocked()
	if _, ok := s.families[f.ID]; ok {
		return errors.New("session: memory store: session id already in use")
	}
	if _, ok := s.tokens[token]; ok {
		return errors.New("session: memory store: refresh token already in use")
	}
	f.Roles = slices.Clone(f.Roles)
	mf := &memFamily{f: f, current: token, tokens: [][32]byte{token}}
	s.families[f.ID] = mf
	s.tokens[token] = mf
	return nil
}

// Rotate implements Store.
func (s *MemoryStore) Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (Rotation, error) {
	if err := ctx.Err(); err != nil {
		return Rotation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	mf := s.tokens[old]
	if mf == nil {
		return Rotation{Outcome: Unknown}, nil
	}
	f := mf.f
	f.Roles = slices.Clone(f.Roles)
	if u, ok := s.users[f.User]; mf.revoked || ok && f.Created.Before(u.before) {
		return Rotation{Outcome: Revoked, Family: f}, nil
	}
	if !now.Before(f.Expires) || !now.Before(f.LastUsed.Add(idle)) {
		return Rotation{Outcome: Expired, Family: f}, nil
	}
	switch {
	case old == mf.current:
		if _, ok := s.tokens[next]; ok {
			return Rotation{}, errors.New("session: memory store: refresh token already in use")
		}
		mf.previous, mf.current, mf.rotated = old, next, true
		mf.f.LastUsed = now
		mf.tokens = append(mf.tokens, next)
		s.tokens[next] = mf
		f.LastUsed = now
		return Rotation{Outcome: Rotated, Family: f}, nil
	case mf.rotated && old == mf.previous && now.Sub(f.LastUsed) < grace:
		return Rotation{Outcome: Grace, Family: f}, nil
	}
	mf.revoked = true
	s.revokeSessionLocked(f.ID, f.Expires)
	return Rotation{Outcome: Reused, Family: f}, nil
}

// RevokeSession implements Store.
func (s *MemoryStore) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.sweepLocked()
	if mf := s.families[sid]; mf != nil {
		mf.revoked = true
	}
	s.revokeSessionLocked(sid, until)
	return nil
}

func (s *MemoryStore) revokeSessionLocked(sid string, until time.Time) {
	if u, ok := s.sessions[sid]; !ok || until.After(u) {
		s.sessions[sid] = until
	}
	s.notifyLocked(Revocation{Session: sid, Until: until})
}

// RevokeUser implements Store. Several revocations of one user are kept
// as one, with the later Before and the later Until.
func (s *MemoryStore) RevokeUser(ctx context.Context, user string, now, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.sweepLocked()
	u := s.users[user]
	if now.After(u.before) {
		u.before = now
	}
	if until.After(u.until) {
		u.until = until
	}
	s.users[user] = u
	s.notifyLocked(Revocation{User: user, Before: now, Until: until})
	return nil
}

// Revocations implements Store. The list and the subscription are taken
// under one lock: no revocation falls between them. The channel is closed
// once ctx is done.
func (s *MemoryStore) Revocations(ctx context.Context, now time.Time) ([]Revocation, <-chan Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var list []Revocation
	for sid, until := range s.sessions {
		if now.Before(until) {
			list = append(list, Revocation{Session: sid, Until: until})
		}
	}
	for user, u := range s.users {
		if now.Before(u.until) {
			list = append(list, Revocation{User: user, Before: u.before, Until: u.until})
		}
	}
	sub := &memSub{wake: make(chan struct{}, 1)}
	s.subs[sub] = struct{}{}
	out := make(chan Revocation)
	go func() {
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.subs, sub)
			s.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.wake:
			}
			for _, r := range sub.take() {
				select {
				case out <- r:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return list, out, nil
}

// memSub is one Revocations subscriber: an unbounded queue, so a slow
// reader never blocks a revocation and never loses one.
type memSub struct {
	mu    sync.Mutex
	queue []Revocation
	wake  chan struct{}
}

func (q *memSub) push(r Revocation) {
	q.mu.Lock()
	q.queue = append(q.queue, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *memSub) take() []Revocation {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.queue
	q.queue = nil
	return rs
}

func (s *MemoryStore) notifyLocked(r Revocation) {
	for sub := range s.subs {
		sub.push(r)
	}
}

// sweepLocked drops, at most once a minute, the families past their end
// (their tokens then are Unknown) and the revocations past theirs.
func (s *MemoryStore) sweepLocked() {
	now := time.Now()
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for sid, mf := range s.families {
		if !now.Before(mf.f.Expires) {
			for _, t := range mf.tokens {
				delete(s.tokens, t)
			}
			delete(s.families, sid)
		}
	}
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
}
