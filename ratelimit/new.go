package ratelimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/seclog"
)

// New validates opts and compiles them into a Limiter. Every problem is
// reported, each prefixed with its YAML key ("zones.api.rate: ...",
// "rules[0].limits[1].burst: ..."), joined with errors.Join.
func New(opts Options) (*Limiter, error) {
	return build(opts, true)
}

// Validate checks opts exactly as New does and returns what Warnings would,
// without allocating the zones' states (up to size/128 each): a
// configuration check must not cost the memory of running it.
func Validate(opts Options) (warnings []string, err error) {
	l, err := build(opts, false)
	if err != nil {
		return nil, err
	}
	return l.warnings, nil
}

func build(opts Options, allocate bool) (*Limiter, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	l := &Limiter{
		zones:            make(map[string]*zone, len(opts.Zones)),
		status:           opts.Status,
		headersOnAllowed: opts.HeadersOnAllowed,
		log:              opts.Log,
		sampler:          opts.LogSampler,
		now:              opts.Now,
		onDecision:       opts.OnDecision,
	}
	if l.status == 0 {
		l.status = http.StatusTooManyRequests
	} else if l.status < 400 || l.status > 599 {
		bad("status", "must be a 4xx or 5xx code, got %d", l.status)
	}
	if l.status == http.StatusServiceUnavailable {
		l.warnings = append(l.warnings, "status: 503 tells clients and monitoring the server failed; 429 says the client sent too many requests")
	}
	if l.sampler == nil {
		l.sampler = &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000}
	}
	if l.now == nil {
		start := time.Now()
		l.now = func() int64 { return time.Since(start).Milliseconds() + 1 }
	}

	names := make([]string, 0, len(opts.Zones))
	for name := range opts.Zones {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		zo := opts.Zones[name]
		key := "zones." + name
		if !validName(name) {
			bad(key, "zone name must be 1-64 letters, digits, '_', '-' or '.'")
		}
		z := &zone{name: name, seed: maphash.MakeSeed(), shared: zo.Shared, fn: zo.KeyFunc}
		switch {
		case zo.KeyFunc != nil:
			z.kind = keyFunc
		case zo.Key == "" || zo.Key == "client_ip":
			z.kind = keyClientIP
		case zo.Key == "constant":
			z.kind = keyConstant
		case strings.HasPrefix(zo.Key, "header:"):
			z.kind = keyHeader
			h := strings.TrimPrefix(zo.Key, "header:")
			if h == "" || strings.ContainsAny(h, " \t\r\n:") {
				bad(key+".key", "header name %q is not valid", h)
			}
			z.header = textproto.CanonicalMIMEHeaderKey(h)
		default:
			bad(key+".key", `must be "client_ip", "header:Name" or "constant", got %q`, zo.Key)
		}
		z.v6bits, z.v4bits = zo.IPv6Prefix, zo.IPv4Prefix
		if z.v6bits == 0 {
			z.v6bits = 64
		}
		if z.v4bits == 0 {
			z.v4bits = 32
		}
		if z.v6bits > 64 && z.kind == keyClientIP {
			l.warnings = append(l.warnings, fmt.Sprintf("%s.ipv6_prefix: /%d lets a client with a /64 use 2^%d keys", key, z.v6bits, z.v6bits-64))
		}
		if z.v6bits < 1 || z.v6bits > 128 {
			bad(key+".ipv6_prefix", "must be between 1 and 128, got %d", zo.IPv6Prefix)
		}
		if z.v4bits < 1 || z.v4bits > 32 {
			bad(key+".ipv4_prefix", "must be between 1 and 32, got %d", zo.IPv4Prefix)
		}
		if zo.Rate == "" {
			bad(key+".rate", `is required, for example "10r/s"`)
		} else if r, err := ParseRate(zo.Rate); err != nil {
			bad(key+".rate", "%v", err)
		} else {
			z.rate = r
		}
		size := int64(10 << 20)
		if zo.Size != "" {
			s, err := ParseSize(zo.Size)
			switch {
			case err != nil:
				bad(key+".size", "%v", err)
			case s < StateBytes:
				bad(key+".size", "must be at least %d bytes (one key)", StateBytes)
			case s > MaxZoneSize:
				bad(key+".size", "must be at most 1024m (%d keys), got %q", MaxZoneSize/StateBytes, zo.Size)
			default:
				size = s
			}
		}
		z.capacity = int(size / StateBytes)
		for i, p := range zo.Allow {
			if !p.IsValid() || p != p.Masked() {
				bad(fmt.Sprintf("%s.allow[%d]", key, i), "%v is not a network address (host bits set?)", p)
			}
			z.allow = append(z.allow, p.Masked())
		}
		switch zo.OnBackendError {
		case "":
			z.onErr = FailLocal
		case FailLocal, FailClosed:
			z.onErr = zo.OnBackendError
		case FailOpen:
			z.onErr = FailOpen
			if zo.Shared != nil {
				l.warnings = append(l.warnings, key+".on_backend_error: fail_open stops limiting while the shared store is down")
			}
		default:
			bad(key+".on_backend_error", `must be "fail_local", "fail_open" or "fail_closed", got %q`, zo.OnBackendError)
		}
		if z.rate > 0 && allocate {
			z.mem = newMemZone(z.rate, z.capacity)
		}
		l.zones[name] = z
		l.zoneList = append(l.zoneList, z)
	}

	used := map[string]bool{}
	for i, ro := range opts.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		ru := &rule{written: ro.Prefix, dryRun: ro.DryRun, shadow: ro.Shadow}
		if pre, err := reqpath.ParsePrefix(ro.Prefix); err != nil {
			bad(key+".prefix", "%v", err)
		} else {
			ru.prefix = pre
		}
		for j, m := range ro.Methods {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
				bad(fmt.Sprintf("%s.methods[%d]", key, j), "must be an upper-case method such as POST, got %q", m)
			}
			ru.methods = append(ru.methods, m)
		}
		if len(ro.Limits) == 0 {
			bad(key+".limits", "must name at least one zone")
		}
		if len(ro.Limits) > MaxLimits {
			bad(key+".limits", "at most %d zones per rule", MaxLimits)
		}
		for j, lo := range ro.Limits {
			lk := fmt.Sprintf("%s.limits[%d]", key, j)
			z := l.zones[lo.Zone]
			if z == nil {
				bad(lk+".zone", "no zone named %q", lo.Zone)
				continue
			}
			used[lo.Zone] = true
			if lo.Burst < 0 || lo.Burst > 1_000_000 {
				bad(lk+".burst", "must be between 0 and 1000000, got %d", lo.Burst)
			}
			if lo.Delay < 0 || lo.Delay > 1_000_000 {
				bad(lk+".delay", "must be between 0 and 1000000, got %d", lo.Delay)
			}
			if lo.NoDelay && lo.Delay != 0 {
				bad(lk+".delay", "nodelay and delay cannot both be set")
			}
			lim := limit{z: z, burst: int64(lo.Burst) * 1000, delay: int64(lo.Delay) * 1000}
			if lo.NoDelay {
				lim.delay = math.MaxInt64 / 4
			}
			if slices.ContainsFunc(ru.limits, func(o limit) bool { return o.z == z }) {
				bad(lk+".zone", "zone %q is already applied by this rule", lo.Zone)
			}
			ru.limits = append(ru.limits, lim)
		}
		for _, lim := range ru.limits {
			if lim.z.shared != ru.limits[0].z.shared {
				bad(key+".limits", "zones of one rule must all be in memory or all on the same shared store")
				break
			}
		}
		if len(ru.limits) > 0 {
			ru.shared = ru.limits[0].z.shared
		}
		if ro.DryRun {
			l.warnings = append(l.warnings, key+".dry_run: requests over the limit are logged, not rejected")
		}
		l.rules = append(l.rules, ru)
	}
	for _, z := range l.zoneList {
		if !used[z.name] {
			l.warnings = append(l.warnings, "zones."+z.name+": not used by any rule")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, ru := range l.rules {
		ru.policy = policyField(ru.limits)
	}
	// Longest prefix first, so the first match is nginx's longest prefix
	// location; equal prefixes keep their order.
	sort.SliceStable(l.rules, func(i, j int) bool { return l.rules[i].prefix.Len() > l.rules[j].prefix.Len() })
	return l, nil
}

// MaxZoneSize is the largest zone size, 1024m: 8 388 608 keys, about
// 560 MB of states. A zone's states are allocated when the Limiter is
// built, so without a bound a typo ("100000m") would make New, and with it
// the gateway's start and "rampart config check", try to allocate tens of
// gigabytes and be killed.
const MaxZoneSize = 1024 << 20

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Warnings lists settings that are valid but weaken protection, for
// "rampart config check".
func (l *Limiter) Warnings() []string { return slices.Clone(l.warnings) }
