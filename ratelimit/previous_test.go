package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/rampart-dev/rampart/ratelimit"
)

// reloadOptions is one zone of 1r/s on /api/, burst 2, nodelay: three
// requests pass, the fourth is rejected.
func reloadOptions(rate ratelimit.Rate) ratelimit.Options {
	return ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Rate: rate}},
		Rules: []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 2, NoDelay: true}}}},
	}
}

func hit(t *testing.T, l *ratelimit.Limiter, ip string) int {
	t.Helper()
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(ip), 40000).String()
	w := httptest.NewRecorder()
	l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	return w.Code
}

// TestPrevious_ReloadKeepsCounts: a configuration reload builds a new
// Limiter; a client that used up its burst before the reload is still
// limited after it, and the zone's counters go on.
func TestPrevious_ReloadKeepsCounts(t *testing.T) {
	old, err := ratelimit.New(reloadOptions(ratelimit.PerSecond(1)))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if c := hit(t, old, "192.0.2.1"); c != 200 {
			t.Fatalf("before reload: %d", c)
		}
	}
	o := reloadOptions(ratelimit.PerSecond(1))
	o.Previous = old
	next, err := ratelimit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if c := hit(t, next, "192.0.2.1"); c != http.StatusTooManyRequests {
		t.Fatalf("after reload: %d, want 429 (the burst used before the reload is forgotten)", c)
	}
	if c := hit(t, next, "192.0.2.2"); c != 200 {
		t.Fatalf("another client after reload: %d", c)
	}
	if s, _ := next.Stats("api"); s.Passed != 4 || s.Rejected != 1 {
		t.Fatalf("counters after reload: %+v, want 4 passed and 1 rejected", s)
	}
}

// TestPrevious_ChangedZoneStartsOver: a zone whose rate changed keeps
// nothing (its states would mean something else).
func TestPrevious_ChangedZoneStartsOver(t *testing.T) {
	old, err := ratelimit.New(reloadOptions(ratelimit.PerSecond(1)))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		hit(t, old, "192.0.2.1")
	}
	o := reloadOptions(ratelimit.PerSecond(2))
	o.Previous = old
	next, err := ratelimit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if c := hit(t, next, "192.0.2.1"); c != 200 {
		t.Fatalf("changed zone after reload: %d, want 200", c)
	}
	if s, _ := next.Stats("api"); s.Passed != 1 || s.Rejected != 0 {
		t.Fatalf("counters of a changed zone: %+v", s)
	}
}
