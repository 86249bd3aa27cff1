package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/clientip"
)

// Counters is what the brute-force defence keeps in the state store:
// failure counts in a window and blocks with an end. internal/state's
// stores implement it, shared by every instance with Redis.
type Counters interface {
	Fail(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	Failures(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	Reset(ctx context.Context, key string) error
	Block(ctx context.Context, key string, until time.Time) error
	BlockedUntil(ctx context.Context, key string, now time.Time) (time.Time, error)
	Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
}

// Brute-force defence. Failures are counted per user name (unknown names
// included, so probing for names costs the same), per client address
// (IPv6 per /64) and per (name, address) pair, each over FailureWindow.
//
//   - A pair gets PairFreeFailures failures, then waits before each new
//     attempt: 1 s after the next failure, doubling up to MaxBackoff. The
//     wait is per pair, so an attacker elsewhere cannot lock the real user
//     out: the user's own address has its own count.
//   - A name failing UserAlarmFailures times from anywhere (credential
//     stuffing spread over many addresses) is reported
//     (authn_login_fail_max), and from then on every pair with a failure
//     for it waits: one free guess per address instead of five.
//   - An address failing AddressFreeFailures times, whatever the names,
//     waits the same way before its next attempt at any name.
//
// An attempt during a wait is refused before its password is hashed:
// 429 with Retry-After, authn_login_lock in the security log.
const (
	FailureWindow       = 15 * time.Minute
	PairFreeFailures    = 5
	UserAlarmFailures   = 20
	AddressFreeFailures = 20
	MaxBackoff          = 15 * time.Minute
)

func backoff(excess int) time.Duration {
	if excess >= 10 { // 1s << 10 is past MaxBackoff already
		return MaxBackoff
	}
	return min(time.Second<<excess, MaxBackoff)
}

// throttleKeys are the counter keys of one attempt. A name is hashed: the
// store never holds what an attacker typed, and every key is short.
type throttleKeys struct {
	user, addr, pair string
}

func keysFor(name string, addr netip.Addr) throttleKeys {
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	u := hex.EncodeToString(sum[:12])
	a := clientip.Key(addr).String()
	return throttleKeys{
		user: "login:u:" + u,
		addr: "login:a:" + a,
		pair: "login:p:" + u + ":" + a,
	}
}

type throttle struct {
	c   Counters
	now func() time.Time
}

// blocked returns when the attempt may be made, or the zero time if now.
func (t *throttle) blocked(ctx context.Context, k throttleKeys) (time.Time, error) {
	now := t.now()
	var until time.Time
	for _, key := range []string{k.pair, k.addr} {
		u, err := t.c.BlockedUntil(ctx, key, now)
		if err != nil {
			return time.Time{}, err
		}
		if u.After(until) {
			until = u
		}
	}
	return until, nil
}

// failure counts a failed attempt and starts the waits it earns. alarm
// reports each threshold crossed by this failure, for
// authn_login_fail_max.
type failureCount struct {
	pair, user, addr int
	alarm            []string
	wait             time.Duration
}

func (t *throttle) fail(ctx context.Context, k throttleKeys) (failureCount, error) {
	now := t.now()
	var fc failureCount
	var err error
	if fc.pair, err = t.c.Fail(ctx, k.pair, FailureWindow, now); err != nil {
		return fc, err
	}
	if fc.user, err = t.c.Fail(ctx, k.user, FailureWindow, now); err != nil {
		return fc, err
	}
	if fc.addr, err = t.c.Fail(ctx, k.addr, FailureWindow, now); err != nil {
		return fc, err
	}
	free := PairFreeFailures
	if fc.user >= UserAlarmFailures {
		free = 1
	}
	if fc.pair == PairFreeFailures {
		fc.alarm = append(fc.alarm, "pair")
	}
	if fc.user == UserAlarmFailures {
		fc.alarm = append(fc.alarm, "user")
	}
	if fc.addr == AddressFreeFailures {
		fc.alarm = append(fc.alarm, "address")
	}
	if fc.pair >= free {
		fc.wait = backoff(fc.pair - free)
		if err := t.c.Block(ctx, k.pair, now.Add(fc.wait)); err != nil {
			return fc, err
		}
	}
	if fc.addr >= AddressFreeFailures {
		w := backoff(fc.addr - AddressFreeFailures)
		fc.wait = max(fc.wait, w)
		if err := t.c.Block(ctx, k.addr, now.Add(w)); err != nil {
			return fc, err
		}
	}
	return fc, nil
}

// success forgets the pair's failures: the user proved who they are from
// there. The name's and the address's counts stay, so a success in the
// middle of an attack does not reset its alarm.
func (t *throttle) success(ctx context.Context, k throttleKeys) error {
	return t.c.Reset(ctx, k.pair)
}
