package config

import (
	"fmt"

	"github.com/rampart-dev/rampart/ratelimit"
)

// RateLimit is the `ratelimit:` section, nginx's limit_req_zone and
// limit_req. When the section is absent, DefaultRateLimit applies: a
// generous per-client flood guard on every path. Present, it is exactly
// what it says (`ratelimit: {rules: []}` limits nothing).
type RateLimit struct {
	Zones            map[string]RateZone `yaml:"zones"`
	Rules            []RateRule          `yaml:"rules"`
	Status           int                 `yaml:"status"`
	HeadersOnAllowed bool                `yaml:"headers_on_allowed"`
}

// RateZone is one entry of `ratelimit.zones` (limit_req_zone).
type RateZone struct {
	Key        string   `yaml:"key"`
	IPv6Prefix int      `yaml:"ipv6_prefix"`
	IPv4Prefix int      `yaml:"ipv4_prefix"`
	Rate       string   `yaml:"rate"`
	Size       string   `yaml:"size"`
	Allow      []string `yaml:"allow"`
}

// RateRule is one entry of `ratelimit.rules` (a location's limit_req lines).
type RateRule struct {
	Prefix  string          `yaml:"prefix"`
	Methods []string        `yaml:"methods"`
	Limits  []RateLimitLine `yaml:"limits"`
	DryRun  bool            `yaml:"dry_run"`
	Shadow  bool            `yaml:"shadow"`
}

// RateLimitLine is one limit_req line of a rule.
type RateLimitLine struct {
	Zone    string `yaml:"zone"`
	Burst   int    `yaml:"burst"`
	NoDelay bool   `yaml:"nodelay"`
	Delay   int    `yaml:"delay"`
}

// DefaultRateLimit is the flood guard applied when the configuration has no
// `ratelimit:` section: 50 requests per second per client (IPv6 grouped by
// /64) with a burst of 200 passed at once. A browser loading a heavy page
// stays far below it; a single client hammering the application does not.
// Tighter limits for sensitive paths (the seed's 10r/s burst 20 on /api/)
// are configured explicitly.
var DefaultRateLimit = RateLimit{
	Zones: map[string]RateZone{"per_client": {Key: "client_ip", Rate: "50r/s", Size: "10m"}},
	Rules: []RateRule{{Prefix: "/", Limits: []RateLimitLine{{Zone: "per_client", Burst: 200, NoDelay: true}}}},
}

func (l *loader) compileRateLimit(in *RateLimit, p *Plan) {
	if in == nil {
		in = &DefaultRateLimit
	}
	opts := ratelimit.Options{Status: in.Status, HeadersOnAllowed: in.HeadersOnAllowed, Zones: map[string]ratelimit.Zone{}}
	for name, z := range in.Zones {
		zone := ratelimit.Zone{Key: z.Key, IPv6Prefix: z.IPv6Prefix, IPv4Prefix: z.IPv4Prefix, Rate: z.Rate, Size: z.Size}
		for i, a := range z.Allow {
			pfx, err := parsePrefix(a)
			if err != nil {
				l.errorf(fmt.Sprintf("ratelimit.zones.%s.allow[%d]", name, i), "write an address or CIDR such as 10.0.0.0/8", "%q is not an IP address or CIDR", a)
				continue
			}
			zone.Allow = append(zone.Allow, pfx)
		}
		opts.Zones[name] = zone
	}
	for _, r := range in.Rules {
		rule := ratelimit.Rule{Prefix: r.Prefix, Methods: r.Methods, DryRun: r.DryRun, Shadow: r.Shadow}
		for _, lim := range r.Limits {
			rule.Limits = append(rule.Limits, ratelimit.Limit{Zone: lim.Zone, Burst: lim.Burst, NoDelay: lim.NoDelay, Delay: lim.Delay})
		}
		opts.Rules = append(opts.Rules, rule)
	}
	lim, err := ratelimit.New(opts)
	if err != nil {
		l.componentErrors("ratelimit", err)
		return
	}
	for _, w := range lim.Warnings() {
		l.componentFinding(Warning, "ratelimit", w, "")
	}
	p.RateLimit = opts
}
