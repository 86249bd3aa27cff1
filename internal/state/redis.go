package state

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/session"
)

// OnError is what Redis does with a login counter or a one-time key
// while Redis cannot be reached (YAML auth.redis.on_backend_error).
// Sessions live in Redis whatever it is: none begins or is refreshed
// while Redis is down.
type OnError string

const (
	// FailLocal counts in the local embedded store meanwhile: each
	// instance limits on its own. The default.
	FailLocal OnError = "fail_local"
	// FailClosed refuses the operation: logins fail until Redis is back.
	FailClosed OnError = "fail_closed"
	// InsecureFailOpen counts nothing: no brute-force limit while Redis
	// is down.
	InsecureFailOpen OnError = "insecure_fail_open"
)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// URL is redis://host:port/db or rediss:// (required). No password
	// in it: see Password.
	URL string
	// Password is the server's password, from a secret.
	Password string
	// Prefix namespaces the keys. Default "rampart:".
	Prefix string
	// OnError: see OnError. Default FailLocal.
	OnError OnError
	// Local is the embedded store that keeps every revocation even while
	// Redis is down (they are pushed again once it is back, so none is
	// lost) and counts under FailLocal. Required.
	Local *Embedded
	// Logger receives Redis outages and recoveries. Nil: slog.Default().
	Logger *slog.Logger
}

// Redis is a Store shared by every rampart using the same Redis: a
// revocation made on one instance reaches the others at once (pub/sub).
// Families and their tokens live in Redis only: while it is down, logins
// and refreshes fail (access tokens keep working: they are checked
// locally). Revocations are written locally first, so none is lost.
//
// Once a call finds Redis unreachable, the calls that follow fail at once
// with ErrUnavailable (and OnError decides) instead of each waiting for a
// connection of its own, until one call, after a back-off of 250 ms
// doubling up to 5 s, finds it back.
type Redis struct {
	c      *redis.Client
	p      string
	onErr  OnError
	local  *Embedded
	logger *slog.Logger
	br     breaker

	mu      sync.Mutex
	pending bool   // a revocation did not reach Redis; push them all again
	misses  uint64 // pushes failed so far: Replay clears pending only if none failed meanwhile
	// bansPending and banMisses are the same for bans (bans.go).
	bansPending bool
	banMisses   uint64
}

// pendingMark is the local store's mark of revocations not yet pushed to
// Redis: kept in the file, so an instance restarted before Redis is back
// still pushes them.
const pendingMark = "redis-revocations-pending"

// ErrUnavailable is a Redis store's error while Redis is known to be
// unreachable: the call was not attempted.
var ErrUnavailable = errors.New("state: Redis is unreachable (backing off before the next attempt)")

// The back-off between attempts to reach Redis while it is down.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// breaker remembers that Redis is unreachable. A login attempt makes up
// to six Redis calls: without it, each would wait for a connection
// attempt of its own while Redis is down (seconds on a host that drops
// packets), one login would take many seconds, and the short waits of
// the login throttle (1 s after the fifth failure) would have lapsed
// before they were even written, so the throttle would not hold. While it
// is open, calls are refused at once; when its back-off ends, one call
// at a time finds out whether Redis is back.
type breaker struct {
	mu        sync.Mutex
	min, max  time.Duration
	downUntil time.Time
	backoff   time.Duration // zero while Redis is reachable
	probing   bool
}

// admit reports whether a call may go to Redis, and whether it is the
// probe after a back-off.
func (b *breaker) admit() (probe, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.backoff == 0:
		return false, true
	case b.probing || time.Now().Before(b.downUntil):
		return false, false
	}
	b.probing = true
	return true, true
}

// done records an admitted call's outcome (down: Redis could not be
// reached) and reports the transitions, for the log. Calls in flight
// when Redis went down fail together: only the first, or a probe, moves
// the back-off on, so one outage does not jump to the longest back-off.
func (b *breaker) done(probe, down bool) (wentDown, cameBack bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if !down {
		cameBack = b.backoff > 0
		b.backoff, b.downUntil = 0, time.Time{}
		return false, cameBack
	}
	if !probe && b.backoff > 0 {
		return false, false
	}
	wentDown = b.backoff == 0
	if b.backoff == 0 {
		b.backoff = b.min
	} else {
		b.backoff = min(2*b.backoff, b.max)
	}
	b.downUntil = time.Now().Add(b.backoff)
	return wentDown, false
}

// call runs f, which talks to Redis and returns only what Redis
// answered, unless Redis is known to be unreachable (ErrUnavailable).
func (r *Redis) call(ctx context.Context, f func() error) error {
	probe, ok := r.br.admit()
	if !ok {
		return ErrUnavailable
	}
	err := f()
	wentDown, cameBack := r.br.done(probe, unreachable(ctx, err))
	if wentDown {
		r.logger.Warn("state: Redis is unreachable; revocations are kept locally, logins follow on_backend_error",
			"on_backend_error", string(r.onErr), "error", err)
	}
	if cameBack {
		r.logger.Info("state: Redis is reachable again")
	}
	return err
}

// unreachable reports whether err says Redis could not be reached or did
// not answer in time, rather than an answer (redis.Nil, an error reply)
// or the caller giving up.
func unreachable(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	var answer redis.Error
	if errors.As(err, &answer) {
		return false
	}
	return !(errors.Is(err, context.Canceled) && ctx.Err() != nil)
}

// Validate reports what is wrong with o by Go field path (Local and
// Logger are the gateway's, not checked): NewRedis refuses what it finds.
func (o RedisOptions) Validate() field.Errors {
	var errs field.Errors
	const hint = "write redis://host:port/db, or rediss:// for TLS; the password goes in password_secret"
	switch u, err := url.Parse(o.URL); {
	case o.URL == "":
		errs.Errorf("URL", hint, "is required")
	case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
		errs.Errorf("URL", hint, "is not a redis:// or rediss:// URL")
	case u.User != nil:
		if _, set := u.User.Password(); set {
			errs.Errorf("URL", hint, "holds a password: a configuration file is read by more people than a secret")
		}
	}
	if _, err := redis.ParseURL(o.URL); err != nil && !errs.HasErrors() {
		errs.Errorf("URL", hint, "is not a valid Redis URL")
	}
	switch o.OnError {
	case "", FailLocal, FailClosed:
	case InsecureFailOpen:
		errs.Warnf("OnError", "use fail_local: each instance then counts on its own while Redis is down",
			"while Redis is down, failed logins are not counted: no limit on password guessing")
	default:
		errs.Errorf("OnError", "use fail_local, fail_closed or insecure_fail_open", "%q is not a choice", o.OnError)
	}
	return errs
}

// NewRedis connects lazily (no round trip here) to o.URL.
func NewRedis(o RedisOptions) (*Redis, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	if o.Local == nil {
		return nil, errors.New("state: a Redis store needs the local store")
	}
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("state: %v", err)
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	// One attempt per call, no retry: while Redis is down the breaker
	// and OnError answer, not a wait.
	opt.MaxRetries, opt.DialerRetries = -1, 1
	r := &Redis{c: redis.NewClient(opt), p: o.Prefix, onErr: o.OnError, local: o.Local, logger: o.Logger,
		br: breaker{min: minBackoff, max: maxBackoff}, pending: o.Local.mark(pendingMark),
		bansPending: o.Local.mark(bansPendingMark)}
	if r.p == "" {
		r.p = "rampart:"
	}
	if r.onErr == "" {
		r.onErr = FailLocal
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r, nil
}

// Close closes the connections (not the local store).
func (r *Redis) Close() error { return r.c.Close() }

func (r *Redis) k(parts ...string) string { return r.p + strings.Join(parts, ":") }

// redisFamily is a family as stored in Redis, readable by the Lua script.
type redisFamily struct {
	ID       string   `json:"id"`
	User     string   `json:"user"`
	Roles    []string `json:"roles"`
	Created  int64    `json:"created"` // unix ms
	LastUsed int64    `json:"last"`
	Expires  int64    `json:"expires"`
	Current  string   `json:"cur"` // hex SHA-256
	Prev     string   `json:"prev"`
	PrevAt   int64    `json:"prev_at"`
	Revoked  bool     `json:"revoked"`
}

func (f redisFamily) family() session.Family {
	return session.Family{ID: f.ID, User: f.User, Roles: f.Roles, Created: time.UnixMilli(f.Created),
		LastUsed: time.UnixMilli(f.LastUsed), Expires: time.UnixMilli(f.Expires)}
}

// CreateFamily implements session.Store.
func (r *Redis) CreateFamily(ctx context.Context, f session.Family, token [32]byte) error {
	rf := redisFamily{ID: f.ID, User: f.User, Roles: f.Roles, Created: f.Created.UnixMilli(), LastUsed: f.LastUsed.UnixMilli(),
		Expires: f.Expires.UnixMilli(), Current: hex.EncodeToString(token[:])}
	data, err := json.Marshal(rf)
	if err != nil {
		return err
	}
	ttl := time.Until(f.Expires)
	if ttl <= 0 {
		return errors.New("state: session already expired")
	}
	var created bool
	err = r.call(ctx, func() (err error) {
		if created, err = r.c.SetNX(ctx, r.k("fam", f.ID), data, ttl).Result(); err != nil || !created {
			return err
		}
		return r.c.Set(ctx, r.k("tok", rf.Current), f.ID, ttl).Err()
	})
	if err == nil && !created {
		err = fmt.Errorf("session %s exists", f.ID)
	}
	return err
}

// rotateScript is Rotate, atomic in Redis. KEYS: tok:<old>, fam prefix,
// tok prefix, revocations zset, urev prefix; ARGV: old hex, next hex, now
// ms, grace ms, idle ms, channel.
var rotateScript = redis.NewScript(`
local sid = redis.call('GET', KEYS[1])
if not sid then return {'unknown', ''} end
local famKey = KEYS[2] .. sid
local raw = redis.call('GET', famKey)
if not raw then return {'unknown', ''} end
local f = cjson.decode(raw)
-- cjson cannot tell an empty array from an empty object: no roles are
-- written back as null, never as {}.
if type(f.roles) == 'table' and next(f.roles) == nil then f.roles = cjson.null end
local now = tonumber(ARGV[3])
local urev = redis.call('GET', KEYS[5] .. f.user)
local srev = redis.call('ZSCORE', KEYS[4], 's:' .. sid)
if f.revoked or (srev and tonumber(srev) > now) or (urev and f.created < tonumber(urev)) then return {'revoked', raw} end
if now >= f.expires or (tonumber(ARGV[5]) > 0 and now - f.last >= tonumber(ARGV[5])) then return {'expired', raw} end
if ARGV[1] == f.cur then
  f.prev = f.cur
  f.prev_at = now
  f.cur = ARGV[2]
  f.last = now
  local ttl = f.expires - now
  local enc = cjson.encode(f)
  redis.call('SET', famKey, enc, 'PX', ttl)
  redis.call('SET', KEYS[3] .. ARGV[2], sid, 'PX', ttl)
  return {'rotated', enc}
end
if ARGV[1] == f.prev and now - f.prev_at < tonumber(ARGV[4]) then return {'grace', raw} end
f.revoked = true
local enc = cjson.encode(f)
redis.call('SET', famKey, enc, 'PX', f.expires - now)
redis.call('ZADD', KEYS[4], f.expires, 's:' .. sid)
redis.call('PUBLISH', ARGV[6], cjson.encode({session = sid, ["until"] = f.expires}))
return {'reused', enc}
`)

// Rotate implements session.Store.
func (r *Redis) Rotate(ctx context.Context, old, next [32]byte, now time.Time, grace, idle time.Duration) (session.Rotation, error) {
	oldHex, nextHex := hex.EncodeToString(old[:]), hex.EncodeToString(next[:])
	var res []string
	err := r.call(ctx, func() (err error) {
		res, err = rotateScript.Run(ctx, r.c, []string{r.k("tok", oldHex), r.k("fam", ""), r.k("tok", ""), r.k("revocations"), r.k("urev", "")},
			oldHex, nextHex, now.UnixMilli(), grace.Milliseconds(), idle.Milliseconds(), r.k("revocations")).StringSlice()
		return err
	})
	if err != nil {
		return session.Rotation{}, err
	}
	var rot session.Rotation
	if len(res) == 2 && res[1] != "" {
		var rf redisFamily
		if err := json.Unmarshal([]byte(res[1]), &rf); err != nil {
			return rot, err
		}
		rot.Family = rf.family()
	}
	switch res[0] {
	case "rotated":
		rot.Outcome = session.Rotated
	case "grace":
		rot.Outcome = session.Grace
	case "reused":
		rot.Outcome = session.Reused
		// Kept locally too, like every revocation.
		r.local.RevokeSession(ctx, rot.Family.ID, rot.Family.Expires)
	case "expired":
		rot.Outcome = session.Expired
	case "revoked":
		rot.Outcome = session.Revoked
	default:
		rot.Outcome = session.Unknown
	}
	return rot, nil
}

// RevokeSession implements session.Store: locally first, then in Redis.
func (r *Redis) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	if err := r.local.RevokeSession(ctx, sid, until); err != nil {
		return err
	}
	return r.push(ctx, session.Revocation{Session: sid, Until: until})
}

// RevokeUser implements session.Store: locally first, then in Redis.
func (r *Redis) RevokeUser(ctx context.Context, user string, now, until time.Time) error {
	if err := r.local.RevokeUser(ctx, user, now, until); err != nil {
		return err
	}
	return r.push(ctx, session.Revocation{User: user, Before: now, Until: until})
}

// push writes a revocation to Redis and announces it. When Redis cannot
// be reached the revocation is already in the local store, enforced by
// this instance; it is pushed again, with every other local one, when
// Redis answers (Replay), even after a restart (the local store keeps
// the mark), and the error is not the caller's: nil.
func (r *Redis) push(ctx context.Context, rev session.Revocation) error {
	if err := r.write(ctx, rev); err != nil {
		r.mu.Lock()
		r.pending = true
		r.misses++
		r.mu.Unlock()
		if err := r.local.setMark(pendingMark, true); err != nil {
			r.logger.Error("state: marking a revocation to push again", "error", err)
		}
		r.logger.Warn("state: a revocation could not reach Redis; it is enforced here and will be pushed again", "error", err)
	}
	return nil
}

func (r *Redis) write(ctx context.Context, rev session.Revocation) error {
	msg, _ := json.Marshal(map[string]any{"session": rev.Session, "user": rev.User, "before": rev.Before.UnixMilli(), "until": rev.Until.UnixMilli()})
	pipe := r.c.TxPipeline()
	ttl := time.Until(rev.Until)
	if ttl <= 0 {
		return nil
	}
	if rev.Session != "" {
		pipe.ZAdd(ctx, r.k("revocations"), redis.Z{Score: float64(rev.Until.UnixMilli()), Member: "s:" + rev.Session})
		// The family itself is marked, so it stays revoked after the
		// denylist entry (kept only while access tokens live) lapses.
		// (EVAL, not EVALSHA: a pipeline cannot load a missing script.)
		pipe.Eval(ctx, markRevokedSrc, []string{r.k("fam", rev.Session)})
	} else {
		pipe.ZAdd(ctx, r.k("revocations"), redis.Z{Score: float64(rev.Until.UnixMilli()), Member: "u:" + strconv.FormatInt(rev.Before.UnixMilli(), 10) + ":" + rev.User})
		pipe.Set(ctx, r.k("urev", rev.User), rev.Before.UnixMilli(), ttl)
	}
	pipe.Publish(ctx, r.k("revocations"), msg)
	return r.call(ctx, func() error {
		_, err := pipe.Exec(ctx)
		return err
	})
}

// markRevokedSrc marks the family at KEYS[1], if any, revoked, keeping
// its time to live.
const markRevokedSrc = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local f = cjson.decode(raw)
if type(f.roles) == 'table' and next(f.roles) == nil then f.roles = cjson.null end
f.revoked = true
redis.call('SET', KEYS[1], cjson.encode(f), 'KEEPTTL')
return 1
`

// Replay pushes every local revocation in force, and every local ban
// record, to Redis when an earlier push failed. The gateway calls it
// periodically; it costs nothing while nothing is pending.
func (r *Redis) Replay(ctx context.Context, now time.Time) error {
	if err := r.replayBans(ctx, now); err != nil {
		return err
	}
	r.mu.Lock()
	pending, misses := r.pending, r.misses
	r.mu.Unlock()
	if !pending {
		return nil
	}
	list, err := r.local.revocations(now)
	if err != nil {
		return err
	}
	for _, rev := range list {
		if err := r.write(ctx, rev); err != nil {
			return err
		}
	}
	// A push that failed while these were written may have made a
	// revocation after the list was read: then all stay pending. The
	// mark is cleared under the lock, so a push failing now sets it
	// again after.
	r.mu.Lock()
	if r.misses == misses {
		if err := r.local.setMark(pendingMark, false); err != nil {
			r.mu.Unlock()
			return err
		}
		r.pending = false
	}
	r.mu.Unlock()
	r.logger.Info("state: revocations pushed to Redis again", "count", len(list))
	return nil
}

// Revocations implements session.Store: those in force in Redis and
// locally, then every new one from any instance (Redis pub/sub) or this
// one (local, even while Redis is down).
//
// Pub/sub delivers an announcement only to the subscribers connected when
// it is published: one made while this instance's link to Redis was down
// (a network fault, Redis restarting), or between the list read here and
// the subscription taking effect, would never reach it, and the session
// it ended would stay open here until its tokens expired. So each time
// the subscription is confirmed, the first time and after every
// reconnection, the revocations in force are read again from Redis and
// sent on the channel too. An announcement waits for the channel's
// reader rather than being dropped (go-redis drops one only when the
// reader has not read for a minute, and the reader, the session
// Manager, only adds it to a map).
func (r *Redis) Revocations(ctx context.Context, now time.Time) ([]session.Revocation, <-chan session.Revocation, error) {
	localList, localCh, err := r.local.Revocations(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	list := localList
	remote, err := r.inForce(ctx, now)
	if err != nil {
		r.logger.Warn("state: revocations could not be read from Redis; the local ones are enforced", "error", err)
	}
	list = append(list, remote...)
	out := follow(ctx, r, "revocations", 64, localCh, func(ctx context.Context) ([]session.Revocation, error) {
		return r.inForce(ctx, time.Now())
	}, parseAnnouncement)
	return list, out, nil
}

// follow returns the channel of a Redis-shared set's changes, open until
// ctx is done: those of the local store (localCh), those announced on
// the Redis channel named name (parse reads an announcement), and, each
// time the subscription is confirmed (the first time and after every
// reconnection), the whole set read again from Redis (read), so nothing
// announced while this instance was cut off is missed. A read that
// fails is tried again every second until it succeeds. A change waits
// for the channel's reader rather than being dropped.
func follow[T any](ctx context.Context, r *Redis, name string, size int, localCh <-chan T,
	read func(context.Context) ([]T, error), parse func(payload string) (T, bool)) <-chan T {
	sub := r.c.Subscribe(ctx, r.k(name))
	msgs := sub.ChannelWithSubscriptions()
	out := make(chan T, size)
	go func() {
		defer close(out)
		defer sub.Close()
		send := func(v T) bool {
			select {
			case out <- v:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// retry is set while a read after a (re)subscription failed.
		var retry <-chan time.Time
		resync := func() bool {
			all, err := read(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, ErrUnavailable) {
					r.logger.Warn("state: "+name+" could not be read again from Redis; retrying", "error", err)
				}
				retry = time.After(time.Second)
				return true
			}
			retry = nil
			for _, v := range all {
				if !send(v) {
					return false
				}
			}
			return true
		}
		for {
			select {
			case <-ctx.Done():
				return
			case v, ok := <-localCh:
				if !ok || !send(v) {
					return
				}
			case <-retry:
				if !resync() {
					return
				}
			case m, ok := <-msgs:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *redis.Subscription:
					if m.Kind == "subscribe" && !resync() {
						return
					}
				case *redis.Message:
					if v, ok := parse(m.Payload); ok && !send(v) {
						return
					}
				}
			}
		}
	}()
	return out
}

// inForce reads the revocations in force at now from Redis.
func (r *Redis) inForce(ctx context.Context, now time.Time) ([]session.Revocation, error) {
	var members []redis.Z
	err := r.call(ctx, func() (err error) {
		members, err = r.c.ZRangeByScoreWithScores(ctx, r.k("revocations"), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf"}).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	var list []session.Revocation
	for _, z := range members {
		if rev, ok := parseMember(z.Member.(string), int64(z.Score)); ok {
			list = append(list, rev)
		}
	}
	return list, nil
}

// parseAnnouncement reads a revocation published by write or the rotate
// script.
func parseAnnouncement(payload string) (session.Revocation, bool) {
	var v struct {
		Session, User string
		Before, Until int64
	}
	if json.Unmarshal([]byte(payload), &v) != nil {
		return session.Revocation{}, false
	}
	rev := session.Revocation{Session: v.Session, User: v.User, Until: time.UnixMilli(v.Until)}
	if v.Before != 0 {
		rev.Before = time.UnixMilli(v.Before)
	}
	return rev, true
}

func parseMember(m string, until int64) (session.Revocation, bool) {
	switch {
	case strings.HasPrefix(m, "s:"):
		return session.Revocation{Session: m[2:], Until: time.UnixMilli(until)}, true
	case strings.HasPrefix(m, "u:"):
		before, user, ok := strings.Cut(m[2:], ":")
		ms, err := strconv.ParseInt(before, 10, 64)
		if !ok || err != nil {
			return session.Revocation{}, false
		}
		return session.Revocation{User: user, Before: time.UnixMilli(ms), Until: time.UnixMilli(until)}, true
	}
	return session.Revocation{}, false
}

// failScript counts a failure in a window that starts at the first one.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// Fail counts a failure under key (see Embedded.Fail), in Redis, or as
// OnError says while Redis is down.
func (r *Redis) Fail(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var n int
	err := r.call(ctx, func() (err error) {
		n, err = failScript.Run(ctx, r.c, []string{r.k("fail", key)}, window.Milliseconds()).Int()
		return err
	})
	if err == nil {
		return n, nil
	}
	return r.onDown(err, func() (int, error) { return r.local.Fail(ctx, key, window, now) })
}

// Failures returns key's count in its window.
func (r *Redis) Failures(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var n int
	err := r.call(ctx, func() (err error) {
		n, err = r.c.Get(ctx, r.k("fail", key)).Int()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err == nil {
		return n, nil
	}
	return r.onDown(err, func() (int, error) { return r.local.Failures(ctx, key, window, now) })
}

// Reset forgets key's failures.
func (r *Redis) Reset(ctx context.Context, key string) error {
	r.local.Reset(ctx, key)
	if err := r.call(ctx, func() error { return r.c.Del(ctx, r.k("fail", key)).Err() }); err != nil && r.onErr == FailClosed {
		return err
	}
	return nil
}

// Once marks key used for ttl (see Embedded.Once).
func (r *Redis) Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	var ok bool
	err := r.call(ctx, func() (err error) {
		ok, err = r.c.SetNX(ctx, r.k("once", key), 1, ttl).Result()
		return err
	})
	if err == nil {
		return ok, nil
	}
	switch r.onErr {
	case FailClosed:
		return false, err
	case InsecureFailOpen:
		return true, nil
	}
	return r.local.Once(ctx, key, ttl, now)
}

// blockScript sets KEYS[1] to the end ARGV[1] (unix ms), expiring then,
// unless it already ends later.
var blockScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilms = tonumber(ARGV[1])
if cur >= untilms then return 0 end
redis.call('SET', KEYS[1], untilms, 'PXAT', untilms)
return 1
`)

// Block refuses key until until, in Redis, or as OnError says while
// Redis is down (see Embedded.Block).
func (r *Redis) Block(ctx context.Context, key string, until time.Time) error {
	err := r.call(ctx, func() error { return blockScript.Run(ctx, r.c, []string{r.k("block", key)}, until.UnixMilli()).Err() })
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	switch r.onErr {
	case FailClosed:
		return err
	case InsecureFailOpen:
		return nil
	}
	return r.local.Block(ctx, key, until)
}

// BlockedUntil returns when key's block ends, or the zero time.
func (r *Redis) BlockedUntil(ctx context.Context, key string, now time.Time) (time.Time, error) {
	var ms int64
	err := r.call(ctx, func() (err error) {
		ms, err = r.c.Get(ctx, r.k("block", key)).Int64()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return time.Time{}, nil
	case err == nil:
		if t := time.UnixMilli(ms); t.After(now) {
			return t, nil
		}
		return time.Time{}, nil
	}
	switch r.onErr {
	case FailClosed:
		return time.Time{}, err
	case InsecureFailOpen:
		return time.Time{}, nil
	}
	return r.local.BlockedUntil(ctx, key, now)
}

func (r *Redis) onDown(err error, local func() (int, error)) (int, error) {
	switch r.onErr {
	case FailClosed:
		return 0, err
	case InsecureFailOpen:
		return 0, nil
	}
	return local()
}

// Ping asks Redis to answer now, for a readiness check. It bypasses the
// breaker: it says whether Redis answers, not whether calls are let
// through.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }
