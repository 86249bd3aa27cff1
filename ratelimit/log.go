package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/seclog"
)

// maxLoggedKey bounds a key copied into the log.
const maxLoggedKey = 128

// printable returns s cut to at most n bytes on a rune boundary, with
// every rune that is not printable (controls, invalid UTF-8, and format
// characters such as the bidi overrides that make a line display in
// another order) replaced by U+FFFD. A KeyFunc key may hold client-chosen
// text (a user name), and JSON log handlers escape only C0 controls.
func printable(s string, n int) string {
	clean := len(s) <= n
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fingerprint stands in the log for a key taken from a request header. Such
// a key is usually a credential (an API key, a bearer token), which must
// not reach the log, and it is chosen by the client, bytes and length
// alike. The first 64 bits of its SHA-256 still let an operator tell
// clients apart and match a known key (hash it the same way); the access
// log leaves the key out entirely.
func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// logReject records a rejection as a security event, sampled per zone and
// key so that a flood yields a bounded number of records (the number of
// suppressed ones is reported with the next).
func (l *Limiter) logReject(k *reqKey, d *Decision) {
	lim := l.zones[d.Zone]
	key := lim.keyString(k)
	// Sample on the raw key's head, so that a flood of rejections costs no
	// hashing or cleaning of keys that will not be logged (a header key
	// can be as long as the headers).
	head := key
	if len(head) > maxLoggedKey {
		head = head[:maxLoggedKey]
	}
	ok, suppressed := l.sampler.Allow(d.Zone + "\x00" + head)
	if !ok {
		return
	}
	if lim.kind == keyHeader {
		key = fingerprint(key)
	} else {
		key = printable(key, maxLoggedKey)
	}
	desc := "request rejected by rate limit"
	level := slog.LevelWarn
	if d.DryRun {
		desc = "request over rate limit (not enforced: dry run or shadow rule)"
		level = slog.LevelInfo
	}
	l.log.Event(k.r.Context(), k.r, level, seclog.ExcessRateLimitExceeded, desc,
		slog.String("zone", d.Zone),
		slog.String("key", key),
		slog.String("rule", d.Prefix),
		slog.Bool("dry_run", d.DryRun),
		slog.Int("retry_after", d.RetryAfter),
		slog.Int("suppressed", suppressed),
	)
}
