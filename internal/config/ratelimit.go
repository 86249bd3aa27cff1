package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/ratelimit"
	redisstore "github.com/rampart-dev/rampart/ratelimit/redis"
	"github.com/rampart-dev/rampart/safe"
)

// RateLimit is the `ratelimit:` section, nginx's limit_req_zone and
// limit_req. When the section is absent, defaultRateLimit applies: a
// generous per-client flood guard on every path. Present, it is exactly
// what it says (`ratelimit: {rules: []}` limits nothing).
//
// Its values are text as nginx writes them ("10r/s", "10m"); they are
// parsed here, at the edge, into ratelimit.Options, and a value that does
// not parse is a finding at its key. Everything else is checked by
// ratelimit's own Validate, whose findings come back to the keys through
// the plan tags.
type RateLimit struct {
	Zones            map[string]RateZone `yaml:"zones" plan:"RateLimit.Zones"`
	Rules            []RateRule          `yaml:"rules" plan:"RateLimit.Rules"`
	Status           int                 `yaml:"status" plan:"RateLimit.Status"`
	HeadersOnAllowed bool                `yaml:"headers_on_allowed" plan:"RateLimit.HeadersOnAllowed"`
}

// RateZone is one entry of `ratelimit.zones` (limit_req_zone).
type RateZone struct {
	Key        string `yaml:"key" plan:"RateLimit.Zones[*].Key"`
	IPv6Prefix int    `yaml:"ipv6_prefix" plan:"RateLimit.Zones[*].IPv6Prefix"`
	IPv4Prefix int    `yaml:"ipv4_prefix" plan:"RateLimit.Zones[*].IPv4Prefix"`
	// Rate is an nginx rate, "10r/s" or "30r/m" (ratelimit.ParseRate).
	Rate string `yaml:"rate" plan:"RateLimit.Zones[*].Rate"`
	// Size is an nginx size, "10m" or "512k" (ratelimit.ParseSize).
	// Default 10m.
	Size  string   `yaml:"size" plan:"RateLimit.Zones[*].Size"`
	Allow []string `yaml:"allow" plan:"RateLimit.Zones[*].Allow"`
	// Backend shares the zone between rampart instances: a redis:// or
	// rediss:// URL without password. Default: in this process only.
	Backend string `yaml:"backend" plan:"RateLimit.Zones[*].Backend"`
	// PasswordSecret names the secret holding the backend's password
	// (looked up like secret_key). Default: no password. The password
	// goes to Plan.RateLimitBackends, never to ratelimit.Options.
	PasswordSecret string `yaml:"password_secret" plan:"-"`
	// OnBackendError is what the zone does while the backend is down:
	// fail_local (default: keep limiting per instance), fail_open (stop
	// limiting) or fail_closed (reject).
	OnBackendError string `yaml:"on_backend_error" plan:"RateLimit.Zones[*].OnBackendError"`
}

// RateRule is one entry of `ratelimit.rules` (a location's limit_req lines).
type RateRule struct {
	Prefix  string          `yaml:"prefix" plan:"RateLimit.Rules[#].Prefix"`
	Methods []string        `yaml:"methods" plan:"RateLimit.Rules[#].Methods"`
	Limits  []RateLimitLine `yaml:"limits" plan:"RateLimit.Rules[#].Limits"`
	DryRun  bool            `yaml:"dry_run" plan:"RateLimit.Rules[#].DryRun"`
	Shadow  bool            `yaml:"shadow" plan:"RateLimit.Rules[#].Shadow"`
}

// RateLimitLine is one limit_req line of a rule.
type RateLimitLine struct {
	Zone    string `yaml:"zone" plan:"RateLimit.Rules[#].Limits[#].Zone"`
	Burst   int    `yaml:"burst" plan:"RateLimit.Rules[#].Limits[#].Burst"`
	NoDelay bool   `yaml:"nodelay" plan:"RateLimit.Rules[#].Limits[#].NoDelay"`
	Delay   int    `yaml:"delay" plan:"RateLimit.Rules[#].Limits[#].Delay"`
}

// defaultRateLimit is the flood guard applied when the configuration has
// no `ratelimit:` section: 50 requests per second per client (IPv6 grouped
// by /64) with a burst of 200 passed at once. A browser loading a heavy
// page stays far below it; a single client hammering the application does
// not. Tighter limits for sensitive paths (the seed's 10r/s burst 20 on
// /api/) are configured explicitly. It is built afresh on every call: a
// shared value (its map above all) could be changed by one caller for
// every later configuration of the process.
func defaultRateLimit() RateLimit {
	return RateLimit{
		Zones: map[string]RateZone{"per_client": {Key: "client_ip", Rate: "50r/s", Size: "10m"}},
		Rules: []RateRule{{Prefix: "/", Limits: []RateLimitLine{{Zone: "per_client", Burst: 200, NoDelay: true}}}},
	}
}

func (l *loader) compileRateLimit(in *RateLimit, p *Plan) {
	if in == nil {
		d := defaultRateLimit()
		in = &d
	}
	opts := ratelimit.Options{Status: in.Status, HeadersOnAllowed: in.HeadersOnAllowed, Zones: make(map[string]ratelimit.Zone, len(in.Zones))}
	// The Go paths of values refused at the edge: ratelimit, seeing them
	// unset, would report them again (a rate "is required").
	refused := map[string]bool{}
	passwords := map[string]string{} // backend URL → the zone whose password_secret it uses
	for _, name := range slices.Sorted(maps.Keys(in.Zones)) {
		opts.Zones[name] = l.rateZone(name, in.Zones, p, passwords, refused)
	}
	for _, r := range in.Rules {
		rule := ratelimit.Rule{Prefix: r.Prefix, Methods: r.Methods, DryRun: r.DryRun, Shadow: r.Shadow}
		for _, lim := range r.Limits {
			rule.Limits = append(rule.Limits, ratelimit.Limit{Zone: lim.Zone, Burst: lim.Burst, NoDelay: lim.NoDelay, Delay: lim.Delay})
		}
		opts.Rules = append(opts.Rules, rule)
	}
	// The same checks as ratelimit.New when the gateway starts, without
	// allocating the zones or connecting to a store.
	errs := slices.DeleteFunc(opts.Validate(), func(e field.Error) bool { return refused[e.Path] })
	l.fieldFindings("RateLimit", errs)
	if len(refused) == 0 && !errs.HasErrors() {
		p.RateLimit = opts
	}
}

// rateZone parses zone name's values into a ratelimit.Zone, recording a
// finding at each key whose value does not parse (and its Go path in
// refused), and plans its backend.
func (l *loader) rateZone(name string, zones map[string]RateZone, p *Plan, passwords map[string]string, refused map[string]bool) ratelimit.Zone {
	z := zones[name]
	key := "ratelimit.zones." + name
	path := field.Key("Zones", name)
	zone := ratelimit.Zone{Key: z.Key, IPv6Prefix: z.IPv6Prefix, IPv4Prefix: z.IPv4Prefix,
		OnBackendError: ratelimit.BackendErrorPolicy(z.OnBackendError)}
	if z.Rate != "" {
		r, err := ratelimit.ParseRate(z.Rate)
		if err != nil {
			l.errorf(key+".rate", "write a rate such as 10r/s or 30r/m", "%v", err)
			refused[path+".Rate"] = true
		}
		zone.Rate = r
	}
	if z.Size != "" {
		n, err := ratelimit.ParseSize(z.Size)
		if err != nil {
			l.errorf(key+".size", "write a size such as 10m or 512k (nginx's units: k and m)", "%v", err)
			refused[path+".Size"] = true
		}
		zone.Size = n
	}
	for i, a := range z.Allow {
		pfx, err := parsePrefix(a)
		if err != nil {
			l.errorf(fmt.Sprintf("%s.allow[%d]", key, i), "write an address or CIDR such as 10.0.0.0/8", "%q is not an IP address or CIDR", a)
			refused[field.Index(path+".Allow", i)] = true
			continue
		}
		zone.Allow = append(zone.Allow, pfx)
	}
	switch {
	case z.Backend != "":
		zone.Backend = l.rateBackend(name, zones, p, passwords)
	case z.PasswordSecret != "":
		l.warnf(key+".password_secret", "add backend: redis://host:6379/0, or remove it", "has no effect without a backend")
	}
	return zone
}

// Backend is a shared rate-limit store: where it is and its password.
type Backend struct {
	URL      string
	Password string
}

// rateBackend checks zone name's backend URL and resolves its password
// into p.RateLimitBackends, and returns the zone's ratelimit Backend: the
// URL when it is usable, else a stand-in without what the URL held (the
// configuration is refused anyway, and no finding may repeat a password).
func (l *loader) rateBackend(name string, zones map[string]RateZone, p *Plan, passwords map[string]string) string {
	z := zones[name]
	key := "ratelimit.zones." + name + ".backend"
	u, err := url.Parse(z.Backend)
	switch {
	case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
		l.errorf(key, "write redis://host:6379/0 (or rediss:// for TLS)", "%q is not a redis:// URL", redactURL(z.Backend))
		return redactURL(z.Backend)
	case u.User != nil:
		if _, has := u.User.Password(); has {
			l.errorf(key, "remove the password from the URL and name a secret in password_secret", "holds a password, which would end up in logs and backups")
			return redactURL(z.Backend)
		}
	}
	// What the store will be built from must be readable by it: the same
	// check ratelimit/redis makes when the gateway starts.
	if errs := (redisstore.Options{URL: z.Backend}).Validate(); errs.HasErrors() {
		l.add(Error, key, errs[0].Message, errs[0].Hint)
		return redactURL(z.Backend)
	}
	if u.Scheme == "redis" && !safe.Loopback(u.Hostname()) {
		l.warnf(key, "use rediss:// to reach a Redis server over the network", "rate-limit state crosses the network unencrypted to %s", u.Host)
	}
	// One store per URL: zones sharing it must agree on its password.
	if other, ok := passwords[z.Backend]; !ok {
		passwords[z.Backend] = name
	} else if zones[other].PasswordSecret != z.PasswordSecret {
		l.errorf("ratelimit.zones."+name+".password_secret", "name the same secret in every zone on this backend",
			"differs from zone %s's, which has the same backend: one Redis connection has one password", other)
	}
	b := Backend{URL: z.Backend}
	if z.PasswordSecret != "" {
		// A weak password is a warning: the Redis server chose it.
		v := l.secret("ratelimit.zones."+name+".password_secret", z.PasswordSecret, "is configured but not set anywhere",
			Warning, "configure Redis with a long random password (openssl rand -base64 48)")
		if v == nil {
			return z.Backend
		}
		b.Password = string(v)
	}
	if p.RateLimitBackends == nil {
		p.RateLimitBackends = map[string]Backend{}
	}
	p.RateLimitBackends[name] = b
	return z.Backend
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
