package config

import (
	"log/slog"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/internal/admin"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/ipfilter"
	"github.com/rampart-dev/rampart/logfile"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/secheaders"
	"github.com/rampart-dev/rampart/securitytxt"
)

// Plan is a validated configuration. It holds each library's Options as
// that library declares them, with the user's values and nothing else:
// a zero field means the library's documented default, applied by the
// library (no default is written twice). The gateway passes each Options
// to its library as it is, adding only what exists at run time (loggers,
// writers, stores). A reload compiles a new Plan and swaps it whole; a Plan
// is not modified after Load returns it.
type Plan struct {
	Source   string   // config file path, "" when none
	Hosts    []string // lower case, no port
	StateDir string
	// SecretKey is nil when no secret is configured.
	SecretKey []byte

	// HTTPS and HTTP are the listeners' addresses; HTTP is "" when the
	// redirect listener is off.
	HTTPS, HTTP string
	Listen      listen.Options
	TLS         tlsconf.Options
	Proxy       proxy.Options
	ClientIP    clientip.Options
	Paths       reqpath.Options
	Headers     secheaders.Policy
	RateLimit   ratelimit.Options
	// RateLimitBackends are the shared stores of zones, by zone name.
	RateLimitBackends map[string]Backend

	// Auth is login at the gateway, when AuthEnabled (the auth: section
	// is present).
	Auth        auth.Options
	AuthEnabled bool
	// CSRF is the origin check of unsafe requests (always on), and the
	// double-submit token under its TokenPrefixes.
	CSRF csrf.Options

	// IPFilter is the allow and deny rules (ip_rules:); the zero value
	// allows everyone.
	IPFilter ipfilter.Options
	// Ban is the auto-ban, when BanEnabled (the default); Ignore holds
	// ban.ignore and the trusted proxies. The gateway adds Store and Log.
	Ban        ban.Options
	BanEnabled bool
	// BanProbe is the probe detector, run when BanEnabled.
	BanProbe ban.ProbeOptions
	// BanRedis shares bans between instances: ban.redis, or else
	// auth.redis; nil: the embedded store alone. The gateway adds Local
	// and Logger.
	BanRedis *state.RedisOptions
	// SecurityTxt is the security.txt file served at
	// /.well-known/security.txt, when SecurityTxtEnabled (the
	// security_txt: section is present).
	SecurityTxt        securitytxt.Options
	SecurityTxtEnabled bool
	// Admin is the admin listener (metrics, health, operations APIs);
	// Admin.Disabled() when admin.listen is "off".
	Admin admin.Options

	LogLevel    slog.Level
	AccessLog   accesslog.Options
	AccessFile  logfile.Options
	SecurityLog logfile.Options
}

// TLSMode names where the certificates come from, for the start-up log.
func (p *Plan) TLSMode() string {
	switch {
	case p.TLS.CertFile != "":
		return "files"
	case p.TLS.ACME != nil:
		return "acme"
	}
	return "development certificate"
}

// RoutePrefixes are the path prefixes of the plan's rules (rate-limit
// rules, header routes, access rules when auth is on), each once, in that
// order: the routes metrics name requests by (metrics.RouteByPrefix).
// They were validated when the plan was compiled.
func (p *Plan) RoutePrefixes() []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, r := range p.RateLimit.Rules {
		add(r.Prefix)
	}
	for _, r := range p.Headers.Routes {
		add(r.Prefix)
	}
	if p.AuthEnabled {
		for _, r := range p.Auth.Rules {
			add(r.Prefix)
		}
	}
	return out
}
