// Package metrics exports what rampart does as Prometheus metrics: requests
// by route, method and status class, their duration, rate-limit decisions
// per zone, security events by OWASP name, bans, upstream errors and
// latency, request-body buffer use, certificate expiry, configuration
// reloads and the build.
//
// Labels never carry a raw path, a user, a client address or anything else
// a client chooses: the route is the configured prefix a request falls
// under (RouteByPrefix) or "other", the method one of the standard methods
// or "OTHER", and every label whose values come from the configuration
// (routes, zones, certificate names) is capped at a fixed number of
// distinct values, past which the value is "other". A client sending
// millions of distinct paths, users or X-Forwarded-For values creates no
// new series.
//
// A Metrics is built once per process: its collectors are registered once,
// and what changes with a configuration reload (the route function, the
// proxy whose buffers are measured, the certificate source) is swapped in
// with its Set methods, so a reload never registers anything twice.
package metrics

import (
	"errors"
	"maps"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/seclog"
)

// Limits on the distinct values of labels that come from the
// configuration. Values past them are counted under "other".
const (
	MaxRoutes       = 256
	MaxZones        = 256
	MaxCertificates = 256
	// MaxActions bounds the security event names beyond the OWASP names
	// seclog defines (names a later component adds).
	MaxActions = 64
)

// Other is the label value of everything not named: a request under no
// configured prefix, a value past a label's cap.
const Other = "other"

// Options configure a Metrics. The zero value is valid: a registry of its
// own (with the Go runtime and process collectors), every request's route
// "other".
type Options struct {
	// Registerer is where the collectors are registered. Nil means a new
	// registry of the Metrics' own, served by Handler's sibling
	// HTTPHandler, with the Go runtime and process collectors added.
	// Registering a second Metrics on the same Registerer fails: build one
	// per process and keep it across reloads.
	Registerer prometheus.Registerer

	// Gatherer is what HTTPHandler serves when Registerer is set. Nil
	// means Registerer itself when it is also a Gatherer (a
	// *prometheus.Registry), else prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer

	// Route names the route of a request for the route label. Nil means
	// every request is "other". See RouteByPrefix; SetRoute replaces it
	// (after a configuration reload).
	Route func(*http.Request) string

	// Version is the version reported by rampart_build_info. Empty means
	// "unknown".
	Version string

	// Buckets are the upper bounds, in seconds, of the request and
	// upstream duration histograms. Nil means prometheus.DefBuckets
	// (5 ms to 10 s).
	Buckets []float64
}

// Validate reports what is wrong with o by Go field path.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	for i, b := range o.Buckets {
		if !(b > 0) || i > 0 && b <= o.Buckets[i-1] {
			errs.Errorf(field.Index("Buckets", i), "list positive bounds in increasing order, e.g. 0.01, 0.1, 1",
				"%v is not a positive bound above the one before", b)
		}
	}
	return errs
}

// Certificate is one certificate in service, for
// rampart_tls_certificate_expiry_timestamp_seconds.
type Certificate struct {
	// Name is a configured host name (the label value).
	Name     string
	NotAfter time.Time
}

// Metrics holds rampart's collectors. Its methods are safe for concurrent
// use; a nil *Metrics records nothing.
type Metrics struct {
	gatherer prometheus.Gatherer
	route    atomic.Pointer[func(*http.Request) string]

	routes                    routeCache
	zones, certNames, actions *labelSet

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	rateLimit       *prometheus.CounterVec
	security        *prometheus.CounterVec
	bansTotal       prometheus.Counter
	upstreamErrors  *prometheus.CounterVec
	upstreamLatency prometheus.Histogram
	reloads         *prometheus.CounterVec
	lastReload      prometheus.Gauge

	bansActive atomic.Pointer[func() int]
	bodyUse    atomic.Pointer[func() (memory, disk int64)]
	certs      atomic.Pointer[func() []Certificate]
	laneConns  atomic.Pointer[func() (ended, handedOver int64)]
}

// New validates o and registers the collectors.
func New(o Options) (*Metrics, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	reg := o.Registerer
	m := &Metrics{gatherer: o.Gatherer}
	if reg == nil {
		r := prometheus.NewRegistry()
		if err := r.Register(collectors.NewGoCollector()); err != nil {
			return nil, err
		}
		if err := r.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, err
		}
		reg, m.gatherer = r, r
	}
	if m.gatherer == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			m.gatherer = g
		} else {
			m.gatherer = prometheus.DefaultGatherer
		}
	}
	buckets := o.Buckets
	if buckets == nil {
		buckets = prometheus.DefBuckets
	}
	m.zones = newLabelSet(MaxZones)
	m.certNames = newLabelSet(MaxCertificates)
	m.actions = newLabelSet(MaxActions)
	m.SetRoute(o.Route)

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_http_requests_total",
		Help: "HTTP requests answered, by route (the configured prefix matched, or other), method (OTHER for a non-standard one) and status class.",
	}, []string{"route", "method", "code_class"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rampart_http_request_duration_seconds",
		Help:    "Time from a request's arrival in the pipeline to the end of its response, by route.",
		Buckets: buckets,
	}, []string{"route"})
	m.rateLimit = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_ratelimit_decisions_total",
		Help: "Rate-limit decisions per zone: pass, delay, reject, and dry_run_pass, dry_run_delay, dry_run_reject for dry-run and shadow rules.",
	}, []string{"zone", "action"})
	m.security = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_security_events_total",
		Help: "Security events by OWASP event name (event.action), ECS category and outcome, suppressed repeats included.",
	}, []string{"action", "category", "outcome"})
	m.bansTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rampart_bans_total",
		Help: "Clients banned since the start.",
	})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_upstream_errors_total",
		Help: "Requests the proxy answered itself, by kind: upstream_unavailable, upstream_timeout, body_too_large, body_buffers_full, body_buffer_failed, bad_request_body, client_body_timeout, client_gone.",
	}, []string{"kind"})
	m.upstreamLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rampart_upstream_response_duration_seconds",
		Help:    "Time from sending a request upstream (its body buffered) to the upstream's response header.",
		Buckets: buckets,
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_config_reloads_total",
		Help: "Configuration reloads by outcome (success, failure).",
	}, []string{"outcome"})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_config_last_reload_success_timestamp_seconds",
		Help: "Time of the last configuration loaded successfully, at start or by a reload (Unix seconds).",
	})
	m.lastReload.SetToCurrentTime()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_build_info",
		Help: "Always 1; the labels name the build.",
	}, []string{"version", "goversion"})
	version := o.Version
	if version == "" {
		version = "unknown"
	}
	build.WithLabelValues(version, runtime.Version()).Set(1)
	for _, outcome := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(outcome)
	}

	cs := []prometheus.Collector{m.requests, m.duration, m.rateLimit, m.security, m.bansTotal,
		m.upstreamErrors, m.upstreamLatency, m.reloads, m.lastReload, build, funcCollector{m}}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("metrics: already registered on this Registerer: build one Metrics per process and keep it across reloads")
			}
			return nil, err
		}
	}
	return m, nil
}

// Gatherer is what HTTPHandler serves.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.gatherer }

// HTTPHandler serves the metrics in the Prometheus exposition formats
// (promhttp), for the admin listener's /metrics. Errors gathering are
// answered 500 without detail.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

// SetRoute replaces the route function (after a configuration reload). Nil
// means every request is "other".
func (m *Metrics) SetRoute(f func(*http.Request) string) {
	if m == nil {
		return
	}
	if f == nil {
		m.route.Store(nil)
		return
	}
	m.route.Store(&f)
}

// SetBansActive sets the function rampart_bans_active reads at each scrape
// (the number of clients banned now). Nil removes the metric.
func (m *Metrics) SetBansActive(f func() int) {
	if f == nil {
		m.bansActive.Store(nil)
		return
	}
	m.bansActive.Store(&f)
}

// SetBodyBufferUse sets the function the body-buffer gauges read at each
// scrape: (*proxy.Proxy).BodyBufferUse of the proxy in service. Nil
// removes the gauges.
func (m *Metrics) SetBodyBufferUse(f func() (memory, disk int64)) {
	if f == nil {
		m.bodyUse.Store(nil)
		return
	}
	m.bodyUse.Store(&f)
}

// SetHTTP1LaneConnections sets the function
// rampart_http1_lane_connections_total reads at each scrape: the HTTPS
// listener's LaneConnections (internal/listen). Nil removes the metric.
func (m *Metrics) SetHTTP1LaneConnections(f func() (ended, handedOver int64)) {
	if f == nil {
		m.laneConns.Store(nil)
		return
	}
	m.laneConns.Store(&f)
}

// SetCertificates sets the function the certificate expiry gauge reads at
// each scrape. Nil removes the gauge.
func (m *Metrics) SetCertificates(f func() []Certificate) {
	if f == nil {
		m.certs.Store(nil)
		return
	}
	m.certs.Store(&f)
}

// Handler records every request through next: rampart_http_requests_total
// and rampart_http_request_duration_seconds. Put it where the route can be
// decided (after reqpath's Decide, so RouteByPrefix reads the canonical
// path) and outside every stage that can answer, so refusals are counted
// too.
func (m *Metrics) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w, resp := reqstate.Record(r, w)
		returned := false
		defer func() {
			code := resp.Status
			if code == 0 {
				// Nothing written: net/http sends 200, unless next
				// panicked (http.ErrAbortHandler), which the client
				// sees as a broken connection: counted as a 5xx. The
				// panic goes on.
				code = http.StatusOK
				if !returned {
					code = http.StatusInternalServerError
				}
			}
			rs := m.routes.get(m, m.routeOf(r))
			rs.counter(m, methodIndex(r.Method), classIndex(code)).Inc()
			rs.duration.Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(w, r)
		returned = true
	})
}

func (m *Metrics) routeOf(r *http.Request) string {
	p := m.route.Load()
	if p == nil {
		return Other
	}
	s := (*p)(r)
	if s == "" {
		return Other
	}
	return s
}

// Method is the method label: one of the methods of RFC 9110 and PATCH, or
// "OTHER", so a client cannot create label values.
func Method(m string) string { return methods[methodIndex(m)] }

var methods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "OTHER"}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return 9
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", Other}

func classIndex(code int) int {
	if code >= 100 && code < 600 {
		return code/100 - 1
	}
	return 5
}

// CodeClass is the status class label: "1xx" to "5xx", "other" outside.
func CodeClass(code int) string { return classes[classIndex(code)] }

// routeCache holds each route's series, so that a request costs no label
// hashing: at most MaxRoutes routes, then Other.
type routeCache struct {
	// m is read without a lock: a lock's reader count is a memory word
	// every CPU would write for every request. A new route copies the
	// map (at most MaxRoutes entries) under mu.
	m  atomic.Pointer[map[string]*routeSeries]
	mu sync.Mutex
}

// routeSeries are one route's request counters, by method and class
// (created at first use), and its duration histogram.
type routeSeries struct {
	name     string
	duration prometheus.Observer
	counters [len(methods)][len(classes)]atomic.Pointer[prometheus.Counter]
}

func (c *routeCache) get(m *Metrics, route string) *routeSeries {
	if p := c.m.Load(); p != nil {
		if rs := (*p)[route]; rs != nil {
			return rs
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var cur map[string]*routeSeries
	if p := c.m.Load(); p != nil {
		cur = *p
	}
	if rs := cur[route]; rs != nil {
		return rs
	}
	if len(cur) >= MaxRoutes && route != Other {
		if rs := cur[Other]; rs != nil {
			return rs
		}
		route = Other
	}
	rs := &routeSeries{name: route, duration: m.duration.WithLabelValues(route)}
	next := make(map[string]*routeSeries, len(cur)+1)
	maps.Copy(next, cur)
	next[route] = rs
	c.m.Store(&next)
	return rs
}

func (rs *routeSeries) counter(m *Metrics, mi, ci int) prometheus.Counter {
	p := &rs.counters[mi][ci]
	if c := p.Load(); c != nil {
		return *c
	}
	c := m.requests.WithLabelValues(rs.name, methods[mi], classes[ci])
	p.Store(&c)
	return c
}

// OnRateLimitDecision counts a rate-limit decision per zone (the zones of
// the governing rule, and of the shadow rule). It has the signature of
// ratelimit.Options.OnDecision.
func (m *Metrics) OnRateLimitDecision(_ *http.Request, d ratelimit.Decision) {
	if m == nil {
		return
	}
	if d.AmbiguousPath {
		m.rateLimit.WithLabelValues("none", "reject").Inc()
		return
	}
	m.countZones(&d)
	if d.Shadow != nil {
		m.countZones(d.Shadow)
	}
}

func (m *Metrics) countZones(d *ratelimit.Decision) {
	dry := d.DryRun
	d.EachZone(func(zone string, a ratelimit.Action) {
		m.rateLimit.WithLabelValues(m.zones.get(zone), rateAction(a, dry)).Inc()
	})
}

func rateAction(a ratelimit.Action, dry bool) string {
	switch {
	case dry && a == ratelimit.Reject:
		return "dry_run_reject"
	case dry && a == ratelimit.Delay:
		return "dry_run_delay"
	case dry:
		return "dry_run_pass"
	case a == ratelimit.Reject:
		return "reject"
	case a == ratelimit.Delay:
		return "delay"
	}
	return "pass"
}

// ObserveSecurityEvent counts a security event by its OWASP name, with its
// ECS category and outcome; a record standing for suppressed repeats
// counts them all. It has the signature seclog.Logger.Observe takes. Names
// seclog does not define are counted under their own name up to
// MaxActions of them (they come from rampart's code, never from a
// client), then as "other"; a name that is not a plain lower-case
// identifier is always "other".
func (m *Metrics) ObserveSecurityEvent(rec seclog.Record) {
	if m == nil {
		return
	}
	action := rec.Action
	if !knownActions[action] {
		if !plainName(action) {
			action = Other
		} else {
			action = m.actions.get(action)
		}
	}
	n := rec.Count
	if n < 1 {
		n = 1
	}
	m.security.WithLabelValues(action, seclog.Category(action), seclog.Outcome(action)).Add(float64(n))
}

var knownActions = map[string]bool{}

func init() {
	for _, a := range []string{
		seclog.AuthnLoginSuccess, seclog.AuthnLoginFail, seclog.AuthnLoginFailMax, seclog.AuthnLoginLock,
		seclog.AuthnTokenCreated, seclog.AuthnTokenRevoked, seclog.AuthnTokenReuse, seclog.AuthzFail,
		seclog.ExcessRateLimitExceeded, seclog.InputValidationFail, seclog.MaliciousCSRF,
		seclog.SessionCreated, seclog.SessionExpired, seclog.SessionLogout, seclog.SessionUseAfterExpire,
		seclog.CSPViolation, seclog.UpstreamUnavailable, seclog.UpstreamDebugPage,
		seclog.SysMonitorDisabled, seclog.SysRestart, seclog.SysStartup, seclog.SysShutdown, seclog.SysConfigReload,
	} {
		knownActions[a] = true
	}
}

// plainName reports whether s looks like an OWASP event name: 1 to 48
// lower-case letters, digits and underscores, starting with a letter.
func plainName(s string) bool {
	if len(s) == 0 || len(s) > 48 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// BanAdded counts one ban (rampart_bans_total).
func (m *Metrics) BanAdded() {
	if m != nil {
		m.bansTotal.Inc()
	}
}

// OnProxyResult counts a request the proxy answered itself
// (rampart_upstream_errors_total, by Reason) or times the upstream's
// answer (rampart_upstream_response_duration_seconds). It has the
// signature of proxy.Options.OnResult.
func (m *Metrics) OnProxyResult(_ *http.Request, res proxy.Result) {
	if m == nil {
		return
	}
	if res.Failed {
		m.upstreamErrors.WithLabelValues(res.Reason.String()).Inc()
		return
	}
	m.upstreamLatency.Observe(res.Duration.Seconds())
}

// ConfigReloaded counts a configuration reload by its outcome and, on
// success, sets rampart_config_last_reload_success_timestamp_seconds.
func (m *Metrics) ConfigReloaded(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.lastReload.SetToCurrentTime()
}

// funcCollector exports the gauges read from functions at each scrape.
type funcCollector struct{ m *Metrics }

var (
	bansActiveDesc = prometheus.NewDesc("rampart_bans_active", "Clients banned now.", nil, nil)
	bodyMemDesc    = prometheus.NewDesc("rampart_body_buffer_memory_bytes",
		"Memory held by request bodies being buffered (of limits.body_memory_budget).", nil, nil)
	bodyDiskDesc = prometheus.NewDesc("rampart_body_buffer_disk_bytes",
		"Temporary-file space held by request bodies being buffered (of limits.body_temp_budget).", nil, nil)
	certDesc = prometheus.NewDesc("rampart_tls_certificate_expiry_timestamp_seconds",
		"Expiry (NotAfter, Unix seconds) of the certificate in service for each configured host name.", []string{"name"}, nil)
	laneDesc = prometheus.NewDesc("rampart_http1_lane_connections_total",
		"HTTPS/1.1 connections served by rampart's own HTTP/1.1 server (listen.http1_lane), counted as they end, by outcome: ended (served to their end) or handed_over (given to Go's server at a request with a body, an upgrade, Expect, HTTP/1.0 or a head Go's parser is to refuse).",
		[]string{"outcome"}, nil)
)

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bansActiveDesc
	ch <- bodyMemDesc
	ch <- bodyDiskDesc
	ch <- certDesc
	ch <- laneDesc
}

func (c funcCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if f := m.bansActive.Load(); f != nil {
		ch <- prometheus.MustNewConstMetric(bansActiveDesc, prometheus.GaugeValue, float64((*f)()))
	}
	if f := m.bodyUse.Load(); f != nil {
		mem, disk := (*f)()
		ch <- prometheus.MustNewConstMetric(bodyMemDesc, prometheus.GaugeValue, float64(mem))
		ch <- prometheus.MustNewConstMetric(bodyDiskDesc, prometheus.GaugeValue, float64(disk))
	}
	if f := m.laneConns.Load(); f != nil {
		ended, handedOver := (*f)()
		ch <- prometheus.MustNewConstMetric(laneDesc, prometheus.CounterValue, float64(ended), "ended")
		ch <- prometheus.MustNewConstMetric(laneDesc, prometheus.CounterValue, float64(handedOver), "handed_over")
	}
	if f := m.certs.Load(); f != nil {
		// One series per name: the earliest expiry wins when a name is
		// listed twice, or when names past the cap fold into "other".
		seen := map[string]time.Time{}
		var order []string
		for _, cert := range (*f)() {
			name := m.certNames.get(cert.Name)
			if old, ok := seen[name]; !ok || cert.NotAfter.Before(old) {
				if !ok {
					order = append(order, name)
				}
				seen[name] = cert.NotAfter
			}
		}
		for _, name := range order {
			ch <- prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(seen[name].Unix()), name)
		}
	}
}

// labelSet admits the first max distinct values of a label; later ones
// are Other.
type labelSet struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newLabelSet(max int) *labelSet { return &labelSet{max: max, seen: map[string]struct{}{}} }

func (s *labelSet) get(v string) string {
	if v == Other {
		return v
	}
	s.mu.RLock()
	_, ok := s.seen[v]
	full := len(s.seen) >= s.max
	s.mu.RUnlock()
	if ok {
		return v
	}
	if full {
		return Other
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return Other
	}
	s.seen[v] = struct{}{}
	return v
}
