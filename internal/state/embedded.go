// Package state keeps what rampart's identity features must remember across
// requests, restarts and instances: session families and their refresh
// tokens (session.Store), revocations, login failure counters, the
// one-time use of TOTP steps, and the bans of package ban (ban.Store).
//
// Embedded is the single-node store, a bbolt file in the state directory;
// Redis shares the same state between instances, falling back on an
// Embedded store for what must not be lost while Redis is down.
package state

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/session"
)

// Buckets of the embedded store.
var (
	bFamilies = []byte("families")    // session id → familyRecord
	bTokens   = []byte("tokens")      // refresh token hash → session id
	bRevoked  = []byte("revocations") // "s:"+sid or "u:"+user → revocationRecord
	bCounters = []byte("counters")    // key → counterRecord
	bOnce     = []byte("once")        // key → expiry (unix nanoseconds)
	bMeta     = []byte("meta")        // marks the process keeps across restarts → "1"
	// bBans (bans.go): prefix → banRecord
)

// familyRecord is a family as stored: the public part and its tokens.
type familyRecord struct {
	session.Family
	Current [32]byte
	Prev    [32]byte
	PrevAt  time.Time // when Prev was consumed
	Revoked bool
}

type revocationRecord struct {
	Before time.Time `json:",omitzero"`
	Until  time.Time
}

type counterRecord struct {
	Count int
	Start time.Time
}

// Embedded is a Store in a bbolt file: one instance, state surviving
// restarts. It is safe for concurrent use; every operation is one bbolt
// transaction, so it is atomic.
type Embedded struct {
	db *bolt.DB

	mu      sync.Mutex
	subs    map[chan session.Revocation]struct{}
	banSubs map[chan ban.Change]struct{}
}

// openTimeout is how long OpenEmbedded waits for another process to let go
// of the file.
var openTimeout = 5 * time.Second

// OpenEmbedded opens (creating it with mode 0600) the store file at path.
// Only one process can hold it: a second one waits up to 5 s, then fails
// with an error naming the file.
func OpenEmbedded(path string) (*Embedded, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s is held by another rampart process (one state file per instance)", path)
		}
		return nil, err
	}
	// A file left readable by others (restored from a backup) is made
	// private: it holds who is logged in.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bFamilies, bTokens, bRevoked, bCounters, bOnce, bMeta, bBans} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Embedded{db: db, subs: map[chan session.Revocation]struct{}{}, banSubs: map[chan ban.Change]struct{}{}}, nil
}

// Close closes the file.
func (e *Embedded) Close() error { return e.db.Close() }

// CreateFamily implements session.Store.
func (e *Embedded) CreateFamily(ctx context.Context, f session.Family, token [32]byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bFamilies).Get([]byte(f.ID)) != nil {
			return fmt.Errorf("session %s exists", f.ID)
		}
		if err := putJSON(tx.Bucket(bFamilies), []byte(f.ID), familyRecord{Family: f, Current: token}); err != nil {
			return err
		}
		return tx.Bucket(bTokens).Put(token[:], []byte(f.ID))
	})
}

// Rotate implements session.Store.
func (e *Embedded) Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (session.Rotation, error) {
	var rot session.Rotation
	var revoked *session.Revocation
	err := e.db.Update(func(tx *bolt.Tx) error {
		sid := tx.Bucket(bTokens).Get(old[:])
		if sid == nil {
			rot.Outcome = session.Unknown
			return nil
		}
		var fr familyRecord
		if found, err := getJSON(tx.Bucket(bFamilies), sid, &fr); err != nil || !found {
			rot.Outcome = session.Unknown
			return err
		}
		rot.Family = fr.Family
		switch {
		case fr.Revoked || revokedIn(tx, fr.Family):
			rot.Outcome = session.Revoked
			return nil
		case !now.Before(fr.Expires) || idle > 0 && now.Sub(fr.LastUsed) >= idle:
			rot.Outcome = session.Expired
			return nil
		case old == fr.Current:
			fr.Prev, fr.PrevAt, fr.Current = fr.Current, now, next
			fr.LastUsed = now
			rot.Outcome, rot.Family = session.Rotated, fr.Family
			if err := tx.Bucket(bTokens).Put(next[:], sid); err != nil {
				return err
			}
			return putJSON(tx.Bucket(bFamilies), sid, fr)
		case old == fr.Prev && now.Sub(fr.PrevAt) < grace:
			rot.Outcome = session.Grace
			return nil
		}
		// A token the family had before: stolen and replayed, or
		// replayed by the thief after the user refreshed. Either way the
		// family is no longer the user's alone.
		rot.Outcome = session.Reused
		fr.Revoked = true
		r := session.Revocation{Session: fr.ID, Until: fr.Expires}
		revoked = &r
		if err := putJSON(tx.Bucket(bRevoked), []byte("s:"+fr.ID), revocationRecord{Until: fr.Expires}); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bFamilies), sid, fr)
	})
	if err == nil && revoked != nil {
		e.notify(*revoked)
	}
	return rot, err
}

// revokedIn reports whether a revocation of the user ends f.
func revokedIn(tx *bolt.Tx, f session.Family) bool {
	var r revocationRecord
	found, err := getJSON(tx.Bucket(bRevoked), []byte("u:"+f.User), &r)
	return err == nil && found && f.Created.Before(r.Before)
}

// RevokeSession implements session.Store.
func (e *Embedded) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	err := e.db.Update(func(tx *bolt.Tx) error {
		var fr familyRecord
		if found, err := getJSON(tx.Bucket(bFamilies), []byte(sid), &fr); err == nil && found {
			fr.Revoked = true
			if err := putJSON(tx.Bucket(bFamilies), []byte(sid), fr); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bRevoked), []byte("s:"+sid), revocationRecord{Until: until})
	})
	if err == nil {
		e.notify(session.Revocation{Session: sid, Until: until})
	}
	return err
}

// RevokeUser implements session.Store.
func (e *Embedded) RevokeUser(ctx context.Context, user string, now, until time.Time) error {
	err := e.db.Update(func(tx *bolt.Tx) error {
		var r revocationRecord
		if found, err := getJSON(tx.Bucket(bRevoked), []byte("u:"+user), &r); err == nil && found && r.Until.After(until) {
			until = r.Until // never shorten a revocation in force
		}
		return putJSON(tx.Bucket(bRevoked), []byte("u:"+user), revocationRecord{Before: now, Until: until})
	})
	if err == nil {
		e.notify(session.Revocation{User: user, Before: now, Until: until})
	}
	return err
}

// Revocations implements session.Store. New revocations are those made
// through e (the file has one writer: this process).
func (e *Embedded) Revocations(ctx context.Context, now time.Time) ([]session.Revocation, <-chan session.Revocation, error) {
	ch := make(chan session.Revocation, 64)
	e.mu.Lock()
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		delete(e.subs, ch)
		e.mu.Unlock()
		close(ch)
	}()
	list, err := e.revocations(now)
	if err != nil {
		return nil, nil, err
	}
	return list, ch, nil
}

func (e *Embedded) revocations(now time.Time) ([]session.Revocation, error) {
	var out []session.Revocation
	err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRevoked).ForEach(func(k, v []byte) error {
			var r revocationRecord
			if err := json.Unmarshal(v, &r); err != nil || !r.Until.After(now) || len(k) < 2 {
				return nil
			}
			rev := session.Revocation{Before: r.Before, Until: r.Until}
			if k[0] == 's' {
				rev.Session = string(k[2:])
			} else {
				rev.User = string(k[2:])
			}
			out = append(out, rev)
			return nil
		})
	})
	return out, err
}

// notify sends r to every subscriber. A subscriber that does not keep up
// misses nothing it cannot get again: Revocations lists every revocation
// in force; but its channel is buffered well beyond a burst of logouts.
func (e *Embedded) notify(r session.Revocation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- r:
		default:
		}
	}
}

// setMark records (on) or clears a mark that outlives the process.
func (e *Embedded) setMark(name string, on bool) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		if on {
			return tx.Bucket(bMeta).Put([]byte(name), []byte("1"))
		}
		return tx.Bucket(bMeta).Delete([]byte(name))
	})
}

// mark reports whether the mark name is set. An unreadable file reads as
// set: the marks say that work remains to be done.
func (e *Embedded) mark(name string) bool {
	on := true
	e.db.View(func(tx *bolt.Tx) error {
		on = tx.Bucket(bMeta).Get([]byte(name)) != nil
		return nil
	})
	return on
}

// Fail counts a failure under key within a window starting at the key's
// first failure, and returns the count so far.
func (e *Embedded) Fail(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var n int
	err := e.db.Update(func(tx *bolt.Tx) error {
		var c counterRecord
		if _, err := getJSON(tx.Bucket(bCounters), []byte(key), &c); err != nil {
			return err
		}
		if now.Sub(c.Start) >= window {
			c = counterRecord{Start: now}
		}
		c.Count++
		n = c.Count
		return putJSON(tx.Bucket(bCounters), []byte(key), c)
	})
	return n, err
}

// Failures returns the count of key's window in force at now.
func (e *Embedded) Failures(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var c counterRecord
	err := e.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bCounters), []byte(key), &c)
		return err
	})
	if err != nil || now.Sub(c.Start) >= window {
		return 0, err
	}
	return c.Count, nil
}

// Reset forgets key's failures.
func (e *Embedded) Reset(ctx context.Context, key string) error {
	return e.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bCounters).Delete([]byte(key)) })
}

// Once reports whether key is used for the first time within ttl, and
// marks it used.
func (e *Embedded) Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	first := false
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOnce)
		if v := b.Get([]byte(key)); len(v) == 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(v)) {
			return nil
		}
		first = true
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(now.Add(ttl).UnixNano()))
		return b.Put([]byte(key), v[:])
	})
	return first, err
}

// Block refuses key until until: BlockedUntil reports it until then. A
// block already running longer is kept.
func (e *Embedded) Block(ctx context.Context, key string, until time.Time) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b, k := tx.Bucket(bOnce), []byte("block:"+key)
		if v := b.Get(k); len(v) == 8 && until.UnixNano() <= int64(binary.BigEndian.Uint64(v)) {
			return nil
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(until.UnixNano()))
		return b.Put(k, v[:])
	})
}

// BlockedUntil returns when key's block ends, or the zero time when it is
// not blocked at now.
func (e *Embedded) BlockedUntil(ctx context.Context, key string, now time.Time) (time.Time, error) {
	var until time.Time
	err := e.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bOnce).Get([]byte("block:" + key)); len(v) == 8 {
			if t := time.Unix(0, int64(binary.BigEndian.Uint64(v))); t.After(now) {
				until = t
			}
		}
		return nil
	})
	return until, err
}

// Sweep removes what has expired at now: families past their end and
// their tokens, revocations past their end, counters of windows long
// over, used keys past their time, bans past their Forget time. The
// gateway calls it periodically; nothing depends on it for correctness,
// only the file's size does.
func (e *Embedded) Sweep(now time.Time, counterWindow time.Duration) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		ended := map[string]bool{}
		fams := tx.Bucket(bFamilies)
		var dead [][]byte
		fams.ForEach(func(k, v []byte) error {
			var fr familyRecord
			if json.Unmarshal(v, &fr) != nil || !now.Before(fr.Expires) {
				dead = append(dead, append([]byte(nil), k...))
				ended[string(k)] = true
			}
			return nil
		})
		for _, k := range dead {
			fams.Delete(k)
		}
		dead = dead[:0]
		tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
			if ended[string(v)] || fams.Get(v) == nil {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range dead {
			tx.Bucket(bTokens).Delete(k)
		}
		sweep := func(b *bolt.Bucket, expired func(v []byte) bool) {
			var dead [][]byte
			b.ForEach(func(k, v []byte) error {
				if expired(v) {
					dead = append(dead, append([]byte(nil), k...))
				}
				return nil
			})
			for _, k := range dead {
				b.Delete(k)
			}
		}
		sweep(tx.Bucket(bRevoked), func(v []byte) bool {
			var r revocationRecord
			return json.Unmarshal(v, &r) != nil || !r.Until.After(now)
		})
		sweep(tx.Bucket(bCounters), func(v []byte) bool {
			var c counterRecord
			return json.Unmarshal(v, &c) != nil || now.Sub(c.Start) >= counterWindow
		})
		sweep(tx.Bucket(bOnce), func(v []byte) bool {
			return len(v) != 8 || now.UnixNano() >= int64(binary.BigEndian.Uint64(v))
		})
		sweep(tx.Bucket(bBans), func(v []byte) bool {
			var r banRecord
			return json.Unmarshal(v, &r) != nil || !now.Before(r.Entry.Forget)
		})
		return nil
	})
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	return true, json.Unmarshal(data, v)
}
