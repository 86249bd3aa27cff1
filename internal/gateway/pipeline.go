package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/dashboard"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/ipfilter"
	"github.com/rampart-dev/rampart/metrics"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/ratelimit"
	redisstore "github.com/rampart-dev/rampart/ratelimit/redis"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/secheaders"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/securitytxt"
)

type pipelineDeps struct {
	logger  *slog.Logger
	access  io.Writer
	sec     *seclog.Logger
	closers *[]io.Closer
	// runners are started by Gateway.Run and stopped with it: the users
	// file's reload, the state store's upkeep.
	runners *[]func(context.Context)
	// port is the HTTPS listener's port, the one a Host may name.
	port int
	// res and keys, when res is not nil, keep what may outlive this
	// configuration (the state store, shared rate-limit stores) across
	// reloads; without res, such things are opened and added to closers.
	res  *resources
	keys *[]string
	// prev is the pipeline this one replaces on a reload: its rate-limit
	// states are taken over.
	prev *pipeline
	// rec, when not nil, counts responses for the security dashboard
	// (the gateway's, kept across reloads).
	rec *dashboard.Recorder
	// banner, when not nil, is the auto-ban (the gateway's, kept across
	// reloads).
	banner *ban.Banner
	// sweep is the embedded store's counter window, which a reload may
	// change.
	sweep *atomic.Int64
	// metrics, when not nil, are the process's (kept across reloads).
	metrics *metrics.Metrics
}

// onDecision is the limiters' OnDecision: the access-log annotation, and
// the metrics.
func (d pipelineDeps) onDecision() func(*http.Request, ratelimit.Decision) {
	if d.metrics == nil {
		return annotateRateLimit
	}
	m := d.metrics
	return func(r *http.Request, dec ratelimit.Decision) {
		annotateRateLimit(r, dec)
		m.OnRateLimitDecision(r, dec)
	}
}

// measure wraps h in the metrics' request counter, when there are
// metrics.
func (d pipelineDeps) measure(h http.Handler) http.Handler {
	if d.metrics == nil {
		return h
	}
	return d.metrics.Handler(h)
}

// acquire opens (or takes over) the resource named key: see resources.
func (d pipelineDeps) acquire(key string, open func() (any, io.Closer, func(context.Context), error)) (any, error) {
	if d.res != nil {
		return d.res.acquire(d.keys, key, open)
	}
	v, c, run, err := open()
	if err != nil {
		return nil, err
	}
	if c != nil {
		*d.closers = append(*d.closers, c)
	}
	if run != nil && d.runners != nil {
		*d.runners = append(*d.runners, run)
	}
	return v, nil
}

// sharedZones returns the plan's rate-limit options with a Redis store on
// each zone that names a Backend: one store per distinct Backend, shared by
// its zones, as ratelimit requires (a rule's zones are decided on one
// store, and Validate told them apart by Backend). Zones with one Backend
// have one password (config refuses two).
func (d pipelineDeps) sharedZones(plan *config.Plan) (ratelimit.Options, error) {
	opts := plan.RateLimit
	opts.Zones = maps.Clone(opts.Zones)
	stores := map[string]*redisstore.Store{}
	for _, zone := range slices.Sorted(maps.Keys(opts.Zones)) {
		z := opts.Zones[zone]
		if z.Backend == "" {
			continue
		}
		st := stores[z.Backend]
		if st == nil {
			password := plan.RateLimitBackends[zone].Password
			v, err := d.acquire("ratelimit-store "+z.Backend+"\x00"+password, func() (any, io.Closer, func(context.Context), error) {
				st, err := redisstore.New(redisstore.Options{URL: z.Backend, Password: password})
				return st, st, nil, err
			})
			if err != nil {
				return opts, fmt.Errorf("ratelimit.zones.%s.backend: %w", zone, err)
			}
			st = v.(*redisstore.Store)
			stores[z.Backend] = st
		}
		z.Shared = st
		opts.Zones[zone] = z
	}
	return opts, nil
}

// annotateRateLimit is the limiters' OnDecision: it adds the decision to
// the request's access-log record (ratelimit, ratelimit_zone,
// ratelimit_delay_ms). The key is not logged there: the client address
// already is, and a header key may be a credential. ratelimit does not
// know the access log; this is where the two meet.
func annotateRateLimit(r *http.Request, d ratelimit.Decision) {
	action := d.Action.String()
	if d.DryRun {
		// Constant strings: nothing is concatenated on the request path.
		switch d.Action {
		case ratelimit.Delay:
			action = "would_delay"
		case ratelimit.Reject:
			action = "would_reject"
		}
	}
	accesslog.AddAttrs(r,
		slog.String("ratelimit", action),
		slog.String("ratelimit_zone", d.Zone),
		slog.Int64("ratelimit_delay_ms", d.Delay.Milliseconds()),
	)
}

// buildPipeline assembles the request pipeline. The order is fixed here and
// nowhere else; each stage is a plain func(http.Handler) http.Handler from
// a library package, so the same defence works outside the gateway.
//
//	request id        every later record (access, security, error page,
//	                  upstream X-Request-ID) carries the same id
//	client address    resolved once through trusted proxies; everything
//	                  after it (logs, limits, bans) keys on the real client
//	access log        outside everything that can answer, so every
//	                  response is logged, rejections included
//	path decision     the canonical path (reqpath), decided once: the
//	                  header routes, the rate limit, the report collector
//	                  and body streaming all match the same one
//	security headers  outside every stage that can answer, so 429, 500,
//	                  502 and 504 pages carry them too
//	panic recovery    inside the headers: a panic's 500 still gets them
//	host check        421 for a Host that is not configured, or a port
//	                  this server is not reached on (Host header
//	                  injection never reaches the application); the Host
//	                  made canonical; TRACE 405; OPTIONS * answered
//	request path      400 for a path the application could read
//	                  differently from rampart, answered here so the 400
//	                  has the headers and comes after the host check
//	auto-ban          403 to a banned client behind a trusted proxy (the
//	                  listener refuses the others before TLS)
//	IP rules          403 to a client the allow and deny lists refuse
//	probe detector    404 to scanners' requests for /.env, /.git/, ...,
//	                  an event the auto-ban counts
//	rate limit        before any work is spent on the request
//	CSP reports       the collector, under a limit of its own, after the
//	                  host check and the rate limit like any other path
//	security.txt      /.well-known/security.txt (RFC 9116), public, never
//	                  served once expired
//	reverse proxy     body limit, request buffering (the body is read
//	                  whole before the application is contacted),
//	                  forwarding headers, fingerprint removal, upstream
//	                  URLs in redirects rewritten to the public origin,
//	                  the application's debug pages replaced (inside the
//	                  security headers, so the replacement carries them)
//
// CSRF, sessions and identity headers come between the CSP reports and
// the proxy (see identity).
func buildPipeline(plan *config.Plan, d pipelineDeps) (*pipeline, error) {
	po := plan.Proxy
	po.Logger, po.SecLog = d.logger, d.sec
	if d.metrics != nil {
		po.OnResult = d.metrics.OnProxyResult
	}
	px, err := proxy.New(po)
	if err != nil {
		return nil, err
	}
	pl, err := buildStages(plan, d, px)
	if err != nil {
		return nil, err
	}
	pl.proxy = px
	return pl, nil
}

// buildStages wraps next (the reverse proxy) in the stages listed on
// buildPipeline, in that order.
func buildStages(plan *config.Plan, d pipelineDeps, next http.Handler) (*pipeline, error) {
	resolver, err := clientip.New(plan.ClientIP)
	if err != nil {
		return nil, err
	}
	hp := plan.Headers
	hp.CSP.Report.Collector.Log = d.sec
	if plan.AuthEnabled {
		hp.Routes = append(slices.Clone(hp.Routes), authPagesRoute())
	}
	headers, err := secheaders.New(hp)
	if err != nil {
		return nil, err
	}
	rp, err := d.sharedZones(plan)
	if err != nil {
		return nil, err
	}
	rp.Log = d.sec
	rp.OnDecision = d.onDecision()
	if d.prev != nil {
		rp.Previous = d.prev.limiter
	}
	limiter, err := ratelimit.New(rp)
	if err != nil {
		return nil, err
	}
	po := plan.Paths
	po.Log = d.sec
	po.Prefixes = rulePrefixes(plan, headers.ReportPath())
	paths, err := reqpath.New(po)
	if err != nil {
		return nil, err
	}
	if d.rec != nil {
		// What comes back through here is the application's answer,
		// not a rejection by rampart.
		next = d.rec.Application(next)
	}
	next, gate, err := d.identity(plan, next)
	if err != nil {
		return nil, err
	}
	if plan.SecurityTxtEnabled {
		// Public even where auth requires a session; inside the host
		// check, the path decision and the rate limit like any path.
		so := plan.SecurityTxt
		so.Logger = d.logger
		stxt, err := securitytxt.New(so)
		if err != nil {
			return nil, err
		}
		next = stxt.Handler(next)
	}
	var reports *ratelimit.Limiter
	if report := headers.ReportPath(); report != "" {
		var prev *ratelimit.Limiter
		if d.prev != nil {
			prev = d.prev.reports
		}
		if reports, err = reportLimiter(report, d.sec, prev, d.onDecision()); err != nil {
			return nil, err
		}
		next = mountReports(report, reports.Handler(headers.Collector()), next)
	}

	ao := plan.AccessLog
	ao.Writer = d.access
	access, err := accesslog.New(ao)
	if err != nil {
		return nil, err
	}
	ids, err := requestid.New(requestid.Options{TrustIncoming: resolver.TrustedPeer})
	if err != nil {
		return nil, err
	}

	ipo := plan.IPFilter
	ipo.Log = d.sec
	filter, err := ipfilter.New(ipo)
	if err != nil {
		return nil, err
	}

	var h http.Handler = limiter.Handler(next)
	if d.banner != nil {
		pr := plan.BanProbe
		pr.Log = d.sec
		probe, err := ban.NewProbe(pr)
		if err != nil {
			return nil, err
		}
		h = probe.Handler(h)
	}
	h = filter.Handler(h)
	if d.banner != nil {
		// Clients behind a trusted proxy, whose connections the
		// listener cannot refuse.
		h = d.banner.Handler(h)
	}
	h = reqpath.Enforce(h)
	h = hostCheck(plan.Hosts, d.port, refuseTrace(serverOptions(h)))
	h = httperr.Recover(d.logger, requestid.FromRequest)(h)
	h = headers.Handler(h)
	// Inside the path decision (the route label is the rule the decided
	// path falls under), outside every stage that can answer.
	h = d.measure(h)
	// The path is decided before the headers choose their route, and the
	// refusal answered inside them, so the 400 carries them too.
	h = paths.Decide(h)
	h = d.count(h)
	h = access.Handler(h)
	h = resolver.Handler(h)
	h = ids.Handler(h)

	// Every other response rampart sends goes through the same outer
	// stages: requests refused before the pipeline (listen.Rejection)
	// and the plain listener's redirects.
	around := func(h http.Handler) http.Handler {
		h = httperr.Recover(d.logger, requestid.FromRequest)(h)
		h = headers.Handler(h)
		h = d.measure(h)
		h = d.count(h)
		h = access.Handler(h)
		h = resolver.Handler(h)
		return ids.Handler(h)
	}
	return &pipeline{https: h, rejected: around(http.HandlerFunc(rejectedPage)), around: around,
		limiter: limiter, reports: reports, gate: gate}, nil
}

// count wraps h in the dashboard's response counter, when there is one.
func (d pipelineDeps) count(h http.Handler) http.Handler {
	if d.rec == nil {
		return h
	}
	return d.rec.Handler(h)
}

// pipeline is the HTTPS listener's handler and what the listeners need to
// answer the rest through the same outer stages.
type pipeline struct {
	https    http.Handler
	rejected http.Handler                    // listen.Options.Rejected
	around   func(http.Handler) http.Handler // for the redirect listener
	// What the next configuration takes over or this one releases.
	limiter, reports *ratelimit.Limiter
	proxy            *proxy.Proxy
	// gate is the login stage; nil without auth.
	gate *auth.Gate
}

// closeIdle closes the upstream connections kept alive for reuse, once
// a reload has replaced the pipeline.
func (p *pipeline) closeIdle() {
	if p.proxy != nil {
		p.proxy.CloseIdleConnections()
	}
}

// identity wraps next (the proxy) in the CSRF protection and, with auth,
// the login stages:
//
//	identify    the session cookie verified once; the claims recorded
//	CSRF        the origin of every unsafe request, rampart's own login
//	            and logout included (login CSRF), and the double-submit
//	            token under csrf.token_prefixes, bound to the session
//	auth        rampart's endpoints, the access rules, the identity
//	            headers to the application
func (d pipelineDeps) identity(plan *config.Plan, next http.Handler) (http.Handler, *auth.Gate, error) {
	co := plan.CSRF
	co.Log = d.sec
	protect, err := csrf.New(co)
	if err != nil {
		return nil, nil, err
	}
	if !plan.AuthEnabled {
		return protect.Handler(next), nil, nil
	}
	store, err := d.openState(plan, plan.Auth.Redis)
	if err != nil {
		if plan.Auth.Redis != nil && !strings.HasPrefix(err.Error(), "state_dir") {
			err = fmt.Errorf("auth.redis: %w", err)
		}
		return nil, nil, err
	}
	gate, err := auth.New(plan.Auth, auth.Deps{Store: store, CSRF: protect, Sec: d.sec, Logger: d.logger})
	if err != nil {
		return nil, nil, err
	}
	*d.closers = append(*d.closers, gate)
	if err := gate.WriteJWKS(); err != nil {
		return nil, nil, fmt.Errorf("auth.jwks_file: %w", err)
	}
	*d.runners = append(*d.runners, gate.Run)
	return gate.Identify(protect.Handler(gate.Handler(next))), gate, nil
}

// openState opens the state store: the embedded file in the state
// directory, and Redis in front of it when ro is not nil (auth.redis for
// sessions, ban.redis for bans; the same settings share one client).
//
// Both outlive a reload that keeps their settings: sessions, revocations,
// bans and counters are never dropped by a reload, and the embedded file,
// which one process opens only once, is not reopened.
func (d pipelineDeps) openState(plan *config.Plan, ro *state.RedisOptions) (stateStore, error) {
	path := filepath.Join(plan.StateDir, "rampart.db")
	window := sweepWindow(plan)
	if d.sweep != nil {
		d.sweep.Store(int64(window))
	}
	v, err := d.acquire("state "+path, func() (any, io.Closer, func(context.Context), error) {
		local, err := state.OpenEmbedded(path)
		if err != nil {
			return nil, nil, nil, err
		}
		// Expired sessions, revocations, bans, counters and used TOTP
		// steps are swept every few minutes: nothing depends on it
		// but the file's size. Counters live as long as the longest
		// window that counts them (the current configuration's).
		sweep := d.sweep
		return local, local, every(5*time.Minute, func() {
			w := window
			if sweep != nil {
				w = time.Duration(sweep.Load())
			}
			if err := local.Sweep(time.Now(), w); err != nil {
				d.logger.Error("state: sweeping the embedded store", "err", err)
			}
		}), nil
	})
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	local := v.(*state.Embedded)
	if ro == nil {
		return local, nil
	}
	opts := *ro
	v, err = d.acquire(fmt.Sprintf("state-redis %s %+v", path, opts), func() (any, io.Closer, func(context.Context), error) {
		opts.Local, opts.Logger = local, d.logger
		rs, err := state.NewRedis(opts)
		if err != nil {
			return nil, nil, nil, err
		}
		// A revocation or ban written while Redis was down is pushed
		// again once it answers: none is lost.
		return rs, rs, every(5*time.Second, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rs.Replay(ctx, time.Now()); err != nil {
				d.logger.Warn("state: revocations and bans not yet pushed to Redis", "err", err)
			}
		}), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*state.Redis), nil
}

// stateStore is what the embedded store and Redis both are: the sessions'
// store and the bans'.
type stateStore interface {
	auth.Store
	ban.Store
}

// sweepWindow is how long failure counters must be kept: the longest
// window that counts them.
func sweepWindow(plan *config.Plan) time.Duration {
	w := auth.FailureWindow
	if ft := plan.Ban.FindTime; plan.BanEnabled && max(ft, ban.DefaultFindTime) > w {
		w = max(ft, ban.DefaultFindTime)
	}
	return w
}

// every returns a runner calling f every interval until its context ends.
func every(interval time.Duration, f func()) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	}
}

// authPagesRoute is the header route of rampart's own pages (login,
// logout): a policy of their own, replacing the application's, stricter
// than any an application could live with. No script at all, styles and
// images from rampart only, forms posting to rampart only, never framed
// (clickjacking of a login form), and enforced even when the
// application's policy is report-only.
func authPagesRoute() secheaders.Route {
	enforce := false
	return secheaders.Route{
		Prefix: auth.Prefix,
		CSP: map[string][]string{
			"default-src":     {"'none'"},
			"style-src":       {"'self'"},
			"img-src":         {"'self'"},
			"form-action":     {"'self'"},
			"frame-ancestors": {"'none'"},
			"base-uri":        {"'none'"},
		},
		CSPReplace:    true,
		CSPReportOnly: &enforce,
	}
}

// rejectedPage answers a request the listener refused before the pipeline
// (see listen.Rejection): the generic page of its status, and the reason
// in its access-log line.
func rejectedPage(w http.ResponseWriter, r *http.Request) {
	rej, ok := listen.RejectionFromContext(r.Context())
	if !ok {
		rej = listen.Rejection{Status: http.StatusBadRequest, Reason: "malformed request"}
	}
	accesslog.AddAttrs(r, slog.String("rejected", rej.Reason))
	w.Header().Set("Connection", "close")
	httperr.Write(w, r, rej.Status, "", requestid.FromRequest(r))
}

// rulePrefixes are the prefixes every rule of the plan matches on, for the
// path stage's case check (see reqpath.Options.Prefixes). They were
// validated when the plan was compiled.
func rulePrefixes(plan *config.Plan, report string) []reqpath.Prefix {
	var out []reqpath.Prefix
	add := func(s string) {
		if p, err := reqpath.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	for _, r := range plan.RateLimit.Rules {
		add(r.Prefix)
	}
	for _, r := range plan.Headers.Routes {
		add(r.Prefix)
	}
	for _, s := range plan.Proxy.InsecureStreamRequestBodyPaths {
		add(s)
	}
	for _, s := range plan.Paths.InsecureAllowEncodedSlashes {
		add(s)
	}
	for _, s := range plan.Paths.InsecureAllowSemicolons {
		add(s)
	}
	if report != "" {
		add(report)
	}
	return out
}

// reportLimiter is the CSP report collector's own limit: 60 reports a
// minute per client (IPv6 per /64) with a burst of 60, nodelay. A page
// breaking its policy sends one report per violation, a few dozen at most
// when it loads; anything beyond is a client posting reports on purpose,
// answered 429 before the collector parses or logs anything.
func reportLimiter(path string, sec *seclog.Logger, prev *ratelimit.Limiter, onDecision func(*http.Request, ratelimit.Decision)) (*ratelimit.Limiter, error) {
	return ratelimit.New(ratelimit.Options{
		Previous:   prev,
		Zones:      map[string]ratelimit.Zone{"csp_reports": {Key: "client_ip", Rate: ratelimit.PerMinute(60), Size: 1 << 20}},
		Rules:      []ratelimit.Rule{{Prefix: path, Limits: []ratelimit.Limit{{Zone: "csp_reports", Burst: 60, NoDelay: true}}}},
		Log:        sec,
		OnDecision: onDecision,
	})
}

// mountReports sends requests for the report path to reports, the rest to
// next. The path is compared in its canonical form (reqpath), as every
// rule matches.
func mountReports(path string, reports, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := reqpath.FromRequest(r); err == nil && c == path {
			reports.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
