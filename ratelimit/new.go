package ratelimit

import (
	"hash/maphash"
	"math"
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"time"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/seclog"
)

// New validates o (Validate: the same checks, the same findings) and
// compiles it into a Limiter, allocating each in-memory zone's states up
// front. The error, when o is refused, is a field.Errors (errors.As
// recovers it, warnings included). Every zone with a Backend must have its
// Shared store: the one check Validate cannot make, since a configuration
// check connects to no store.
func New(o Options) (*Limiter, error) {
	errs := o.Validate()
	for _, name := range zoneNames(o.Zones) {
		if zo := o.Zones[name]; zo.Backend != "" && zo.Shared == nil {
			errs.Errorf(field.Key("Zones", name)+".Shared", "create the store (ratelimit/redis) and set Shared",
				"is required on a zone with a Backend")
		}
	}
	if errs.HasErrors() {
		return nil, errs.Err()
	}
	l := newLimiter(o)
	for _, name := range zoneNames(o.Zones) {
		z := buildZone(name, o.Zones[name])
		if o.Previous != nil {
			z.takeOver(o.Previous.zones[name])
		}
		l.zones[name] = z
		l.zoneList = append(l.zoneList, z)
	}
	for _, ro := range o.Rules {
		l.rules = append(l.rules, l.buildRule(ro))
	}
	// Longest prefix first, so the first match is nginx's longest prefix
	// location; equal prefixes keep their order.
	sort.SliceStable(l.rules, func(i, j int) bool { return l.rules[i].prefix.Len() > l.rules[j].prefix.Len() })
	return l, nil
}

// newLimiter is a Limiter without zones or rules, its defaults applied.
func newLimiter(o Options) *Limiter {
	l := &Limiter{
		zones:            make(map[string]*zone, len(o.Zones)),
		status:           o.Status,
		headersOnAllowed: o.HeadersOnAllowed,
		log:              o.Log,
		sampler:          o.LogSampler,
		now:              o.Now,
		onDecision:       o.OnDecision,
	}
	if l.status == 0 {
		l.status = http.StatusTooManyRequests
	}
	if l.sampler == nil {
		l.sampler = &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000}
	}
	if l.now == nil && o.Previous != nil {
		// The states taken over are timed on the old clock.
		l.now = o.Previous.now
	}
	if l.now == nil {
		start := time.Now()
		l.now = func() int64 { return time.Since(start).Milliseconds() + 1 }
	}
	return l
}

// buildZone compiles a valid zone; an in-memory one gets its states
// (also kept, as the fallback of fail_local, by a shared one).
func buildZone(name string, zo Zone) *zone {
	z := &zone{name: name, seed: maphash.MakeSeed(), shared: zo.Shared, fn: zo.KeyFunc, rate: int64(zo.Rate), onErr: zo.OnBackendError}
	if zo.KeyFunc != nil {
		z.kind = keyFunc
	} else {
		var h string
		z.kind, h, _ = parseKey(zo.Key)
		z.header = textproto.CanonicalMIMEHeaderKey(h)
	}
	z.v6bits, z.v4bits = prefixBits(zo)
	size := zo.Size
	if size == 0 {
		size = DefaultZoneSize
	}
	z.capacity = int(size / StateBytes)
	for _, p := range zo.Allow {
		z.allow = append(z.allow, p.Masked())
	}
	if z.onErr == "" {
		z.onErr = FailLocal
	}
	z.mem = newMemZone(z.rate, z.capacity)
	z.stats = new(counters)
	z.zo = zo
	return z
}

// takeOver gives z the states, hash seed and counters of old, the zone of
// the same name in the Limiter z's replaces, when nothing that shapes them
// changed. A zone keyed by a KeyFunc never takes over: functions cannot be
// compared, so its keys may mean something else now.
func (z *zone) takeOver(old *zone) {
	if old == nil || !sameZone(old.zo, z.zo) {
		return
	}
	z.mem, z.seed, z.stats = old.mem, old.seed, old.stats
}

// sameZone reports whether two zones' settings describe the same states.
// Shared is not compared: a reload connects a new client to the same
// Backend.
func sameZone(a, b Zone) bool {
	if a.KeyFunc != nil || b.KeyFunc != nil {
		return false
	}
	return a.Key == b.Key && a.IPv6Prefix == b.IPv6Prefix && a.IPv4Prefix == b.IPv4Prefix &&
		a.Rate == b.Rate && a.Size == b.Size && slices.Equal(a.Allow, b.Allow) &&
		a.Backend == b.Backend && a.OnBackendError == b.OnBackendError
}

// buildRule compiles a valid rule over l's zones.
func (l *Limiter) buildRule(ro Rule) *rule {
	ru := &rule{written: ro.Prefix, dryRun: ro.DryRun, shadow: ro.Shadow, methods: slices.Clone(ro.Methods)}
	ru.prefix, _ = reqpath.ParsePrefix(ro.Prefix)
	for _, lo := range ro.Limits {
		lim := limit{z: l.zones[lo.Zone], burst: int64(lo.Burst) * 1000, delay: int64(lo.Delay) * 1000}
		if lo.NoDelay {
			lim.delay = math.MaxInt64 / 4
		}
		ru.limits = append(ru.limits, lim)
	}
	// Validate holds the rule's zones on one store.
	ru.shared = ru.limits[0].z.shared
	ru.policy = policyField(ru.limits)
	return ru
}
