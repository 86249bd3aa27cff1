package ratelimit

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
)

// DefaultZoneSize is the size of a zone whose Size is zero: 10m, 81 920
// keys, nginx's usual zone.
const DefaultZoneSize = 10 << 20

// MaxZoneSize is the largest zone size, 1024m: 8 388 608 keys, about
// 560 MB of states. A zone's states are allocated when the Limiter is
// built, so without a bound a typo ("100000m") would make New, and with it
// the gateway's start, try to allocate tens of gigabytes and be killed.
const MaxZoneSize = 1024 << 20

// maxBurst bounds Burst and Delay: a state's excess is an int32 of
// milli-requests.
const maxBurst = 1_000_000

// Validate checks o and returns every problem, errors and warnings (valid
// settings that weaken the limit), each on the Go path of its field:
// "Status", "Zones[api].Rate", "Rules[0].Limits[1].Burst". New makes
// exactly these checks and refuses o when one is an error. Validate
// allocates no zone states, so checking a configuration does not cost the
// memory of running it, and it connects to no store: shared zones are
// told apart by Backend.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	switch {
	case o.Status == 0:
	case o.Status < 400 || o.Status > 599:
		errs.Errorf("Status", "429 is the default", "must be a 4xx or 5xx code, got %d", o.Status)
	case o.Status == http.StatusServiceUnavailable:
		errs.Warnf("Status", "429 says the client sent too many requests", "503 tells clients and monitoring the server failed")
	}
	names := zoneNames(o.Zones)
	for _, name := range names {
		validateZone(&errs, name, o.Zones[name])
	}
	validateStores(&errs, names, o.Zones)
	used := make(map[string]bool, len(o.Zones))
	for i, ru := range o.Rules {
		validateRule(&errs, field.Index("Rules", i), ru, o.Zones, used)
	}
	for _, name := range names {
		if !used[name] {
			errs.Warnf(field.Key("Zones", name), "apply it in a rule's limits, or remove it", "zone %q is not used by any rule", name)
		}
	}
	return errs
}

func zoneNames(zones map[string]Zone) []string {
	names := make([]string, 0, len(zones))
	for name := range zones {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func validateZone(errs *field.Errors, name string, zo Zone) {
	path := field.Key("Zones", name)
	if !validName(name) {
		errs.Errorf(path, "the name is sent to clients in RateLimit-Policy", "zone name %q must be 1-64 letters, digits, '_', '-' or '.'", name)
	}
	if zo.KeyFunc == nil {
		if _, _, ok := parseKey(zo.Key); !ok {
			errs.Errorf(path+".Key", "", `must be "client_ip", "header:Name" (Name a header field name) or "constant", got %q`, zo.Key)
		}
	}
	v6, v4 := prefixBits(zo)
	if v6 < 1 || v6 > 128 {
		errs.Errorf(path+".IPv6Prefix", "64 (the default) groups the addresses one customer usually gets", "must be between 1 and 128, got %d", zo.IPv6Prefix)
	} else if v6 > 64 && zo.KeyFunc == nil && clientKeyed(zo.Key) {
		errs.Warnf(path+".IPv6Prefix", "use 64 (the default): one customer usually gets a whole /64", "/%d lets a client with a /64 use 2^%d keys", v6, v6-64)
	}
	if v4 < 1 || v4 > 32 {
		errs.Errorf(path+".IPv4Prefix", "", "must be between 1 and 32, got %d", zo.IPv4Prefix)
	}
	switch {
	case zo.Rate == 0:
		errs.Errorf(path+".Rate", "a rate such as 10r/s or 30r/m", "is required")
	case zo.Rate < 1 || zo.Rate > MaxRate:
		errs.Errorf(path+".Rate", "", "must be between 1r/m and 1000000r/s, got %v", zo.Rate)
	}
	switch {
	case zo.Size == 0:
	case zo.Size < StateBytes:
		errs.Errorf(path+".Size", "10m (the default) holds 81920 keys", "must be at least %d bytes (one key), got %d", StateBytes, zo.Size)
	case zo.Size > MaxZoneSize:
		errs.Errorf(path+".Size", "states are allocated at start: size the zone for the clients it must remember", "must be at most 1024m (%d keys), got %d bytes", MaxZoneSize/StateBytes, zo.Size)
	}
	for i, p := range zo.Allow {
		if !p.IsValid() || p != p.Masked() {
			errs.Errorf(field.Index(path+".Allow", i), "write the network address, such as 10.0.0.0/8", "%v is not a network address (host bits set?)", p)
		}
	}
	shared := zo.Backend != "" || zo.Shared != nil
	switch zo.OnBackendError {
	case "", FailLocal, FailClosed:
	case FailOpen:
		if shared {
			errs.Warnf(path+".OnBackendError", "use fail_local (the default) to keep limiting per instance",
				"fail_open stops limiting while the shared store is down: an outage disables brute-force protection")
		}
	default:
		errs.Errorf(path+".OnBackendError", "", `must be "fail_local", "fail_open" or "fail_closed", got %q`, zo.OnBackendError)
	}
	if zo.OnBackendError != "" && !shared {
		errs.Warnf(path+".OnBackendError", "give the zone a shared store, or remove it", "has no effect on a zone kept in memory")
	}
}

// validateStores checks that zones naming the same Backend were given the
// same store: the store a rule decides with is its first zone's.
func validateStores(errs *field.Errors, names []string, zones map[string]Zone) {
	first := map[string]string{} // Backend → the first zone with a Shared store
	for _, name := range names {
		zo := zones[name]
		if zo.Backend == "" || zo.Shared == nil {
			continue
		}
		other, ok := first[zo.Backend]
		if !ok {
			first[zo.Backend] = name
			continue
		}
		if zones[other].Shared != zo.Shared {
			errs.Errorf(field.Key("Zones", name)+".Shared", "create one store per backend and give it to each of its zones",
				"is not the store of zone %q, which has the same Backend", other)
		}
	}
}

func validateRule(errs *field.Errors, path string, ru Rule, zones map[string]Zone, used map[string]bool) {
	if _, err := reqpath.ParsePrefix(ru.Prefix); err != nil {
		errs.Errorf(path+".Prefix", "", "%v", err)
	}
	for j, m := range ru.Methods {
		if !safe.Method(m) {
			errs.Errorf(field.Index(path+".Methods", j), "", "must be an upper-case method such as POST, got %q", m)
		}
	}
	switch {
	case len(ru.Limits) == 0:
		errs.Errorf(path+".Limits", "", "must name at least one zone")
	case len(ru.Limits) > MaxLimits:
		errs.Errorf(path+".Limits", "", "at most %d zones per rule, got %d", MaxLimits, len(ru.Limits))
	}
	var first string // the first known zone of the rule
	mixed := ""
	for j, lo := range ru.Limits {
		lp := field.Index(path+".Limits", j)
		zo, ok := zones[lo.Zone]
		if !ok {
			errs.Errorf(lp+".Zone", "", "no zone named %q", lo.Zone)
			continue
		}
		used[lo.Zone] = true
		if lo.Burst < 0 || lo.Burst > maxBurst {
			errs.Errorf(lp+".Burst", "", "must be between 0 and 1000000, got %d", lo.Burst)
		}
		if lo.Delay < 0 || lo.Delay > maxBurst {
			errs.Errorf(lp+".Delay", "", "must be between 0 and 1000000, got %d", lo.Delay)
		}
		if lo.NoDelay && lo.Delay != 0 {
			errs.Errorf(lp+".Delay", "nodelay passes the whole burst at once, delay only the first N", "nodelay and delay cannot both be set")
		}
		if slices.ContainsFunc(ru.Limits[:j], func(o Limit) bool { return o.Zone == lo.Zone }) {
			errs.Errorf(lp+".Zone", "", "zone %q is already applied by this rule", lo.Zone)
		}
		switch {
		case first == "":
			first = lo.Zone
		case mixed == "" && !sameStore(zones[first], zo):
			mixed = lo.Zone
		}
	}
	if mixed != "" {
		errs.Errorf(path+".Limits", "one decision is made on one store: split the rule, or put the zones on one store",
			"zones of one rule must all be in memory or all on the same shared store (zone %q is %s, zone %q %s)",
			first, storeDesc(zones[first]), mixed, storeDesc(zones[mixed]))
	}
	if ru.DryRun {
		errs.Warnf(path+".DryRun", "remove it once the limit is known to be right", "requests over the limit are logged, not rejected")
	}
}

// sameStore reports whether a and b keep their states in the same place:
// both in memory, on the same Backend, or (without Backend) on the same
// Shared store.
func sameStore(a, b Zone) bool {
	if a.Backend != "" || b.Backend != "" {
		return a.Backend == b.Backend
	}
	return a.Shared == b.Shared
}

// storeDesc says where a zone's states are, without naming the store: a
// backend's URL is not repeated in findings.
func storeDesc(z Zone) string {
	if z.Backend == "" && z.Shared == nil {
		return "in memory"
	}
	return "on a shared store"
}

// parseKey reads Zone.Key.
func parseKey(key string) (kind keyKind, header string, ok bool) {
	switch {
	case key == "" || key == "client_ip":
		return keyClientIP, "", true
	case key == "constant":
		return keyConstant, "", true
	case strings.HasPrefix(key, "header:"):
		h := strings.TrimPrefix(key, "header:")
		return keyHeader, h, safe.Token(h)
	}
	return 0, "", false
}

func clientKeyed(key string) bool {
	kind, _, ok := parseKey(key)
	return ok && kind == keyClientIP
}

// prefixBits returns the zone's client prefix lengths, defaults applied.
func prefixBits(zo Zone) (v6, v4 int) {
	v6, v4 = zo.IPv6Prefix, zo.IPv4Prefix
	if v6 == 0 {
		v6 = 64
	}
	if v4 == 0 {
		v4 = 32
	}
	return v6, v4
}

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
