// Package redis keeps ratelimit zones in Redis, so that several rampart
// instances enforce one combined limit with nginx's limit_req arithmetic.
//
// Each decision is one Lua script (take.lua) run atomically by Redis over
// the states of all the zones of the rule: check each in order, stop at the
// first rejection, account the others, on Redis's own clock (TIME), so the
// instances' clocks do not matter. States are hashes with a TTL of 61 s plus
// the time their excess takes to drain: Redis memory is bounded by the keys
// active in the last minute, and a state expires only when nginx would have
// freed it (idle for 60 s and drained), so expiry never changes a decision.
// Keys are the zone name and a SHA-256 of the client's key, so a
// client-chosen header cannot make long or odd Redis keys.
//
// While Redis is unreachable, Take fails fast (it does not wait on Redis
// for every request): after a failure it returns ErrUnavailable for a
// backoff that doubles from 250 ms to 5 s, then lets one request try
// again while the others keep failing fast; the first success ends the
// outage. The zone's on_backend_error policy decides
// meanwhile (see ratelimit.Zone).
package redis

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/ratelimit"
)

//go:embed take.lua
var takeLua string

var takeScript = goredis.NewScript(takeLua)

// ErrUnavailable is returned while Redis is considered down.
var ErrUnavailable = errors.New("ratelimit/redis: backend unavailable (backing off)")

// Options configure a Store.
type Options struct {
	// URL is redis://[user@]host:port/db or rediss:// for TLS. Required.
	URL string
	// Password, when not empty, replaces any password in URL (read it
	// from a secret file, not from the configuration).
	Password string
	// Prefix is prepended to every key. Empty means "rampart:rl:".
	Prefix string
	// Timeout bounds one decision (dial, script, reply). Zero means 100 ms:
	// a rate limiter that waits longer than that is worse than its
	// on_backend_error policy.
	Timeout time.Duration
	// Now, when not nil, replaces Redis TIME as the clock (milliseconds).
	// For tests only.
	Now func() int64
	// MinBackoff and MaxBackoff bound the wait between attempts while Redis
	// is down. Zero means 250 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
}

// Store is a ratelimit.SharedStore in Redis.
type Store struct {
	c       *goredis.Client
	prefix  string
	timeout time.Duration
	now     func() int64
	min     time.Duration
	max     time.Duration

	mu        sync.Mutex
	downUntil time.Time
	backoff   time.Duration
	probing   bool // a request is finding out whether Redis is back
}

var _ ratelimit.SharedStore = (*Store)(nil)

// Validate checks o as New does, without connecting: URL must be one
// go-redis reads (a database number for a path, only its own options in
// the query). A configuration check runs it, so that a URL the store
// would refuse at start-up is refused there. Findings never repeat the
// URL, which may hold a password.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	if o.URL == "" {
		errs.Errorf("URL", urlHint, "is required")
	} else if _, err := goredis.ParseURL(o.URL); err != nil {
		errs.Errorf("URL", urlHint, "is not a valid redis:// or rediss:// URL")
	}
	return errs
}

const urlHint = "write redis://[user@]host:port/db, or rediss:// for TLS"

// New returns a Store for o, after Validate. It does not connect: the
// first decision does.
func New(o Options) (*Store, error) {
	if errs := o.Validate(); errs.HasErrors() {
		return nil, errs.Err()
	}
	opt, err := goredis.ParseURL(o.URL)
	if err != nil {
		return nil, errors.New("URL: is not a valid redis:// or rediss:// URL")
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	s := &Store{prefix: o.Prefix, timeout: o.Timeout, now: o.Now, min: o.MinBackoff, max: o.MaxBackoff}
	if s.prefix == "" {
		s.prefix = "rampart:rl:"
	}
	if s.timeout <= 0 {
		s.timeout = 100 * time.Millisecond
	}
	if s.min <= 0 {
		s.min = 250 * time.Millisecond
	}
	if s.max <= 0 {
		s.max = 5 * time.Second
	}
	opt.DialTimeout = s.timeout
	opt.ReadTimeout = s.timeout
	opt.WriteTimeout = s.timeout
	opt.PoolTimeout = s.timeout
	opt.MaxRetries = -1 // no retries: the policy handles failures
	s.c = goredis.NewClient(opt)
	return s, nil
}

// Close closes the connections to Redis.
func (s *Store) Close() error { return s.c.Close() }

// Key returns the Redis key of a zone's state for key.
func (s *Store) Key(zone, key string) string {
	h := sha256.Sum256([]byte(key))
	return s.prefix + zone + ":" + hex.EncodeToString(h[:16])
}

// Take implements ratelimit.SharedStore.
func (s *Store) Take(ctx context.Context, limits []ratelimit.SharedLimit, excess []int64) (int, error) {
	// While Redis is down, one request at a time probes it when the
	// backoff ends; the others keep their zones' policy without waiting.
	// Otherwise every concurrent request would pay the full timeout
	// against a host that drops packets.
	s.mu.Lock()
	if time.Now().Before(s.downUntil) || s.backoff > 0 && s.probing {
		s.mu.Unlock()
		return -1, ErrUnavailable
	}
	probe := s.backoff > 0
	if probe {
		s.probing = true
		defer func() {
			s.mu.Lock()
			s.probing = false
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()

	keys := make([]string, len(limits))
	args := make([]any, 1, 1+3*len(limits))
	args[0] = int64(-1)
	if s.now != nil {
		args[0] = s.now()
	}
	for i, l := range limits {
		keys[i] = s.Key(l.Zone, l.Key)
		last := "0"
		if l.Last {
			last = "1"
		}
		args = append(args, l.Rate, l.Burst, last)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := takeScript.Run(ctx, s.c, keys, args...).Int64Slice()
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.failed(probe)
		}
		return -1, fmt.Errorf("ratelimit/redis: %w", err)
	}
	s.mu.Lock()
	s.backoff = 0
	s.mu.Unlock()
	if len(res) < 1 || len(res)-1 > len(excess) {
		return -1, errors.New("ratelimit/redis: unexpected script reply of " + strconv.Itoa(len(res)) + " values")
	}
	copy(excess, res[1:])
	return int(res[0]), nil
}

// failed records a failed decision. Requests that were already in flight
// when Redis went down fail together; only the first of them, or a probe,
// moves the backoff on, so one outage does not jump straight to the
// longest backoff.
func (s *Store) failed(probe bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !probe && s.backoff > 0 {
		return
	}
	if s.backoff == 0 {
		s.backoff = s.min
	} else {
		s.backoff = min(2*s.backoff, s.max)
	}
	s.downUntil = time.Now().Add(s.backoff)
}

// Ping asks Redis to answer now, for a readiness check, whatever the
// back-off of the decisions.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }
