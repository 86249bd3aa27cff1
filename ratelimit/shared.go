package ratelimit

import (
	"context"
	"errors"
	"log/slog"

	"github.com/rampart-dev/rampart/seclog"
)

// SharedStore keeps zone states outside the process, so that several
// instances enforce one combined limit. ratelimit/redis implements it; this
// package imports no client for any store.
type SharedStore interface {
	// Take runs nginx's limit_req decision for one request over limits,
	// atomically and on the store's own clock: check each limit in order
	// (a new key gets a state with excess 0 even when not accounted; the
	// limit with Last set accounts at once), stop at the first rejection,
	// then account the others. It writes each checked limit's excess
	// (milli-requests) to excess and returns the index of the rejecting
	// limit, or -1.
	Take(ctx context.Context, limits []SharedLimit, excess []int64) (rejected int, err error)
}

// SharedLimit is one zone's part of a shared decision.
type SharedLimit struct {
	Zone  string // zone name
	Key   string // the request's key in the zone (client prefix, header value...)
	Rate  int64  // milli-requests per second
	Burst int64  // milli-requests
	Last  bool   // the rule's last limit: nginx accounts it during the check
}

// evaluateShared decides through the rule's shared store. It returns false
// when the store failed and the policy is fail_local: the caller then
// decides with the in-memory states.
func (l *Limiter) evaluateShared(k *reqKey, ru *rule, d *Decision) bool {
	var (
		sl  [MaxLimits]SharedLimit
		idx [MaxLimits]int
		ex  [MaxLimits]int64
		buf [64]byte
		n   int
	)
	last := len(ru.limits) - 1
	for i := range ru.limits {
		lim := &ru.limits[i]
		if _, ok := lim.z.appendKey(buf[:0], k); !ok {
			continue
		}
		sl[n] = SharedLimit{Zone: lim.z.name, Key: lim.z.keyString(k), Rate: lim.z.rate, Burst: lim.burst, Last: i == last}
		idx[n] = i
		n++
	}
	if n == 0 {
		return true
	}
	rej, err := ru.shared.Take(k.r.Context(), sl[:n], ex[:n])
	if err != nil {
		return l.backendFailed(k, ru, d, sl[:n], idx[:n], err)
	}
	checked := n
	if rej >= 0 {
		checked = rej + 1
	}
	if rej >= n {
		return l.backendFailed(k, ru, d, sl[:n], idx[:n], errors.New("shared store: rejected index out of range"))
	}
	for j := 0; j < checked; j++ {
		zr := &d.zones[idx[j]]
		zr.active = true
		zr.excess = ex[j]
	}
	if rej >= 0 {
		l.rejectAt(d, idx[rej])
		return true
	}
	l.delays(d)
	return true
}

// backendFailed applies the strictest on_backend_error policy of the zones
// involved: fail_closed rejects, fail_local decides in memory, fail_open
// lets the request through. The failure is counted and logged (sampled).
func (l *Limiter) backendFailed(k *reqKey, ru *rule, d *Decision, sl []SharedLimit, idx []int, err error) bool {
	if k.r.Context().Err() != nil {
		// The client left; not the store's fault, and nothing to serve:
		// Handler drops the request rather than pass it uncharged.
		d.gone = true
		return true
	}
	policy := FailOpen
	var culprit *zone
	ci := 0 // culprit's index in the rule
	for _, i := range idx {
		z := ru.limits[i].z
		z.stats.backendErrors.Add(1)
		switch {
		case z.onErr == FailClosed:
			policy, culprit, ci = FailClosed, z, i
		case z.onErr == FailLocal && policy != FailClosed:
			policy, culprit, ci = FailLocal, z, i
		case culprit == nil:
			culprit, ci = z, i
		}
	}
	d.BackendError = true
	if ok, suppressed := l.sampler.Allow("backend\x00" + culprit.name); ok {
		l.log.Event(k.r.Context(), k.r, slog.LevelError, seclog.SysMonitorDisabled,
			"shared rate limit store unavailable",
			slog.String("zone", culprit.name),
			slog.String("on_backend_error", string(policy)),
			slog.String("error", err.Error()),
			slog.Int("suppressed", suppressed),
		)
	}
	switch policy {
	case FailClosed:
		// The zone that closed rejects, as if over its limit: it counts
		// the rejection and the response carries its RateLimit fields.
		d.Action = Reject
		d.Zone = culprit.name
		d.RetryAfter = 1
		d.zones[ci] = zoneResult{active: true}
		return true
	case FailLocal:
		return false
	}
	return true
}
