package ratelimit_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/ratelimit"
)

// The decision reaches the access-log record, without the key.
func TestHandler_AnnotatesAccessLog(t *testing.T) {
	var buf bytes.Buffer
	al, err := accesslog.New(accesslog.Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	h := al.Handler(f.h)
	for i := 0; i < 2; i++ {
		r := httptest.NewRequest("GET", "/api/x", nil)
		r.RemoteAddr = "192.0.2.1:1"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"ratelimit":"pass"`) ||
		!strings.Contains(lines[1], `"ratelimit":"reject"`) || !strings.Contains(lines[1], `"ratelimit_zone":"api"`) {
		t.Errorf("access log:\n%s", buf.String())
	}
}

// A delayed request whose client leaves is dropped; the access log must
// say so (499, as nginx and the reverse proxy record it), not show a 200
// that never happened.
func TestHandler_AbandonedDelayLoggedAs499(t *testing.T) {
	var buf bytes.Buffer
	al, err := accesslog.New(accesslog.Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"z": {Rate: ratelimit.PerMinute(1)}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "z", Burst: 5}}}},
	})
	h := al.Handler(f.h)
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1"
	h.ServeHTTP(httptest.NewRecorder(), r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone before its delay ends
	h.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"status":499`) || !strings.Contains(lines[1], `"ratelimit":"delay"`) {
		t.Errorf("access log:\n%s", buf.String())
	}
	if f.reached.Load() != 1 {
		t.Errorf("abandoned request reached the upstream")
	}
}

// The same when the client leaves while a shared store decides.
func TestHandler_ClientGoneDuringSharedDecisionLoggedAs499(t *testing.T) {
	var buf bytes.Buffer
	al, err := accesslog.New(accesslog.Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	f := sharedFixture(t, &fakeStore{err: context.Canceled}, ratelimit.FailOpen)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	r.RemoteAddr = "192.0.2.1:1"
	al.Handler(f.h).ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(buf.String(), `"status":499`) {
		t.Errorf("access log:\n%s", buf.String())
	}
}
