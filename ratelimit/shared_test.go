package ratelimit_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/ratelimit"
)

type fakeStore struct {
	calls int
	err   error
	rej   int
}

func (f *fakeStore) Take(ctx context.Context, l []ratelimit.SharedLimit, ex []int64) (int, error) {
	f.calls++
	if f.err != nil {
		return -1, f.err
	}
	for i := range ex {
		ex[i] = l[i].Burst
	}
	return f.rej, nil
}

func sharedFixture(t *testing.T, st ratelimit.SharedStore, policy ratelimit.BackendErrorPolicy) *fixture {
	return newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"s": {Rate: ratelimit.PerSecond(1), Shared: st, OnBackendError: policy}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "s", Burst: 3, NoDelay: true}}}},
	})
}

func TestShared_StoreDecides(t *testing.T) {
	st := &fakeStore{rej: -1}
	f := sharedFixture(t, st, "")
	if w := f.do("GET", "/", "192.0.2.1"); w.Code != 200 {
		t.Fatalf("%d", w.Code)
	}
	st.rej = 0
	w := f.do("GET", "/", "192.0.2.1")
	if w.Code != 429 || w.Header().Get("RateLimit") == "" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	if st.calls != 2 {
		t.Errorf("%d store calls", st.calls)
	}
}

// A client that hangs up while the store is consulted must not be
// forwarded uncharged: its request is dropped.
func TestShared_ClientGoneIsNotForwarded(t *testing.T) {
	st := &fakeStore{err: context.Canceled}
	f := sharedFixture(t, st, ratelimit.FailOpen)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	f.h.ServeHTTP(httptest.NewRecorder(), r)
	if f.reached.Load() != 0 {
		t.Error("request of a gone client forwarded")
	}
	if c, _ := f.l.Stats("s"); c.BackendErrors != 0 {
		t.Errorf("client hang-up counted as a backend error: %+v", c)
	}
}

func TestShared_MixedBackendsRejected(t *testing.T) {
	_, err := ratelimit.New(ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"s": {Rate: ratelimit.PerSecond(1), Shared: &fakeStore{}}, "m": {Rate: ratelimit.PerSecond(1)}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "s"}, {Zone: "m"}}}},
	})
	if err == nil || !strings.Contains(err.Error(), "Rules[0].Limits: zones of one rule must all be in memory or all on the same shared store") {
		t.Fatalf("rule mixing memory and shared zones: err = %v", err)
	}
}

// A store outage under fail_closed rejects: the rejection is counted like
// any other, so an operator watching Stats sees the requests turned away.
func TestShared_FailClosedRejectionCounted(t *testing.T) {
	st := &fakeStore{err: errors.New("connection refused")}
	f := sharedFixture(t, st, ratelimit.FailClosed)
	w := f.do("GET", "/", "192.0.2.1")
	if w.Code != 429 || f.reached.Load() != 0 {
		t.Fatalf("status %d, reached %d; want 429, 0", w.Code, f.reached.Load())
	}
	if w.Header().Get("Retry-After") != "1" || w.Header().Get("RateLimit") != `"s";r=0;t=1` {
		t.Errorf("headers %v", w.Header())
	}
	if c, _ := f.l.Stats("s"); c.Rejected != 1 || c.BackendErrors != 1 {
		t.Errorf("counts %+v, want 1 rejected, 1 backend error", c)
	}
}
