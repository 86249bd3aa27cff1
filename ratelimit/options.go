package ratelimit

import (
	"net/http"
	"net/netip"

	"github.com/rampart-dev/rampart/seclog"
)

// Options configure a Limiter. The zero value limits nothing (there are no
// rules). Validate reports each problem by its Go field path
// ("Zones[api].Rate", "Rules[0].Limits[1].Burst"); New runs the same
// checks. The YAML key each field is written as in rampart's
// configuration is noted beside it.
type Options struct {
	// Zones by name (YAML "zones"). Names are made of letters, digits,
	// '_', '-' and '.', so they can be sent as RateLimit policy names.
	Zones map[string]Zone

	// Rules (YAML "rules") map requests to zones. A request is governed by
	// the enforced rule with the longest matching prefix, plus, beside it,
	// the shadow rule with the longest matching prefix.
	Rules []Rule

	// Status is the status code of a rejection (YAML "status"). Zero means
	// 429 Too Many Requests. nginx's default is 503, which monitoring reads
	// as a server failure and clients may retry at once; a migration may keep
	// it, and Validate warns about it.
	Status int

	// HeadersOnAllowed adds the RateLimit-Policy and RateLimit fields to
	// allowed responses too (YAML "headers_on_allowed"). Default false:
	// they are sent on rejections only, which is where a client needs them
	// and which tells a prober nothing it did not already learn.
	HeadersOnAllowed bool

	// Log receives security events (rejections, a shared backend going
	// down). Nil means slog.Default().
	Log *seclog.Logger

	// LogSampler bounds the events logged per zone and key. Nil means
	// currently one event per zone and key every 10 seconds, with the
	// count of the suppressed ones reported on the next.
	LogSampler *seclog.Sampler

	// Now returns the current time in milliseconds on a monotonic clock.
	// Nil means the process's monotonic clock (that of Previous, when
	// set). Tests inject their own.
	Now func() int64

	// Previous, when not nil, is the Limiter this one replaces (a
	// configuration reload). Each in-memory zone whose settings did not
	// change (same name, key, prefixes, rate, size, allow list, backend
	// and backend-error policy, and no KeyFunc) takes over its states and
	// counters: no client's count starts over because the configuration
	// was reloaded. A zone that changed starts empty, as a new zone does.
	// Both limiters may be used at once while requests on the old one
	// finish; the states are safe for that.
	Previous *Limiter

	// OnDecision, when set, is called for every request Handler decides
	// under a rule, after the decision and before the response: the
	// gateway puts the decision in the request's access-log record this
	// way (this package logs no access records itself). d is a copy,
	// passed by value so that the request path stays free of allocations.
	OnDecision func(r *http.Request, d Decision)
}

// Zone is one limit_req_zone: what a key is, the rate, and how many keys
// are remembered.
type Zone struct {
	// Key selects what is limited (YAML "key"):
	//   "" or "client_ip"  the client address (clientip.FromRequest), IPv6
	//                      grouped by IPv6Prefix, IPv4 by IPv4Prefix;
	//   "header:Name"      the value of request header Name;
	//   "constant"         one key for all requests (a global limit).
	// A request whose key is empty is not limited by the zone (as in nginx).
	// A request whose client address is unknown (a unix socket peer) is
	// limited under one shared key, never exempted.
	Key string

	// KeyFunc, when not nil, replaces Key (for example the authenticated
	// user). Its result is the key; "" means not limited.
	KeyFunc func(*http.Request) string

	// IPv6Prefix is the prefix length grouping IPv6 clients (YAML
	// "ipv6_prefix"). Zero means 64: one customer usually gets a whole /64,
	// so a per-address limit on IPv6 is no limit at all.
	IPv6Prefix int
	// IPv4Prefix is the prefix length grouping IPv4 clients (YAML
	// "ipv4_prefix"). Zero means 32.
	IPv4Prefix int

	// Rate is the zone's rate (YAML "rate", nginx syntax read by
	// ParseRate): PerSecond(10) is "10r/s". Required, at most MaxRate.
	Rate Rate

	// Size bounds the zone's memory in bytes (YAML "size", nginx syntax
	// read by ParseSize: "10m", "512k"). It holds Size/128 keys, as nginx
	// does. Zero means DefaultZoneSize, 10m (81 920 keys). At least
	// StateBytes (one key), at most MaxZoneSize (states are allocated up
	// front).
	Size int64

	// Allow lists client networks exempt from this zone (YAML "allow").
	Allow []netip.Prefix

	// Backend names the shared store the zone's states are kept in (YAML
	// "backend"; the gateway uses the store's URL, without password).
	// Zones with the same Backend are on the same store. It is what
	// Validate knows of the store, so that a configuration check, which
	// connects to nothing, finds a rule whose zones are on different
	// stores. New needs Shared set on every zone with a Backend.
	Backend string

	// Shared, when not nil, keeps the zone's states in a store shared by
	// several instances (ratelimit/redis), instead of in this process.
	// Without Backend, the store itself tells zones' stores apart.
	Shared SharedStore

	// OnBackendError is the policy when Shared cannot be reached (YAML
	// "on_backend_error"). The default, FailLocal, keeps limiting with this
	// instance's own in-memory states (of Size) until the store recovers:
	// the limit stays in force, loosened at most by the number of instances,
	// and the site stays up. FailOpen stops limiting (insecure: an outage of
	// the store disables brute-force protection; Validate warns about it);
	// FailClosed rejects every request the zone governs (an outage of the
	// store becomes an outage of the site).
	OnBackendError BackendErrorPolicy
}

// BackendErrorPolicy says what a shared zone does while its store is down.
type BackendErrorPolicy string

const (
	FailLocal  BackendErrorPolicy = "fail_local"
	FailOpen   BackendErrorPolicy = "fail_open"
	FailClosed BackendErrorPolicy = "fail_closed"
)

// Rule applies zones to requests whose path falls under Prefix.
type Rule struct {
	// Prefix is a reqpath.Prefix (YAML "prefix"): matched on the
	// canonical path, segment by segment and ignoring ASCII case, so
	// "/api/" and "/api" both match "/api", "/API/x" and "//api/x", never
	// "/apiary". Paths a client could use to dodge it ("/static/../api/x",
	// "/%2e%2e/api/x", "/x/..%2fapi") have no canonical form and are
	// refused (see reqpath). Required; "/" matches everything.
	Prefix string
	// Methods restricts the rule to these methods (YAML "methods"). Empty
	// means all methods.
	Methods []string
	// Limits are the zones applied, in order (YAML "limits"); at least one,
	// at most MaxLimits.
	Limits []Limit
	// DryRun computes, counts and logs decisions but never rejects or
	// delays (YAML "dry_run"), like nginx's limit_req_dry_run.
	DryRun bool
	// Shadow makes the rule run beside the enforced rule that governs the
	// request instead of replacing it (YAML "shadow"); a shadow rule never
	// acts, it only counts and logs, so a new limit can be tried on live
	// traffic.
	Shadow bool
}

// MaxLimits is the largest number of zones one rule may apply.
const MaxLimits = 8

// Limit is one limit_req line.
type Limit struct {
	Zone string // YAML "zone"; required
	// Burst is how many requests may exceed the rate (YAML "burst"); 0..1e6.
	Burst int
	// NoDelay passes requests within burst at once (YAML "nodelay").
	NoDelay bool
	// Delay passes the first Delay excess requests at once and delays the
	// rest up to Burst (YAML "delay", nginx's delay=N). With neither NoDelay
	// nor Delay, every excess request is delayed, as in nginx.
	Delay int
}
