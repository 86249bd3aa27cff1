// Package session defines what rampart keeps about sessions: refresh-token
// families and revocations (Store).
package session

import (
	"context"
	"time"
)

// Store keeps what sessions need across requests, restarts and instances:
// the refresh-token families and the revocations. Every method is atomic;
// implementations are safe for concurrent use. rampart's gateway uses an
// embedded store (one instance, state surviving restarts) or a Redis one
// (every instance sharing it, a revocation on one enforced by all at
// once); MemoryStore serves a single process and tests.
//
// Refresh tokens are never stored: only their SHA-256.
type Store interface {
	// CreateFamily records a new session, f, whose first refresh token
	// hashes to token.
	CreateFamily(ctx context.Context, f Family, token [32]byte) error

	// Rotate consumes the refresh token hashing to old at time now:
	//   - the family's current token, the session alive (not revoked, not
	//     past f.Expires, used within idle of its last use): next becomes
	//     the current token, LastUsed is now; Rotated;
	//   - the token the family had just before its current one, consumed
	//     less than grace ago (a second tab refreshing at the same
	//     moment): nothing changes; Grace;
	//   - any other token the family had: the family is revoked
	//     (RevokeSession, until f.Expires); Reused;
	//   - a token of no family, or of a revoked or expired one: Unknown,
	//     Expired or Revoked.
	// The Family is returned in every case where one was found.
	Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (Rotation, error)

	// RevokeSession ends the session sid: its refresh tokens are refused at
	// once and its access tokens are refused by every instance until
	// until, after which they have expired anyway.
	RevokeSession(ctx context.Context, sid string, until time.Time) error

	// RevokeUser ends every session of user begun before now ("log out
	// everywhere", an administrator's revocation), until until.
	RevokeUser(ctx context.Context, user string, now, until time.Time) error

	// Revocations returns the revocations in force at now, and a channel
	// receiving each new one, from any instance sharing the store, until
	// ctx is done.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, <-chan Revocation, error)
}

// Family is one session: the user it is for and its refresh tokens'
// lineage.
type Family struct {
	ID       string // the session id, the sid claim of its access tokens
	User     string
	Roles    []string
	Created  time.Time
	LastUsed time.Time // last refresh
	Expires  time.Time // absolute end of the session
}

// Outcome says what Rotate did.
type Outcome uint8

// Outcomes of Rotate.
const (
	Rotated Outcome = iota + 1
	Grace
	Reused
	Unknown
	Expired
	Revoked
)

func (o Outcome) String() string {
	switch o {
	case Rotated:
		return "rotated"
	case Grace:
		return "grace"
	case Reused:
		return "reused"
	case Unknown:
		return "unknown"
	case Expired:
		return "expired"
	case Revoked:
		return "revoked"
	}
	return "invalid"
}

// Rotation is the result of Rotate.
type Rotation struct {
	Outcome Outcome
	Family  Family // zero when Outcome is Unknown
}

// Revocation ends a session (Session set) or every session of a user
// begun before Before (User set), until Until.
type Revocation struct {
	Session string
	User    string
	Before  time.Time
	Until   time.Time
}
