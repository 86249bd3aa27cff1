package ratelimit

import "sync/atomic"

type countersSet struct {
	passed   atomic.Uint64
	delayed  atomic.Uint64
	rejected atomic.Uint64
}

type counters struct {
	enforced      countersSet
	dryRun        countersSet // dry_run and shadow rules
	abandoned     atomic.Uint64
	backendErrors atomic.Uint64
}

// Counts are one zone's counters since the Limiter was built. A request is
// counted by every zone that checked and charged it: as delayed by a zone
// whose own excess called for a delay, else as passed; a rejection is
// counted by the rejecting zone only.
type Counts struct {
	Passed, Delayed, Rejected uint64
	// DryRun* count the same outcomes under dry_run and shadow rules,
	// which never act.
	DryRunPassed, DryRunDelayed, DryRunRejected uint64
	// Abandoned counts delayed requests whose client left while waiting.
	Abandoned uint64
	// BackendErrors counts decisions the shared store failed to make.
	BackendErrors uint64
	// States is the number of keys held in memory, Capacity its bound.
	States, Capacity int
}

// Stats returns the counters of the named zone; ok is false if there is no
// such zone.
func (l *Limiter) Stats(zone string) (c Counts, ok bool) {
	z := l.zones[zone]
	if z == nil {
		return c, false
	}
	s := z.stats
	c = Counts{
		Passed: s.enforced.passed.Load(), Delayed: s.enforced.delayed.Load(), Rejected: s.enforced.rejected.Load(),
		DryRunPassed: s.dryRun.passed.Load(), DryRunDelayed: s.dryRun.delayed.Load(), DryRunRejected: s.dryRun.rejected.Load(),
		Abandoned: s.abandoned.Load(), BackendErrors: s.backendErrors.Load(),
		Capacity: z.capacity,
	}
	if z.mem != nil {
		c.States = z.mem.Len()
	}
	return c, true
}

// Zones returns the zone names, sorted.
func (l *Limiter) Zones() []string {
	names := make([]string, len(l.zoneList))
	for i, z := range l.zoneList {
		names[i] = z.name
	}
	return names
}

// EachZone calls f for each zone that checked and charged the request under
// d's rule, with the outcome the zone counts in Stats: Reject for the zone
// that rejected, Delay for a zone whose own excess called for a delay,
// Pass otherwise. Zones that did not count the request (no key for it, or
// checked after another zone rejected) are left out. It is how a metrics
// observer (Options.OnDecision) counts decisions per zone; d.Shadow has
// zones of its own.
func (d *Decision) EachZone(f func(zone string, outcome Action)) {
	if d.rule == nil {
		return
	}
	for i := 0; i < d.n; i++ {
		zr := &d.zones[i]
		if !zr.active {
			continue
		}
		lim := &d.rule.limits[i]
		switch {
		case d.Action == Reject && lim.z.name == d.Zone:
			f(lim.z.name, Reject)
		case d.Action == Reject:
			// checked, not charged
		case zr.excess > lim.delay:
			f(lim.z.name, Delay)
		default:
			f(lim.z.name, Pass)
		}
	}
}
