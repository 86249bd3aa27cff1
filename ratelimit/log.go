package ratelimit

import (
	"log/slog"

	"github.com/rampart-dev/rampart/seclog"
)

// maxLoggedKey bounds a key copied into the log: header keys are chosen by
// the client.
const maxLoggedKey = 128

// logReject records a rejection as a security event, sampled per zone and
// key so that a flood yields a bounded number of records (the number of
// suppressed ones is reported with the next).
func (l *Limiter) logReject(k *reqKey, d *Decision) {
	lim := l.zones[d.Zone]
	key := lim.keyString(k)
	if len(key) > maxLoggedKey {
		key = key[:maxLoggedKey]
	}
	ok, suppressed := l.sampler.Allow(d.Zone + "\x00" + key)
	if !ok {
		return
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
