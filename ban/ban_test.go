package ban

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/seclog"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newBanner(t *testing.T, o Options) (*Banner, *logBuf) {
	t.Helper()
	buf := &logBuf{}
	if o.Log == nil {
		o.Log = seclog.New(slog.New(slog.NewJSONHandler(buf, nil)))
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, buf
}

func rec(action, addr string) seclog.Record {
	return seclog.Record{Action: action, Client: netip.MustParseAddr(addr), Count: 1}
}

// eventually polls cond until it holds (the counting goroutine is
// asynchronous); the bound is generous and only stops a broken test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: never happened", what)
}

// settle waits until the counting goroutine has taken every queued event
// and counted it (a ban, or a sentinel that must not ban, tells).
func settle(t *testing.T, b *Banner) {
	t.Helper()
	eventually(t, "queue drained", func() bool { return len(b.events) == 0 })
	// One more event from a client of its own, counted after the
	// others: once it is counted, they were.
	sentinel := netip.MustParseAddr("192.0.2.250")
	b.Observe(seclog.Record{Action: seclog.AuthnLoginFail, Client: sentinel, Count: b.jail.Load().o.MaxRetry})
	eventually(t, "sentinel banned", func() bool { _, ok := b.Banned(sentinel); return ok })
}

func TestMaxRetryBans(t *testing.T) {
	b, buf := newBanner(t, Options{MaxRetry: 3})
	c := netip.MustParseAddr("203.0.113.9")
	b.Observe(rec(seclog.AuthnLoginFail, "203.0.113.9"))
	b.Observe(rec(seclog.MaliciousCSRF, "203.0.113.9"))
	time.Sleep(10 * time.Millisecond)
	if _, ok := b.Banned(c); ok {
		t.Fatal("banned before MaxRetry")
	}
	b.Observe(rec(ActionProbe, "203.0.113.9"))
	eventually(t, "ban", func() bool { _, ok := b.Banned(c); return ok })
	until, _ := b.Banned(c)
	if d := time.Until(until); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("first ban lasts %v, want the default hour", d)
	}
	if _, ok := b.Banned(netip.MustParseAddr("203.0.113.10")); ok {
		t.Fatal("the neighbour is banned")
	}
	// The ban is in force before its event is written (enforcement
	// first), so the event is waited for.
	eventually(t, "ban event", func() bool {
		return strings.Contains(buf.String(), `"event.action":"ban_added"`) && strings.Contains(buf.String(), `"prefix":"203.0.113.9/32"`)
	})
	if l := b.List(); len(l) != 1 || l[0].Offence != 1 || l[0].Manual {
		t.Fatalf("List = %+v", l)
	}
}

// Events that are not failures never ban: a 401 to a request without
// credentials logs nothing, a successful login or an authorisation
// refusal is not counted by default, and events without a client
// (start-up, an upstream outage) have no one to ban.
func TestOnlyListedFailuresCount(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 2})
	for range 50 {
		b.Observe(rec(seclog.AuthnLoginSuccess, "203.0.113.9"))
		b.Observe(rec(seclog.AuthzFail, "203.0.113.9"))
		b.Observe(rec(seclog.InputValidationFail, "203.0.113.9"))
		b.Observe(rec(ActionRefused, "203.0.113.9"))
		b.Observe(seclog.Record{Action: seclog.AuthnLoginFail, Count: 1})
	}
	// A real stack: a 401 from an auth stage does not reach the log.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	for range 50 {
		r := httptest.NewRequest("GET", "/private", nil)
		r.RemoteAddr = "203.0.113.9:1"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	settle(t, b)
	if _, ok := b.Banned(netip.MustParseAddr("203.0.113.9")); ok {
		t.Fatal("banned for events that are not failures")
	}
}

func TestIgnoredNeverAutoBanned(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 1, Ignore: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}})
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "192.0.2.10", "::ffff:192.0.2.10"} {
		for range 5 {
			b.Observe(rec(seclog.AuthnLoginFail, a))
		}
	}
	settle(t, b)
	for _, a := range []string{"127.0.0.1", "::1", "192.0.2.10"} {
		if _, ok := b.Banned(netip.MustParseAddr(a)); ok {
			t.Errorf("%s was banned", a)
		}
	}
	// An operator can still ban an ignored address.
	if _, err := b.Ban(context.Background(), KeyPrefix(netip.MustParseAddr("192.0.2.10")), time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Banned(netip.MustParseAddr("192.0.2.10")); !ok {
		t.Fatal("operator's ban not in force")
	}
}

// Changing the host half of an IPv6 address, or writing an IPv4 address
// as IPv4-mapped IPv6, does not make a new client.
func TestClientKeyIPv6AndMapped(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 4})
	b.Observe(rec(seclog.AuthnLoginFail, "2001:db8:1:2::1"))
	b.Observe(rec(seclog.AuthnLoginFail, "2001:db8:1:2::2"))
	b.Observe(rec(seclog.AuthnLoginFail, "2001:db8:1:2:ffff::3"))
	b.Observe(rec(seclog.AuthnLoginFail, "2001:db8:1:2:abcd::4"))
	eventually(t, "ban of the /64", func() bool { _, ok := b.Banned(netip.MustParseAddr("2001:db8:1:2::99")); return ok })
	if _, ok := b.Banned(netip.MustParseAddr("2001:db8:1:3::1")); ok {
		t.Fatal("the next /64 is banned")
	}
	b.Observe(rec(seclog.AuthnLoginFail, "::ffff:198.51.100.7"))
	b.Observe(rec(seclog.AuthnLoginFail, "198.51.100.7"))
	b.Observe(seclog.Record{Action: seclog.AuthnLoginFail, Client: netip.MustParseAddr("198.51.100.7"), Count: 2})
	eventually(t, "ban of the mapped client", func() bool { _, ok := b.Banned(netip.MustParseAddr("::ffff:198.51.100.7")); return ok })
	if _, ok := b.Banned(netip.MustParseAddr("198.51.100.7")); !ok {
		t.Fatal("the IPv4 form is not banned")
	}
}

// A connection refused by the per-client cap is an event without a
// request: its client is its client_ip attribute.
func TestEventWithoutRequest(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 2})
	for range 2 {
		b.Observe(seclog.Record{Action: seclog.ExcessRateLimitExceeded, Count: 1,
			Attrs: []slog.Attr{slog.String("client_ip", "::ffff:203.0.113.77")}})
	}
	eventually(t, "ban", func() bool { _, ok := b.Banned(netip.MustParseAddr("203.0.113.77")); return ok })
}

// A reload changes the jail and keeps the bans and the counts.
func TestReconfigure(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 10})
	b.Ban(context.Background(), netip.MustParsePrefix("198.51.100.0/24"), time.Hour, "x")
	for range 3 {
		b.Observe(rec(seclog.AuthnLoginFail, "203.0.113.1"))
	}
	if err := b.Reconfigure(Options{MaxRetry: -1}); err == nil {
		t.Fatal("invalid options accepted")
	}
	if err := b.Reconfigure(Options{MaxRetry: 4, Actions: []string{seclog.AuthnLoginFail, seclog.AuthzFail}}); err != nil {
		t.Fatal(err)
	}
	b.Observe(rec(seclog.AuthzFail, "203.0.113.1"))
	eventually(t, "ban under the new jail, counting the events before the reload", func() bool {
		_, ok := b.Banned(netip.MustParseAddr("203.0.113.1"))
		return ok
	})
	if _, ok := b.Banned(netip.MustParseAddr("198.51.100.1")); !ok {
		t.Fatal("a ban was lost in the reload")
	}
}

// A sampled event stands for the events it suppressed.
func TestSampledCountsAll(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 10})
	b.Observe(seclog.Record{Action: seclog.ExcessRateLimitExceeded, Client: netip.MustParseAddr("203.0.113.5"), Count: 37})
	eventually(t, "ban", func() bool { _, ok := b.Banned(netip.MustParseAddr("203.0.113.5")); return ok })
}

func TestBanTimeGrowsOnRepeatOffence(t *testing.T) {
	b, _ := newBanner(t, Options{MaxRetry: 1, BanTime: time.Hour, BanTimeIncrement: 3, MaxBanTime: 5 * time.Hour})
	for n, want := range map[int]time.Duration{1: time.Hour, 2: 3 * time.Hour, 3: 5 * time.Hour, 80: 5 * time.Hour} {
		if got := b.duration(n); got != want {
			t.Errorf("offence %d: %v, want %v", n, got, want)
		}
	}
	c := netip.MustParseAddr("203.0.113.7")
	b.Observe(rec(seclog.AuthnLoginFail, c.String()))
	eventually(t, "first ban", func() bool { _, ok := b.Banned(c); return ok })
	// The first ban ends (remembered until its Forget time).
	e := b.List()[0]
	e.Until = time.Now().Add(-time.Second)
	b.apply(Change{Entry: e})
	if _, ok := b.Banned(c); ok {
		t.Fatal("ended ban still in force")
	}
	b.Observe(rec(seclog.AuthnLoginFail, c.String()))
	eventually(t, "second ban", func() bool { _, ok := b.Banned(c); return ok })
	e = b.List()[0]
	if e.Offence != 2 || e.Until.Sub(e.Created) != 3*time.Hour {
		t.Fatalf("second ban: offence %d for %v", e.Offence, e.Until.Sub(e.Created))
	}
	// Lifting it forgets the history.
	if removed, err := b.Unban(context.Background(), e.Prefix); err != nil || !removed {
		t.Fatal(removed, err)
	}
	b.Observe(rec(seclog.AuthnLoginFail, c.String()))
	eventually(t, "third ban", func() bool { _, ok := b.Banned(c); return ok })
	if e = b.List()[0]; e.Offence != 1 {
		t.Fatalf("after an unban, offence %d", e.Offence)
	}
}

// Handler refuses a banned client behind a trusted proxy, and a banned
// peer cannot get through by claiming another address in X-Forwarded-For.
func TestHandler(t *testing.T) {
	b, buf := newBanner(t, Options{})
	ctx := context.Background()
	b.Ban(ctx, netip.MustParsePrefix("203.0.113.9/32"), time.Hour, "test")
	res, err := clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Handler(b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })))
	serve := func(peer, xff string) int {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		peer, xff string
		want      int
	}{
		{"192.0.2.10:1", "203.0.113.9", 403},
		{"192.0.2.10:1", "198.51.100.1", 200},
		{"203.0.113.9:1", "198.51.100.1", 403},
		{"[::ffff:203.0.113.9]:1", "", 403},
		{"198.51.100.1:1", "", 200},
	} {
		if got := serve(c.peer, c.xff); got != c.want {
			t.Errorf("peer %s XFF %q: %d, want %d", c.peer, c.xff, got, c.want)
		}
	}
	if !strings.Contains(buf.String(), `"event.action":"ban_refused"`) {
		t.Errorf("no ban_refused event: %s", buf)
	}
	if s := b.Stats(); s.RefusedRequests != 3 || s.Active != 1 {
		t.Errorf("stats %+v", s)
	}
	if !b.RefuseConn(netip.MustParseAddr("203.0.113.9")) || b.RefuseConn(netip.MustParseAddr("203.0.113.8")) {
		t.Error("RefuseConn")
	}
}

func TestOperatorPrefixBan(t *testing.T) {
	b, _ := newBanner(t, Options{})
	ctx := context.Background()
	if _, err := b.Ban(ctx, netip.MustParsePrefix("10.0.0.0/8"), time.Hour, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ban(ctx, netip.MustParsePrefix("2001:db8::/32"), time.Hour, "x"); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"10.9.8.7": true, "::ffff:10.1.1.1": true, "11.0.0.1": false, "2001:db8:ffff::1": true, "2001:db9::1": false} {
		if _, ok := b.Banned(netip.MustParseAddr(a)); ok != want {
			t.Errorf("%s banned %v, want %v", a, ok, want)
		}
	}
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"), netip.MustParsePrefix("::ffff:0:0/90")} {
		if _, err := b.Ban(ctx, p, time.Hour, "x"); err == nil {
			t.Errorf("Ban(%v) accepted", p)
		}
	}
}

// A ban made in the store (by another instance) reaches the Banner.
func TestFollowsStore(t *testing.T) {
	s := NewMemoryStore()
	b, _ := newBanner(t, Options{Store: s})
	b2, _ := newBanner(t, Options{Store: s})
	b2.Ban(context.Background(), netip.MustParsePrefix("198.51.100.0/24"), time.Hour, "x")
	eventually(t, "announced ban", func() bool { _, ok := b.Banned(netip.MustParseAddr("198.51.100.3")); return ok })
	b2.Unban(context.Background(), netip.MustParsePrefix("198.51.100.0/24"))
	eventually(t, "announced unban", func() bool { _, ok := b.Banned(netip.MustParseAddr("198.51.100.3")); return !ok })
	// And a Banner made later starts with the store's bans.
	b2.Ban(context.Background(), netip.MustParsePrefix("198.51.100.9/32"), time.Hour, "x")
	b3, _ := newBanner(t, Options{Store: s})
	if _, ok := b3.Banned(netip.MustParseAddr("198.51.100.9")); !ok {
		t.Fatal("a new Banner does not start with the store's bans")
	}
}

func TestValidate(t *testing.T) {
	errs := Options{MaxRetry: -1, FindTime: -1, BanTimeIncrement: 0.5, BanTime: 2 * time.Hour, MaxBanTime: time.Hour,
		Actions: []string{"ban_added", "", "x", "x"}, Ignore: []netip.Prefix{{}}}.Validate()
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	want := "MaxRetry FindTime BanTimeIncrement MaxBanTime Actions[0] Actions[1] Actions[3] Ignore[0]"
	if strings.Join(paths, " ") != want {
		t.Fatalf("findings on %v, want %s (%v)", paths, want, errs)
	}
	if errs := (Options{}).Validate(); len(errs) != 0 {
		t.Fatalf("zero Options: %v", errs)
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":         "203.0.113.9/32",
		"::ffff:203.0.113.9":  "203.0.113.9/32",
		"2001:db8::1":         "2001:db8::/64",
		"2001:db8::1/48":      "2001:db8::/48",
		"10.1.2.3/8":          "10.0.0.0/8",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
	} {
		p, err := ParseTarget(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "0.0.0.0/0", "::/0", "fe80::1%eth0", "x", "::ffff:0:0/90"} {
		if _, err := ParseTarget(in); err == nil {
			t.Errorf("ParseTarget(%q) accepted", in)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "2001:db8::1", "10.0.0.0/8", "::ffff:1.2.3.4/128", "::/0", "fe80::%1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseTarget(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Bits() == 0 || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParseTarget(%q) = %v", s, p)
		}
	})
}

func TestProbe(t *testing.T) {
	buf := &logBuf{}
	log := seclog.New(slog.New(slog.NewJSONHandler(buf, nil)))
	p, err := NewProbe(ProbeOptions{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newBanner(t, Options{MaxRetry: 5, Log: log})
	log.Observe(b.Observe)
	h := p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	serve := func(peer, target string) int {
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr = peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for target, want := range map[string]int{
		"/.env": 404, "/.git/config": 404, "/.GIT/HEAD": 404, "/wp-login.php": 404, "/.aws/credentials": 404,
		"/.github/x": 200, "/.envrc": 200, "/app/.env": 200, "/": 200, "/login": 200,
	} {
		if got := serve("198.51.100.1:1", target); got != want {
			t.Errorf("%s: %d, want %d", target, got, want)
		}
	}
	if !strings.Contains(buf.String(), `"event.action":"malicious_probe"`) || !strings.Contains(buf.String(), `"probe":"/.git"`) {
		t.Fatalf("no probe event: %s", buf)
	}
	eventually(t, "scanner banned", func() bool { _, ok := b.Banned(netip.MustParseAddr("198.51.100.1")); return ok })

	pass, _ := NewProbe(ProbeOptions{PassThrough: true, Paths: []string{"/secret"}, Log: log})
	r := httptest.NewRequest("GET", "/secret/x", nil)
	w := httptest.NewRecorder()
	pass.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("PassThrough: %d", w.Code)
	}
	if _, err := NewProbe(ProbeOptions{Paths: []string{"/"}}); err == nil {
		t.Fatal("root accepted as a probe path")
	}
	if _, err := NewProbe(ProbeOptions{Paths: []string{"/a/../b"}}); err == nil {
		t.Fatal("ambiguous probe path accepted")
	}
}

func TestAdminHandler(t *testing.T) {
	b, _ := newBanner(t, Options{})
	h := AdminHandler(b)
	do := func(method, target, ctype, body string) (int, string) {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if c, body := do("GET", "/api/bans", "", ""); c != 200 || strings.TrimSpace(body) != `{"bans":[]}` {
		t.Fatalf("empty list: %d %s", c, body)
	}
	c, body := do("POST", "/api/bans", "application/json", `{"address":"2001:db8::7","for":"2h","reason":"abuse"}`)
	if c != 201 {
		t.Fatalf("add: %d %s", c, body)
	}
	var e Entry
	json.Unmarshal([]byte(body), &e)
	if e.Prefix.String() != "2001:db8::/64" || e.Reason != "abuse" || e.Until.Sub(e.Created) != 2*time.Hour || !e.Manual {
		t.Fatalf("entry %+v", e)
	}
	var list ListResponse
	_, body = do("GET", "/api/bans", "", "")
	if json.Unmarshal([]byte(body), &list); len(list.Bans) != 1 {
		t.Fatalf("list %s", body)
	}
	for _, bad := range []struct {
		method, target, ctype, body string
		want                        int
	}{
		{"POST", "/api/bans", "text/plain", `{"address":"1.2.3.4"}`, 415},
		{"POST", "/api/bans", "application/x-www-form-urlencoded", `address=1.2.3.4`, 415},
		{"POST", "/api/bans", "application/json", `{"address":"0.0.0.0/0"}`, 400},
		{"POST", "/api/bans", "application/json", `{"address":"1.2.3.4","for":"-1h"}`, 400},
		{"POST", "/api/bans", "application/json", `{"address":"1.2.3.4","extra":1}`, 400},
		{"POST", "/api/bans", "application/json", `{"address":"1.2.3.4"`, 400},
		{"DELETE", "/api/bans?address=nope", "", "", 400},
		{"PUT", "/api/bans", "", "", 405},
		{"GET", "/api/bans/x", "", "", 404},
	} {
		if c, body := do(bad.method, bad.target, bad.ctype, bad.body); c != bad.want {
			t.Errorf("%s %s %s: %d %s, want %d", bad.method, bad.target, bad.body, c, body, bad.want)
		}
	}
	c, body = do("DELETE", "/api/bans?address=2001:db8::1234", "", "")
	if c != 200 || !strings.Contains(body, `"removed":true`) {
		t.Fatalf("remove: %d %s", c, body)
	}
	if _, ok := b.Banned(netip.MustParseAddr("2001:db8::7")); ok {
		t.Fatal("still banned")
	}
}

// FuzzAdminAdd: whatever body an operator's client sends, the API answers
// one of its statuses, and a ban it makes is a valid prefix, never /0.
func FuzzAdminAdd(f *testing.F) {
	for _, s := range []string{`{"address":"1.2.3.4"}`, `{"address":"::/0"}`, `{"address":"10.0.0.0/8","for":"1h","reason":"x"}`,
		`{"address":"::ffff:0:0/95"}`, `{"for":"99999999h"}`, `[]`, `{"address":1}`, "\x00"} {
		f.Add(s)
	}
	b, err := New(Options{Log: seclog.New(slog.New(slog.DiscardHandler))})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	h := AdminHandler(b)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", AdminPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 201:
			var e Entry
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !e.Prefix.IsValid() || e.Prefix.Bits() == 0 || !e.Until.After(e.Created) {
				t.Fatalf("%q: made %+v (%v)", body, e, err)
			}
			b.Unban(context.Background(), e.Prefix)
		case 400:
		default:
			t.Fatalf("%q: status %d", body, w.Code)
		}
	})
}
