package config

import (
	"fmt"
	"net/url"

	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/safe"
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
	// Backend shares the zone between rampart instances: a redis:// or
	// rediss:// URL without password. Default: in this process only.
	Backend string `yaml:"backend"`
	// PasswordSecret names the secret holding the backend's password
	// (looked up like secret_key). Default: no password.
	PasswordSecret string `yaml:"password_secret"`
	// OnBackendError is what the zone does while the backend is down:
	// fail_local (default: keep limiting per instance), fail_open (stop
	// limiting) or fail_closed (reject).
	OnBackendError string `yaml:"on_backend_error"`
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
		zone := ratelimit.Zone{Key: z.Key, IPv6Prefix: z.IPv6Prefix, IPv4Prefix: z.IPv4Prefix, Rate: z.Rate, Size: z.Size,
			OnBackendError: ratelimit.BackendErrorPolicy(z.OnBackendError)}
		if z.Backend != "" {
			l.compileBackend(name, z, p)
		} else if z.PasswordSecret != "" || z.OnBackendError != "" {
			l.warnf("ratelimit.zones."+name, "add backend: redis://host:6379/0, or remove them", "password_secret and on_backend_error have no effect without a backend")
		}
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
	// Validate as if every shared zone were local, without allocating
	// the zones: the stores and states are built by the gateway.
	warnings, err := ratelimit.Validate(opts)
	if err != nil {
		l.componentErrors("ratelimit", err)
		return
	}
	for _, w := range warnings {
		l.componentFinding(Warning, "ratelimit", w, "")
	}
	p.RateLimit = opts
}

// Backend is a shared rate-limit store: where it is and its password.
type Backend struct {
	URL      string
	Password string
}

func (l *loader) compileBackend(zone string, z RateZone, p *Plan) {
	key := "ratelimit.zones." + zone + ".backend"
	u, err := url.Parse(z.Backend)
	switch {
	case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
		l.errorf(key, "write redis://host:6379/0 (or rediss:// for TLS)", "%q is not a redis:// URL", redactURL(z.Backend))
		return
	case u.User != nil:
		if _, has := u.User.Password(); has {
			l.errorf(key, "remove the password from the URL and name a secret in password_secret", "holds a password, which would end up in logs and backups")
			return
		}
	}
	if u.Scheme == "redis" && !safe.Loopback(u.Hostname()) {
		l.warnf(key, "use rediss:// to reach a Redis server over the network", "rate-limit state crosses the network unencrypted to %s", u.Host)
	}
	if z.OnBackendError == string(ratelimit.FailOpen) {
		l.warnf("ratelimit.zones."+zone+".on_backend_error", "use fail_local (the default) to keep limiting per instance",
			"fail_open stops limiting while Redis is down: an outage disables brute-force protection")
	}
	b := Backend{URL: z.Backend}
	if z.PasswordSecret != "" {
		// A weak password is a warning: the Redis server chose it.
		v := l.secret("ratelimit.zones."+zone+".password_secret", z.PasswordSecret, "is configured but not set anywhere",
			Warning, "configure Redis with a long random password (openssl rand -base64 48)")
		if v == nil {
			return
		}
		b.Password = string(v)
	}
	if p.RateLimitBackends == nil {
		p.RateLimitBackends = map[string]Backend{}
	}
	p.RateLimitBackends[zone] = b
}

// redactURL drops userinfo from a URL for display.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	return u.String()
}
