package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/seclog"
)

type fixture struct {
	l       *ratelimit.Limiter
	now     int64
	log     bytes.Buffer
	reached atomic.Int64
	h       http.Handler
}

func newFixture(t *testing.T, opts ratelimit.Options) *fixture {
	t.Helper()
	f := &fixture{now: 1}
	opts.Now = func() int64 { return f.now }
	if opts.Log == nil {
		opts.Log = seclog.New(slog.New(slog.NewJSONHandler(&f.log, nil)))
	}
	l, err := ratelimit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
	f.h = l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.reached.Add(1)
		w.WriteHeader(200)
	}))
	return f
}

func (f *fixture) do(method, target, ip string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if ip != "" {
		r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(ip), 40000).String()
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// seedOpts is the seed guide's limit: 10r/s burst 20 nodelay on /api/.
func seedOpts() ratelimit.Options {
	return ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10), Size: 1 << 20}},
		Rules: []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 20, NoDelay: true}}}},
	}
}

func TestHandler_Rejects429WithHeaders(t *testing.T) {
	f := newFixture(t, seedOpts())
	for i := 0; i < 21; i++ {
		if w := f.do("GET", "/api/x", "192.0.2.1"); w.Code != 200 {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
	}
	w := f.do("GET", "/api/x", "192.0.2.1", "Accept", "application/json")
	if w.Code != 429 {
		t.Fatalf("22nd request: %d, want 429", w.Code)
	}
	h := w.Result().Header
	for k, want := range map[string]string{
		"Retry-After":      "1",
		"RateLimit-Policy": `"api";q=21;w=2`,
		"RateLimit":        `"api";r=0;t=1`,
		"Content-Type":     "application/problem+json",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 429 {
		t.Errorf("body %q: %v", w.Body, err)
	}
	if strings.Contains(w.Body.String(), "192.0.2.1") || strings.Contains(w.Body.String(), `"api"`) {
		t.Errorf("body leaks zone or key: %s", w.Body)
	}
	if f.reached.Load() != 21 {
		t.Errorf("upstream reached %d times, want 21", f.reached.Load())
	}
	if !strings.Contains(f.log.String(), `"event.action":"excess_rate_limit_exceeded"`) || !strings.Contains(f.log.String(), `"zone":"api"`) {
		t.Errorf("no security event logged: %s", f.log.String())
	}
	c, _ := f.l.Stats("api")
	if c.Passed != 21 || c.Rejected != 1 {
		t.Errorf("counts %+v", c)
	}
	// Other paths and other clients are unaffected.
	if w := f.do("GET", "/static/x", "192.0.2.1"); w.Code != 200 {
		t.Errorf("/static/: %d", w.Code)
	}
	if w := f.do("GET", "/api/x", "192.0.2.2"); w.Code != 200 {
		t.Errorf("other client: %d", w.Code)
	}
	// 100 ms later one more request is allowed.
	f.now += 100
	if w := f.do("GET", "/api/x", "192.0.2.1"); w.Code != 200 {
		t.Errorf("after 100 ms: %d", w.Code)
	}
}

func TestHandler_StatusConfigurable(t *testing.T) {
	o := seedOpts()
	o.Status = 503
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	f.do("GET", "/api/x", "192.0.2.1")
	w := f.do("GET", "/api/x", "192.0.2.1")
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if w := o.Validate().Warnings(); len(w) != 1 || w[0].Path != "Status" {
		t.Errorf("want one warning on Status for 503, got %v", w)
	}
}

func TestHandler_HeadersOnAllowed(t *testing.T) {
	o := seedOpts()
	f := newFixture(t, o)
	if w := f.do("GET", "/api/x", "192.0.2.1"); w.Header().Get("RateLimit") != "" {
		t.Errorf("RateLimit sent on an allowed response by default")
	}
	o.HeadersOnAllowed = true
	f = newFixture(t, o)
	w := f.do("GET", "/api/x", "192.0.2.1")
	if got := w.Header().Get("RateLimit"); got != `"api";r=20;t=0` {
		t.Errorf("RateLimit = %q", got)
	}
	w = f.do("GET", "/api/x", "192.0.2.1")
	if got := w.Header().Get("RateLimit"); got != `"api";r=19;t=1` {
		t.Errorf("RateLimit = %q", got)
	}
}

// The rule must hold whatever spelling of the path reaches the upstream:
// spellings that have one reading are limited, those an application could
// read differently from rampart (dot segments, encoded slashes) are
// refused with 400. None reaches the application.
func TestRule_PathNormalisationEvasion(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"/api/x", 429},
		{"//api/x", 429},
		{"/api//x", 429},
		{"/api", 429},
		{"/API/x", 429},
		{"/Api/X", 429},
		{"/%61pi/x", 429},
		{"/api/../api/x", 400},
		{"/static/../api/x", 400},
		{"/%2e%2e/api/x", 400},
		{"/static/%2e%2e/api/x", 400},
		{"/./api/x", 400},
		{"/api/x/.", 400},
		{"/static%2f..%2fapi/x", 400},
		{"/static/..%2fapi/x", 400},
		{"/static/..;/api/x", 400},
		{"/static\\..\\api/x", 400},
		{"/api;x/y", 400},
		{"/static/%252e%252e/api/x", 400},
		{"/static/%c0%ae%c0%ae/api/x", 400},
	} {
		t.Run(tc.target, func(t *testing.T) {
			o := seedOpts()
			o.Rules[0].Limits[0].Burst = 0
			f := newFixture(t, o)
			f.do("GET", "/api/x", "192.0.2.1")
			if w := f.do("GET", tc.target, "192.0.2.1"); w.Code != tc.want {
				t.Errorf("%s: %d, want %d (rule dodged)", tc.target, w.Code, tc.want)
			}
		})
	}
}

// A prefix is matched segment by segment: /api does not cover /apiary.
func TestRule_PrefixIsSegmentWise(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Prefix = "/api"
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	f.do("GET", "/api/x", "192.0.2.1")
	if w := f.do("GET", "/apiary", "192.0.2.1"); w.Code != 200 {
		t.Errorf("/apiary: %d, want 200 (not under /api)", w.Code)
	}
	if w := f.do("GET", "/api", "192.0.2.1"); w.Code != 429 {
		t.Errorf("/api: %d, want 429", w.Code)
	}
}

func TestRule_MethodsAndLongestPrefix(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"login": {Rate: ratelimit.PerMinute(1)}, "api": {Rate: ratelimit.PerSecond(10)}},
		Rules: []ratelimit.Rule{
			{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 20, NoDelay: true}}},
			{Prefix: "/api/login", Methods: []string{"POST"}, Limits: []ratelimit.Limit{{Zone: "login", NoDelay: true}}},
		},
	})
	if f.do("POST", "/api/login", "192.0.2.1").Code != 200 || f.do("POST", "/api/login", "192.0.2.1").Code != 429 {
		t.Fatal("login rule not applied to POST")
	}
	if w := f.do("GET", "/api/login", "192.0.2.1"); w.Code != 200 {
		t.Errorf("GET /api/login falls to /api/ rule: %d", w.Code)
	}
}

// Spoofing X-Forwarded-For must not give a client a fresh key: the key is
// the resolved client address, never a header.
func TestKey_ForwardedHeaderSpoofing(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	f.do("GET", "/api/x", "192.0.2.1")
	for _, h := range []string{"X-Forwarded-For", "X-Real-IP", "Forwarded"} {
		if w := f.do("GET", "/api/x", "192.0.2.1", h, "203.0.113.9"); w.Code != 429 {
			t.Errorf("%s spoof: %d", h, w.Code)
		}
	}
}

// A client owning an IPv6 /64 must not get a fresh bucket per address.
func TestKey_IPv6AddressRotation(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	f.do("GET", "/api/x", "2001:db8:1:2::1")
	if w := f.do("GET", "/api/x", "2001:db8:1:2:ffff:1234:5678:9"); w.Code != 429 {
		t.Errorf("other address in the same /64: %d", w.Code)
	}
	if w := f.do("GET", "/api/x", "2001:db8:1:3::1"); w.Code != 200 {
		t.Errorf("other /64: %d", w.Code)
	}
	// IPv4-mapped IPv6 is the same client as IPv4.
	f.do("GET", "/api/x", "198.51.100.7")
	if w := f.do("GET", "/api/x", "::ffff:198.51.100.7"); w.Code != 429 {
		t.Errorf("mapped address: %d", w.Code)
	}
}

func TestKey_ResolvedClientAddress(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	send := func(client string) int {
		r := httptest.NewRequest("GET", "/api/x", nil)
		r.RemoteAddr = "10.0.0.1:1234" // the trusted proxy
		r = r.WithContext(clientip.NewContext(r.Context(), netip.MustParseAddr(client)))
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		return w.Code
	}
	if send("192.0.2.1") != 200 || send("192.0.2.2") != 200 || send("192.0.2.1") != 429 {
		t.Error("clients behind one proxy not told apart")
	}
}

func TestZone_Allowlist(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	z := o.Zones["api"]
	z.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	o.Zones["api"] = z
	f := newFixture(t, o)
	for i := 0; i < 10; i++ {
		if w := f.do("GET", "/api/x", "10.1.2.3"); w.Code != 200 {
			t.Fatalf("allowlisted client limited: %d", w.Code)
		}
	}
	f.do("GET", "/api/x", "11.1.2.3")
	if w := f.do("GET", "/api/x", "11.1.2.3"); w.Code != 429 {
		t.Errorf("client outside allowlist: %d", w.Code)
	}
}

func TestRule_DryRunNeverActs(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	o.Rules[0].DryRun = true
	f := newFixture(t, o)
	for i := 0; i < 5; i++ {
		if w := f.do("GET", "/api/x", "192.0.2.1"); w.Code != 200 {
			t.Fatalf("dry run rejected: %d", w.Code)
		}
	}
	c, _ := f.l.Stats("api")
	if c.DryRunRejected != 4 || c.Rejected != 0 || c.DryRunPassed != 1 {
		t.Errorf("counts %+v", c)
	}
	if !strings.Contains(f.log.String(), `"dry_run":true`) {
		t.Errorf("dry-run rejection not logged: %s", f.log.String())
	}
}

func TestRule_ShadowBesideEnforced(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10)}, "strict": {Rate: ratelimit.PerSecond(1)}},
		Rules: []ratelimit.Rule{
			{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 2, NoDelay: true}}},
			{Prefix: "/", Shadow: true, Limits: []ratelimit.Limit{{Zone: "strict", NoDelay: true}}},
		},
	})
	var codes []int
	for i := 0; i < 4; i++ {
		codes = append(codes, f.do("GET", "/api/x", "192.0.2.1").Code)
	}
	if codes[0] != 200 || codes[2] != 200 || codes[3] != 429 {
		t.Errorf("enforced rule: %v", codes)
	}
	s, _ := f.l.Stats("strict")
	if s.DryRunRejected != 3 || s.Rejected != 0 {
		t.Errorf("shadow counts %+v", s)
	}
	// Outside /api/ only the shadow rule matches: never acts.
	for i := 0; i < 3; i++ {
		if w := f.do("GET", "/", "192.0.2.9"); w.Code != 200 {
			t.Errorf("shadow rule acted: %d", w.Code)
		}
	}
}

func TestDelay_WaitsThenForwards(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"z": {Rate: ratelimit.PerSecond(1000)}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "z", Burst: 5}}}},
	})
	f.do("GET", "/", "192.0.2.1")
	if w := f.do("GET", "/", "192.0.2.1"); w.Code != 200 || f.reached.Load() != 2 {
		t.Fatalf("delayed request: %d, reached %d", w.Code, f.reached.Load())
	}
	c, _ := f.l.Stats("z")
	if c.Delayed != 1 || c.Passed != 1 {
		t.Errorf("counts %+v", c)
	}
}

// A client that disconnects while its request waits must not reach the
// upstream later: otherwise queued requests of gone clients are replayed.
func TestDelay_ClientDisconnectDropsRequest(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"z": {Rate: ratelimit.PerMinute(1)}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "z", Burst: 5}}}},
	})
	f.do("GET", "/", "192.0.2.1")
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	r.RemoteAddr = "192.0.2.1:1"
	done := make(chan struct{})
	go func() {
		f.h.ServeHTTP(httptest.NewRecorder(), r) // would wait 62.5 s
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // guard only: the delay is 62.5 s
		t.Fatal("abandoned request still waiting")
	}
	if f.reached.Load() != 1 {
		t.Errorf("abandoned request reached upstream")
	}
	if c, _ := f.l.Stats("z"); c.Abandoned != 1 {
		t.Errorf("counts %+v", c)
	}
}

// A flood of rejections yields a bounded number of log records.
func TestLog_RejectionFloodIsSampled(t *testing.T) {
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	for i := 0; i < 10000; i++ {
		f.do("GET", "/api/x", "192.0.2.1")
	}
	if n := strings.Count(f.log.String(), "excess_rate_limit_exceeded"); n < 1 || n > 2 {
		t.Errorf("%d records for one flooding key", n)
	}
	if c, _ := f.l.Stats("api"); c.Rejected != 9999 {
		t.Errorf("counts %+v", c)
	}
}

// A client-chosen header key is escaped in the log, truncated, and never
// echoed to the client.
func TestLog_HeaderKeyInjection(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"k": {Rate: ratelimit.PerSecond(1), Key: "header:X-Api-Key"}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "k", NoDelay: true}}}},
	})
	evil := "a\n{\"event\":\"forged\"}" + strings.Repeat("x", 500)
	f.do("GET", "/", "192.0.2.1", "X-Api-Key", evil)
	w := f.do("GET", "/", "192.0.2.1", "X-Api-Key", evil)
	if w.Code != 429 || strings.Contains(w.Body.String(), "forged") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	lines := strings.Split(strings.TrimSpace(f.log.String()), "\n")
	if len(lines) != 1 || len(lines[0]) > 1000 {
		t.Errorf("log record forged or unbounded: %q", f.log.String())
	}
}

func TestMultiZone_AnyRejectsNoneCharged(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"ip": {Rate: ratelimit.PerSecond(1)}, "all": {Rate: ratelimit.PerSecond(1), Key: "constant"}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "ip", NoDelay: true, Burst: 1}, {Zone: "all", Burst: 2, NoDelay: true}}}},
	})
	got := []int{f.do("GET", "/", "192.0.2.1").Code, f.do("GET", "/", "192.0.2.2").Code, f.do("GET", "/", "192.0.2.3").Code, f.do("GET", "/", "192.0.2.4").Code}
	if got[0] != 200 || got[1] != 200 || got[2] != 200 || got[3] != 429 {
		t.Errorf("global zone: %v", got)
	}
	w := f.do("GET", "/", "192.0.2.4")
	if rl := w.Header().Get("RateLimit-Policy"); rl != `"ip";q=2;w=1, "all";q=3;w=2` {
		t.Errorf("RateLimit-Policy %q", rl)
	}
}

// A million distinct clients (a botnet, or one IPv6 client rotating /64s)
// cannot grow a zone past its size.
func TestZone_MillionDistinctClientsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a million requests")
	}
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10), Size: 512 << 10}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 20, NoDelay: true}}}},
	})
	r := httptest.NewRequest("GET", "/", nil)
	for i := 0; i < 1_000_000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.RemoteAddr = netip.AddrPortFrom(a, 1).String()
		if d, _ := f.l.Check(r); d.Action != ratelimit.Pass {
			t.Fatalf("client %d: %v", i, d.Action)
		}
		if i%250_000 == 0 {
			f.now++
		}
	}
	c, _ := f.l.Stats("api")
	if c.Capacity != 4096 || c.States > c.Capacity || c.States < c.Capacity-64 || c.Passed != 1_000_000 {
		t.Fatalf("%+v", c)
	}
}

// A zone keyed by a header is usually keyed by a credential (an API key):
// the security log identifies the key by a fingerprint, never by value.
func TestLog_HeaderKeyCredentialNotLogged(t *testing.T) {
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"k": {Rate: ratelimit.PerSecond(1), Key: "header:X-Api-Key"}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "k", NoDelay: true}}}},
	})
	const secret = "sk_live_51HcQ9vTq2xY"
	f.do("GET", "/", "192.0.2.1", "X-Api-Key", secret)
	if w := f.do("GET", "/", "192.0.2.1", "X-Api-Key", secret); w.Code != 429 {
		t.Fatalf("status %d, want 429", w.Code)
	}
	log := f.log.String()
	if strings.Contains(log, secret) || strings.Contains(log, secret[:12]) {
		t.Fatalf("API key written to the security log: %s", log)
	}
	var rec struct{ Key string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(log)), &rec); err != nil || !strings.HasPrefix(rec.Key, "sha256:") {
		t.Errorf("key = %q (%v), want a sha256: fingerprint", rec.Key, err)
	}
}

// A KeyFunc key may be client-chosen text (a user name picked at sign-up):
// bidi overrides and controls in it must not reach the security log, where
// they would make the record display in another order, and it stays
// bounded and valid UTF-8 however it is cut.
func TestLog_KeyFuncBidiOverrideNeutralised(t *testing.T) {
	user := "bob\u202egnp.exe\u0085" + strings.Repeat("é", 200)
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"u": {Rate: ratelimit.PerSecond(1), KeyFunc: func(*http.Request) string { return user }}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "u", NoDelay: true}}}},
	})
	f.do("GET", "/", "192.0.2.1")
	if w := f.do("GET", "/", "192.0.2.1"); w.Code != 429 {
		t.Fatalf("status %d, want 429", w.Code)
	}
	var rec struct{ Key string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(f.log.String())), &rec); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(rec.Key, "\u202e\u0085") || !utf8.ValidString(rec.Key) || len(rec.Key) > 128 || !strings.HasPrefix(rec.Key, "bob") {
		t.Errorf("logged key %q (%d bytes)", rec.Key, len(rec.Key))
	}
}
