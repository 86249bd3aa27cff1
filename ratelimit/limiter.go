package ratelimit

import (
	"hash/maphash"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/seclog"
)

// Limiter decides and enforces rate limits. It is safe for concurrent use.
type Limiter struct {
	zones            map[string]*zone
	zoneList         []*zone
	rules            []*rule
	status           int
	headersOnAllowed bool
	log              *seclog.Logger
	sampler          *seclog.Sampler
	now              func() int64
	onDecision       func(*http.Request, Decision)
}

type zone struct {
	name     string
	kind     keyKind
	header   string
	fn       func(*http.Request) string
	v4bits   int
	v6bits   int
	allow    []netip.Prefix
	seed     maphash.Seed
	rate     int64 // milli-requests per second
	capacity int
	mem      *memZone
	shared   SharedStore
	onErr    BackendErrorPolicy
	stats    *counters // shared with the zone it replaced, see Options.Previous
	zo       Zone      // the settings it was built from
}

type rule struct {
	prefix  reqpath.Prefix
	written string // the prefix as configured, for logs and Decision
	methods []string
	limits  []limit
	dryRun  bool
	shadow  bool
	shared  SharedStore
	policy  string // RateLimit-Policy field value
}

type limit struct {
	z     *zone
	burst int64 // milli-requests
	delay int64 // milli-requests
}

// Action is what a decision asks for.
type Action uint8

const (
	Pass   Action = iota // forward now
	Delay                // forward after Decision.Delay
	Reject               // answer with the rejection status
)

func (a Action) String() string {
	switch a {
	case Delay:
		return "delay"
	case Reject:
		return "reject"
	}
	return "pass"
}

// Decision is the outcome for one request under one rule.
type Decision struct {
	Action Action
	// Delay is how long to wait before forwarding (Action Delay).
	Delay time.Duration
	// RetryAfter is the wait, in whole seconds rounded up, after which the
	// rejecting zone would accept the request (Action Reject).
	RetryAfter int
	// Zone names the zone that rejected, or imposed the longest delay.
	Zone string
	// Prefix is the prefix of the governing rule, as configured.
	Prefix string
	// DryRun is set when the rule only observes (dry_run); the request is
	// then neither rejected nor delayed whatever Action says.
	DryRun bool
	// BackendError is set when the shared store failed and the zone's
	// on_backend_error policy decided instead.
	BackendError bool
	// Shadow is the decision of the shadow rule, if one matched. It is
	// informational only.
	Shadow *Decision
	// AmbiguousPath is set, with Action Reject, when the request's path
	// could be read in more than one way (reqpath.FromRequest fails: no
	// reqpath.Policy handler runs in front). No rule can be chosen for
	// such a path, so the limiter refuses it rather than let the client
	// pick; Handler answers 400.
	AmbiguousPath bool

	rule  *rule
	gone  bool // the client left during a shared decision
	n     int
	zones [MaxLimits]zoneResult
}

type zoneResult struct {
	active bool
	fresh  bool
	excess int64 // milli-requests after the request (or the rejected value)
	h      uint64
}

func (l *Limiter) match(r *http.Request, p string, shadow bool) *rule {
	for _, ru := range l.rules {
		if ru.shadow != shadow || !ru.prefix.Match(p) {
			continue
		}
		if len(ru.methods) > 0 && !slices.Contains(ru.methods, r.Method) {
			continue
		}
		return ru
	}
	return nil
}

// governing returns the rule and the shadow rule that govern r, each nil
// when none matches; ambiguous: r's path has no canonical form while rules
// exist. It charges nothing.
func (l *Limiter) governing(r *http.Request) (ru, sh *rule, ambiguous bool) {
	if len(l.rules) == 0 {
		return nil, nil, false
	}
	p, err := reqpath.FromRequest(r)
	if err != nil {
		return nil, nil, true
	}
	return l.match(r, p, false), l.match(r, p, true), false
}

// Check decides for r and charges it to the zones of the rule governing
// it; ok is false when no rule governs r. The shadow rule, if any, is
// evaluated too (d.Shadow). Rejections are counted and logged here; the
// response is the caller's (see Handler). Rules are matched on the
// canonical path (reqpath.FromRequest); a path that has none is rejected
// (d.AmbiguousPath).
func (l *Limiter) Check(r *http.Request) (d Decision, ok bool) {
	ru, sh, ambiguous := l.governing(r)
	return l.decide(r, ru, sh, ambiguous)
}

// decide is Check for the rules governing found.
func (l *Limiter) decide(r *http.Request, ru, sh *rule, ambiguous bool) (d Decision, ok bool) {
	if ambiguous {
		return Decision{Action: Reject, AmbiguousPath: true}, true
	}
	if ru == nil && sh == nil {
		return d, false
	}
	k := reqKey{r: r}
	if ru != nil {
		l.evaluate(&k, ru, &d)
		l.record(&k, &d)
	}
	if sh != nil {
		sd := new(Decision)
		l.evaluate(&k, sh, sd)
		l.record(&k, sd)
		if ru == nil {
			// Only a shadow rule: observe, never act.
			d = Decision{Action: Pass, Prefix: sd.Prefix, DryRun: true}
		}
		d.Shadow = sd
	}
	return d, true
}

// evaluate runs nginx's limit_req handler for one rule.
func (l *Limiter) evaluate(k *reqKey, ru *rule, d *Decision) {
	d.rule = ru
	d.Prefix = ru.written
	d.DryRun = ru.dryRun || ru.shadow
	d.n = len(ru.limits)
	if ru.shared != nil {
		if l.evaluateShared(k, ru, d) {
			return
		}
	}
	l.evaluateMem(k, ru, d)
}

func (l *Limiter) evaluateMem(k *reqKey, ru *rule, d *Decision) {
	now := l.now()
	var buf [64]byte
	last := len(ru.limits) - 1
	// Check each zone in order without accounting (the last one accounts
	// at once, as nginx does); stop at the first rejection.
	for i := range ru.limits {
		lim := &ru.limits[i]
		key, ok := lim.z.appendKey(buf[:0], k)
		if !ok {
			continue
		}
		zr := &d.zones[i]
		zr.active = true
		zr.h = maphash.Bytes(lim.z.seed, key)
		excess, busy, fresh := lim.z.mem.lookup(zr.h, now, lim.burst, i == last)
		zr.excess, zr.fresh = excess, fresh
		if busy {
			l.rejectAt(d, i)
			return
		}
	}
	// Account the others, last to first, keeping the longest delay.
	for i := last; i >= 0; i-- {
		zr := &d.zones[i]
		if !zr.active {
			continue
		}
		if i != last {
			zr.excess = ru.limits[i].z.mem.account(zr.h, now)
		}
	}
	l.delays(d)
}

// rejectAt marks d rejected by zone i and clears the zones after it.
func (l *Limiter) rejectAt(d *Decision, i int) {
	lim := &d.rule.limits[i]
	d.Action = Reject
	d.Zone = lim.z.name
	waitMs := ceilDiv((d.zones[i].excess-lim.burst)*1000, lim.z.rate)
	d.RetryAfter = int(max(1, ceilDiv(waitMs, 1000)))
	for j := i + 1; j < len(d.zones); j++ {
		d.zones[j] = zoneResult{}
	}
}

// delays sets the action from the accounted excesses: the longest delay of
// all zones wins; on a tie, the later zone is named (nginx's order).
func (l *Limiter) delays(d *Decision) {
	var maxDelay int64
	for i := d.n - 1; i >= 0; i-- {
		zr := &d.zones[i]
		if !zr.active {
			continue
		}
		lim := &d.rule.limits[i]
		if zr.excess <= lim.delay {
			continue
		}
		if dl := (zr.excess - lim.delay) * 1000 / lim.z.rate; dl > maxDelay {
			maxDelay = dl
			d.Zone = lim.z.name
		}
	}
	if maxDelay > 0 {
		d.Action = Delay
		d.Delay = time.Duration(maxDelay) * time.Millisecond
	}
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// record counts the decision per zone and logs rejections.
func (l *Limiter) record(k *reqKey, d *Decision) {
	for i := 0; i < d.n; i++ {
		zr := &d.zones[i]
		if !zr.active {
			continue
		}
		z := d.rule.limits[i].z
		var c *countersSet = &z.stats.enforced
		if d.DryRun {
			c = &z.stats.dryRun
		}
		switch {
		case d.Action == Reject && z.name == d.Zone:
			c.rejected.Add(1)
		case d.Action == Reject:
			// checked, not charged
		case zr.excess > d.rule.limits[i].delay:
			c.delayed.Add(1)
		default:
			c.passed.Add(1)
		}
	}
	if d.Action == Reject {
		l.logReject(k, d)
	}
}
