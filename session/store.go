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
// Refresh tokens are never stored: only their SHA-256. Times are kept to
// the second at least (Manager makes Created and Expires whole seconds).
// storetest.Run checks an implementation against this contract.
type Store interface {
	// CreateFamily records a new session, f, whose first refresh token
	// hashes to token. A session ID already in use is refused with an
	// error: a new session never replaces one (a revoked one would come
	// back).
	CreateFamily(ctx context.Context, f Family, token [32]byte) error

	// Rotate consumes the refresh token hashing to old at time now. The
	// first case that applies, in this order:
	//   - a token of no family (never issued, or its family forgotten
	//     after f.Expires): Unknown, and a zero Family;
	//   - the family revoked (RevokeSession of its ID, a Reused outcome
	//     before, or RevokeUser of f.User with f.Created before Before):
	//     Revoked;
	//   - now not before f.Expires (absolute timeout), or not before
	//     f.LastUsed + idle (idle timeout): Expired;
	//   - the family's current token: next becomes the current token, old
	//     the previous one, LastUsed is now; Rotated, with the updated
	//     Family;
	//   - the family's previous token (the one just before its current
	//     one), now - LastUsed < grace (a second tab refreshing at the same
	//     moment): nothing changes; Grace;
	//   - any other token the family had, or the previous one after the
	//     grace: the family is revoked (as RevokeSession(f.ID, f.Expires))
	//     and the revocation announced; Reused.
	// Two Rotate calls with the same old token at the same moment: exactly
	// one is Rotated, the other Grace. The Family is returned in every
	// case but Unknown. grace and idle are positive.
	Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (Rotation, error)

	// RevokeSession ends the session sid: its family, while kept, is
	// Revoked at once, and its access tokens are refused by every instance
	// until until, after which they have expired anyway. The revocation is
	// announced to every Revocations channel.
	RevokeSession(ctx context.Context, sid string, until time.Time) error

	// RevokeUser ends every session of user begun before now ("log out
	// everywhere", an administrator's revocation): each family of user
	// with Created before now is Revoked, and the revocation is kept and
	// listed until until (callers pass the end of the longest session, so
	// no family outlives it). Announced like RevokeSession.
	RevokeUser(ctx context.Context, user string, now, until time.Time) error

	// Revocations returns the revocations in force at now (Until after
	// now), and a channel receiving each new one, from any instance
	// sharing the store, until ctx is done; the channel is then closed. A
	// revocation made after the list is taken is never missed (it may
	// come both in the list and on the channel). Revocations of the same
	// session or user may be listed merged: the later Until, and for a
	// user the later Before.
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
