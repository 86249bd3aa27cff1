package config

import (
	"fmt"
	"net/netip"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/ipfilter"
)

// IPRules is the `ip_rules:` section (ipfilter.Options, the plan's
// IPFilter): allow and deny lists of addresses and CIDR prefixes, for
// every path and under path prefixes. Absent: every client is served.
type IPRules struct {
	// Allow, when not empty, is the only clients served.
	Allow []string `yaml:"allow" plan:"IPFilter.Allow"`
	// Deny are clients refused with 403 on every path.
	Deny []string `yaml:"deny" plan:"IPFilter.Deny"`
	// Routes add rules under a path prefix (the longest matching applies).
	Routes []IPRoute `yaml:"routes" plan:"IPFilter.Routes"`
}

// IPRoute is one entry of `ip_rules.routes`.
type IPRoute struct {
	Prefix string   `yaml:"prefix" plan:"IPFilter.Routes[#].Prefix"`
	Allow  []string `yaml:"allow" plan:"IPFilter.Routes[#].Allow"`
	Deny   []string `yaml:"deny" plan:"IPFilter.Routes[#].Deny"`
}

// Ban is the `ban:` section (ban.Options, the plan's Ban, and
// ban.ProbeOptions, the plan's BanProbe): the auto-ban, on by default.
type Ban struct {
	// Enabled turns the auto-ban, the probe detector and the refusal of
	// banned clients on or off. Default true.
	Enabled          *bool    `yaml:"enabled" plan:"BanEnabled"`
	MaxRetry         int      `yaml:"max_retry" plan:"Ban.MaxRetry"`
	FindTime         Duration `yaml:"find_time" plan:"Ban.FindTime"`
	BanTime          Duration `yaml:"ban_time" plan:"Ban.BanTime"`
	BanTimeIncrement float64  `yaml:"ban_time_increment" plan:"Ban.BanTimeIncrement"`
	MaxBanTime       Duration `yaml:"max_ban_time" plan:"Ban.MaxBanTime"`
	Actions          []string `yaml:"actions" plan:"Ban.Actions"`
	// Ignore are never banned automatically, on top of loopback and
	// trusted_proxies.
	Ignore           []string `yaml:"ignore" plan:"Ban.Ignore"`
	ProbePaths       []string `yaml:"probe_paths" plan:"BanProbe.Paths"`
	ProbePassThrough bool     `yaml:"probe_pass_through" plan:"BanProbe.PassThrough"`
	// Redis shares bans and failure counts between instances. Absent:
	// auth.redis when it is configured, else the state directory.
	Redis *BanRedis `yaml:"redis" plan:"BanRedis"`
}

// BanRedis is `ban.redis`, read like auth.redis.
type BanRedis struct {
	URL            string `yaml:"url" plan:"BanRedis.URL"`
	PasswordSecret string `yaml:"password_secret" plan:"-"`
	OnBackendError string `yaml:"on_backend_error" plan:"BanRedis.OnError"`
	Prefix         string `yaml:"prefix" plan:"BanRedis.Prefix"`
}

// prefixes parses a list of addresses and CIDR prefixes at key.
func (l *loader) prefixes(key string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		p, err := ipfilter.ParsePrefix(s)
		if err != nil {
			l.errorf(fmt.Sprintf("%s[%d]", key, i), "write an address or CIDR such as 10.0.0.0/8 or 192.0.2.7", "%q is not an IP address or CIDR", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

func (l *loader) compileIPRules(f *File, p *Plan) {
	in := f.IPRules
	o := ipfilter.Options{Allow: l.prefixes("ip_rules.allow", in.Allow), Deny: l.prefixes("ip_rules.deny", in.Deny)}
	for i, r := range in.Routes {
		key := fmt.Sprintf("ip_rules.routes[%d]", i)
		o.Routes = append(o.Routes, ipfilter.Route{Prefix: r.Prefix,
			Allow: l.prefixes(key+".allow", r.Allow), Deny: l.prefixes(key+".deny", r.Deny)})
	}
	p.IPFilter = o
	l.fieldFindings("IPFilter", o.Validate())
}

func (l *loader) compileBan(f *File, p *Plan) {
	in := f.Ban
	p.BanEnabled = in.Enabled == nil || *in.Enabled
	l.positive(in.FindTime.Set, in.FindTime.D == 0, "ban.find_time", "would count no failure")
	l.positive(in.BanTime.Set, in.BanTime.D == 0, "ban.ban_time", "would ban no one")
	l.positive(in.MaxBanTime.Set, in.MaxBanTime.D == 0, "ban.max_ban_time", "would ban no one")
	o := ban.Options{MaxRetry: in.MaxRetry, FindTime: in.FindTime.D, BanTime: in.BanTime.D,
		BanTimeIncrement: in.BanTimeIncrement, MaxBanTime: in.MaxBanTime.D, Actions: in.Actions,
		Ignore: l.prefixes("ban.ignore", in.Ignore)}
	// Trusted proxies carry many clients over their own address.
	o.Ignore = append(o.Ignore, p.ClientIP.TrustedProxies...)
	p.Ban = o
	p.BanProbe = ban.ProbeOptions{Paths: in.ProbePaths, PassThrough: in.ProbePassThrough}
	l.fieldFindings("Ban", o.Validate())
	l.fieldFindings("BanProbe", p.BanProbe.Validate())
	if r := in.Redis; r != nil {
		ro := &state.RedisOptions{URL: r.URL, OnError: state.OnError(r.OnBackendError), Prefix: r.Prefix}
		if r.PasswordSecret != "" {
			if pw := l.secret("ban.redis.password_secret", r.PasswordSecret, "is configured but not set anywhere", Warning, ""); pw != nil {
				ro.Password = string(pw)
			}
		}
		p.BanRedis = ro
		l.fieldFindings("BanRedis", ro.Validate())
	} else if p.AuthEnabled && p.Auth.Redis != nil {
		p.BanRedis = p.Auth.Redis
	}
	switch {
	case !p.BanEnabled && (in.MaxRetry != 0 || in.Redis != nil || len(in.ProbePaths) > 0):
		l.warnf("ban.enabled", "remove the other ban settings, or enable it", "the auto-ban is off: its other settings have no effect")
	case !p.BanEnabled:
		l.warnf("ban.enabled", "remove it to turn the auto-ban back on (the default), or say in deploy notes what bans instead (fail2ban on the security log, deploy/fail2ban)",
			"the auto-ban is off: password guessing, CSRF attempts and scanners are limited by the rate limit alone, and a client is never refused before the TLS handshake")
	}
}
