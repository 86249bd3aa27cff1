package metrics_test

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/metrics"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/seclog"
)

// scrape serves m's /metrics, fetches it over loopback in the text format
// and parses it with Prometheus's own parser.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.HTTPHandler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// labels returns a metric's labels as a map.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the value of the series of fam with exactly want's labels.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range fam.GetMetric() {
		got := labels(m)
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if match {
			return m
		}
	}
	t.Fatalf("%s has no series %v", name, want)
	return nil
}

func newMetrics(t *testing.T, o metrics.Options) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Every metric rampart documents is exposed with its type and labels, and
// counts what it was fed.
func TestScrape_NamesTypesAndLabels(t *testing.T) {
	route, err := metrics.RouteByPrefix([]string{"/api/", "/login"})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(t, metrics.Options{Route: route, Version: "1.2.3"})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/users/1"}, {"GET", "/API/x"}, {"POST", "/login"}, {"BREW", "/"}, {"GET", "/other/page"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
	}

	lim, err := ratelimit.New(ratelimit.Options{
		Zones:      map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerMinute(1), Size: 1 << 20}},
		Rules:      []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 1, NoDelay: true}}}},
		Log:        seclog.New(slog.New(slog.DiscardHandler)),
		OnDecision: m.OnRateLimitDecision,
	})
	if err != nil {
		t.Fatal(err)
	}
	lh := lim.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		r := httptest.NewRequest("GET", "/api/x", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		lh.ServeHTTP(httptest.NewRecorder(), r)
	}

	sec := seclog.New(slog.New(slog.DiscardHandler))
	sec.Observe(m.ObserveSecurityEvent)
	sec.Event(t.Context(), nil, slog.LevelWarn, seclog.AuthnLoginFail, "failed", slog.String("user", "mallory"), slog.Int("suppressed", 2))
	sec.Event(t.Context(), nil, slog.LevelWarn, seclog.MaliciousCSRF, "csrf")

	m.OnProxyResult(nil, proxy.Result{Failed: true, Reason: proxy.ReasonTimeout, Status: 504})
	m.OnProxyResult(nil, proxy.Result{Status: 200, Duration: 30 * time.Millisecond})
	m.BanAdded()
	m.SetBansActive(func() int { return 4 })
	m.SetBodyBufferUse(func() (int64, int64) { return 1024, 4096 })
	m.SetHTTP1LaneConnections(func() (int64, int64) { return 7, 2 })
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m.SetCertificates(func() []metrics.Certificate {
		return []metrics.Certificate{{Name: "example.com", NotAfter: exp}}
	})
	m.ConfigReloaded(false)
	m.ConfigReloaded(true)

	fams := scrape(t, m)
	types := map[string]dto.MetricType{
		"rampart_http_requests_total":                          dto.MetricType_COUNTER,
		"rampart_http_request_duration_seconds":                dto.MetricType_HISTOGRAM,
		"rampart_ratelimit_decisions_total":                    dto.MetricType_COUNTER,
		"rampart_security_events_total":                        dto.MetricType_COUNTER,
		"rampart_bans_total":                                   dto.MetricType_COUNTER,
		"rampart_bans_active":                                  dto.MetricType_GAUGE,
		"rampart_upstream_errors_total":                        dto.MetricType_COUNTER,
		"rampart_upstream_response_duration_seconds":           dto.MetricType_HISTOGRAM,
		"rampart_body_buffer_memory_bytes":                     dto.MetricType_GAUGE,
		"rampart_body_buffer_disk_bytes":                       dto.MetricType_GAUGE,
		"rampart_tls_certificate_expiry_timestamp_seconds":     dto.MetricType_GAUGE,
		"rampart_http1_lane_connections_total":                 dto.MetricType_COUNTER,
		"rampart_config_reloads_total":                         dto.MetricType_COUNTER,
		"rampart_config_last_reload_success_timestamp_seconds": dto.MetricType_GAUGE,
		"rampart_build_info":                                   dto.MetricType_GAUGE,
		"go_goroutines":                                        dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		fam := fams[name]
		if fam == nil {
			t.Errorf("missing %s", name)
			continue
		}
		if fam.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, fam.GetType(), typ)
		}
		if fam.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}

	counter := func(name string, l map[string]string) float64 { return find(t, fams, name, l).GetCounter().GetValue() }
	gauge := func(name string, l map[string]string) float64 { return find(t, fams, name, l).GetGauge().GetValue() }
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "/api", "method": "GET", "code_class": "2xx"}, 2},
		{map[string]string{"route": "/login", "method": "POST", "code_class": "4xx"}, 1},
		{map[string]string{"route": "other", "method": "OTHER", "code_class": "2xx"}, 1},
		{map[string]string{"route": "other", "method": "GET", "code_class": "2xx"}, 1},
	} {
		if got := counter("rampart_http_requests_total", c.labels); got != c.want {
			t.Errorf("requests %v = %v, want %v", c.labels, got, c.want)
		}
	}
	if h := find(t, fams, "rampart_http_request_duration_seconds", map[string]string{"route": "/api"}).GetHistogram(); h.GetSampleCount() != 2 {
		t.Errorf("duration /api: %d samples", h.GetSampleCount())
	}
	if got := counter("rampart_ratelimit_decisions_total", map[string]string{"zone": "api", "action": "pass"}); got != 2 {
		t.Errorf("ratelimit pass %v", got)
	}
	if got := counter("rampart_ratelimit_decisions_total", map[string]string{"zone": "api", "action": "reject"}); got != 1 {
		t.Errorf("ratelimit reject %v", got)
	}
	if got := counter("rampart_security_events_total", map[string]string{"action": "authn_login_fail", "category": "authentication", "outcome": "failure"}); got != 3 {
		t.Errorf("login failures %v, want 3 (one event standing for two suppressed)", got)
	}
	if got := counter("rampart_security_events_total", map[string]string{"action": "malicious_csrf", "category": "intrusion_detection", "outcome": "failure"}); got != 1 {
		t.Errorf("csrf %v", got)
	}
	if got := counter("rampart_upstream_errors_total", map[string]string{"kind": "upstream_timeout"}); got != 1 {
		t.Errorf("upstream errors %v", got)
	}
	if got := find(t, fams, "rampart_upstream_response_duration_seconds", nil).GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("upstream latency samples %v", got)
	}
	if counter("rampart_bans_total", nil) != 1 || gauge("rampart_bans_active", nil) != 4 {
		t.Error("bans")
	}
	if gauge("rampart_body_buffer_memory_bytes", nil) != 1024 || gauge("rampart_body_buffer_disk_bytes", nil) != 4096 {
		t.Error("body buffers")
	}
	if counter("rampart_http1_lane_connections_total", map[string]string{"outcome": "ended"}) != 7 ||
		counter("rampart_http1_lane_connections_total", map[string]string{"outcome": "handed_over"}) != 2 {
		t.Error("lane connections")
	}
	if got := gauge("rampart_tls_certificate_expiry_timestamp_seconds", map[string]string{"name": "example.com"}); got != float64(exp.Unix()) {
		t.Errorf("certificate expiry %v", got)
	}
	if counter("rampart_config_reloads_total", map[string]string{"outcome": "success"}) != 1 ||
		counter("rampart_config_reloads_total", map[string]string{"outcome": "failure"}) != 1 {
		t.Error("reloads")
	}
	if got := gauge("rampart_config_last_reload_success_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last reload %v", got)
	}
	bi := find(t, fams, "rampart_build_info", map[string]string{"version": "1.2.3", "goversion": runtimeVersion()})
	if bi.GetGauge().GetValue() != 1 {
		t.Error("build info")
	}
	// No user name, address or path anywhere in the exposition.
	for name, fam := range fams {
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if v := l.GetValue(); v == "mallory" || strings.Contains(v, "192.0.2") || strings.Contains(v, "/users") {
					t.Errorf("%s carries %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// The negative test of the labels: 10 000 requests with distinct random
// paths, users, X-Forwarded-For values, methods and hosts, through the
// client-address stage that trusts a proxy, create no series beyond the
// configured routes, the standard methods and the status classes.
func TestCardinality_ClientChosenValuesCreateNoSeries(t *testing.T) {
	route, err := metrics.RouteByPrefix([]string{"/api", "/static/"})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(t, metrics.Options{Route: route})
	sec := seclog.New(slog.New(slog.DiscardHandler))
	sec.Observe(m.ObserveSecurityEvent)
	resolver, err := clientip.New(clientip.Options{TrustedProxies: mustPrefixes("127.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := reqpath.New(reqpath.Options{Log: sec})
	if err != nil {
		t.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The application's answers vary with the request too.
		sec.Event(r.Context(), r, slog.LevelWarn, seclog.AuthnLoginFail, "failed", slog.String("user", r.Header.Get("X-User")))
		w.WriteHeader(200 + len(r.URL.Path)%400)
	})
	h := resolver.Handler(policy.Decide(m.Handler(reqpath.Enforce(app))))
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyzABCDEF0123456789-._~%"[rng.IntN(47)]
		}
		return string(b)
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PROPFIND", "X" + word()}
	for i := range 10000 {
		var path string
		switch i % 4 {
		case 0:
			path = "/api/" + word() + "/" + word()
		case 1:
			path = "/static/" + word()
		case 2:
			path = "/" + word() + "/" + word()
		case 3:
			path = "/" + word() + "/../api/" + word() // ambiguous: refused
		}
		r := httptest.NewRequest("GET", "http://x/", nil)
		r.URL.Path, r.URL.RawPath = "", ""
		r.RequestURI = path
		if u, err := r.URL.Parse(path); err == nil {
			r.URL = u
		}
		r.Method = methods[rng.IntN(len(methods))]
		if r.Method[0] == 'X' {
			r.Method = "X" + word()
		}
		r.Host = word() + ".example"
		r.RemoteAddr = "127.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d, 10.%d.0.1", rng.IntN(256), rng.IntN(256), rng.IntN(256)))
		r.Header.Set("X-User", word())
		r.Header.Set("Authorization", "Basic "+word())
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	fams := scrape(t, m)
	routes, series := map[string]bool{}, 0
	for _, s := range fams["rampart_http_requests_total"].GetMetric() {
		series++
		l := labels(s)
		routes[l["route"]] = true
		if !slices.Contains([]string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"}, l["method"]) {
			t.Errorf("method label %q", l["method"])
		}
	}
	// 3 routes × 5 methods (GET, POST, PUT, DELETE, OTHER) × 4 classes.
	if series > 3*5*4 {
		t.Errorf("%d request series after 10 000 distinct requests, want at most 60", series)
	}
	for r := range routes {
		if r != "/api" && r != "/static" && r != "other" {
			t.Errorf("route label %q", r)
		}
	}
	if n := len(fams["rampart_http_request_duration_seconds"].GetMetric()); n > 3 {
		t.Errorf("%d duration series, want at most 3", n)
	}
	if n := len(fams["rampart_security_events_total"].GetMetric()); n > 2 {
		t.Errorf("%d security event series, want at most 2 (login failures, refused paths)", n)
	}
}

// A route function that leaks the raw path (a mistake in the caller) is
// still held to MaxRoutes distinct values.
func TestCardinality_RouteValuesAreCapped(t *testing.T) {
	m := newMetrics(t, metrics.Options{Route: func(r *http.Request) string { return r.URL.Path }})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i := range 10000 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/p%d", i), nil))
	}
	fams := scrape(t, m)
	if n := len(fams["rampart_http_requests_total"].GetMetric()); n != metrics.MaxRoutes+1 {
		t.Errorf("%d series, want MaxRoutes+1 = %d", n, metrics.MaxRoutes+1)
	}
	if got := find(t, fams, "rampart_http_requests_total", map[string]string{"route": "other", "method": "GET", "code_class": "2xx"}).GetCounter().GetValue(); got != 10000-metrics.MaxRoutes {
		t.Errorf("other: %v", got)
	}
}

// Security event names are the OWASP names; one seclog does not define is
// counted under its own name while it is a plain identifier, up to
// MaxActions of them; anything else is "other".
func TestSecurityEvents_ActionLabelBounded(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	for _, a := range []string{"ban_added", "Ban Added", "x\"y", strings.Repeat("a", 100), "../../etc"} {
		m.ObserveSecurityEvent(seclog.Record{Action: a, Count: 1})
	}
	for i := range 2 * metrics.MaxActions {
		m.ObserveSecurityEvent(seclog.Record{Action: fmt.Sprintf("made_up_%d", i), Count: 1})
	}
	fams := scrape(t, m)
	n := len(fams["rampart_security_events_total"].GetMetric())
	if n != metrics.MaxActions+1 {
		t.Errorf("%d series, want MaxActions+1", n)
	}
	find(t, fams, "rampart_security_events_total", map[string]string{"action": "ban_added", "category": "intrusion_detection", "outcome": "unknown"})
}

// Built once per process: a second Metrics on the same registry is an
// error, not a panic, and a reload swaps the route function without
// registering anything.
func TestNew_SecondRegistrationIsAnErrorNotAPanic(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(t, metrics.Options{Registerer: reg})
	if _, err := metrics.New(metrics.Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second New: %v", err)
	}
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a/x", nil))
	route, _ := metrics.RouteByPrefix([]string{"/a"})
	m.SetRoute(route) // a reload
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a/x", nil))
	fams := scrape(t, m)
	find(t, fams, "rampart_http_requests_total", map[string]string{"route": "other", "method": "GET", "code_class": "2xx"})
	find(t, fams, "rampart_http_requests_total", map[string]string{"route": "/a", "method": "GET", "code_class": "2xx"})
	// A scrape of the registry it was given works too.
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate_Buckets(t *testing.T) {
	errs := metrics.Options{Buckets: []float64{0.1, 0.1, -1}}.Validate()
	if len(errs) != 2 || errs[0].Path != "Buckets[1]" || errs[1].Path != "Buckets[2]" {
		t.Fatalf("%v", errs)
	}
	if _, err := metrics.New(metrics.Options{Buckets: []float64{0}}); err == nil {
		t.Fatal("New accepted a zero bucket")
	}
}

func TestRouteByPrefix(t *testing.T) {
	route, err := metrics.RouteByPrefix([]string{"/", "/api/", "/api", "/api/admin"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/": "/", "/x": "/", "/api": "/api", "/API/v1": "/api", "//api/x": "/api", "/apiary": "/",
		"/api/admin/users": "/api/admin", "/api/%2e%2e/x": "other", "/api/..;/admin": "other",
	} {
		r := httptest.NewRequest("GET", "http://x"+path, nil)
		if got := route(r); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if _, err := metrics.RouteByPrefix([]string{"api"}); err == nil {
		t.Error("a relative prefix was accepted")
	}
}

func TestMethodAndCodeClass(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "get": "OTHER", "PROPFIND": "OTHER", "": "OTHER", "PATCH": "PATCH"} {
		if got := metrics.Method(in); got != want {
			t.Errorf("Method(%q) = %q", in, got)
		}
	}
	for in, want := range map[int]string{101: "1xx", 200: "2xx", 399: "3xx", 404: "4xx", 599: "5xx", 600: "other", 99: "other", 499: "4xx"} {
		if got := metrics.CodeClass(in); got != want {
			t.Errorf("CodeClass(%d) = %q", in, got)
		}
	}
}

// A handler that aborts (http.ErrAbortHandler) before writing is counted
// as a 5xx, and the panic goes on to net/http.
func TestHandler_AbortCountedAndRepanicked(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	find(t, scrape(t, m), "rampart_http_requests_total", map[string]string{"route": "other", "method": "GET", "code_class": "5xx"})
}

func runtimeVersion() string { return runtime.Version() }

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// Requests, reloads (SetRoute, Set*) and scrapes at once: for the race
// detector, and the counts add up.
func TestConcurrentRequestsReloadsAndScrapes(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/r%d/%d", g, i), nil))
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			route, _ := metrics.RouteByPrefix([]string{fmt.Sprintf("/r%d", i%4)})
			m.SetRoute(route)
			m.SetBodyBufferUse(func() (int64, int64) { return int64(i), 0 })
			m.ConfigReloaded(true)
		}
	})
	wg.Go(func() {
		for range 10 {
			if _, err := m.Gatherer().Gather(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	var total float64
	for _, s := range scrape(t, m)["rampart_http_requests_total"].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	if total != 2000 {
		t.Errorf("%v requests counted, want 2000", total)
	}
}

// The writer keeps what handlers behind it assert: a WebSocket upgrade
// hijacks the connection (counted as 1xx), a stream flushes.
func TestHandler_FlushAndHijackPassThrough(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			c.Close()
			return
		}
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 101 {
		t.Fatalf("upgrade: %d", res.StatusCode)
	}
	// The handler's deferred count runs after the response: wait for it.
	fams := scrape(t, m)
	for range 100 {
		if fams["rampart_http_requests_total"] != nil && len(fams["rampart_http_requests_total"].GetMetric()) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
		fams = scrape(t, m)
	}
	find(t, fams, "rampart_http_requests_total", map[string]string{"route": "other", "method": "GET", "code_class": "2xx"})
	find(t, fams, "rampart_http_requests_total", map[string]string{"route": "other", "method": "GET", "code_class": "1xx"})
}
