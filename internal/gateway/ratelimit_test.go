package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/seclog"
)

// limitedLog is the access log in front of a limiter built from o with
// the gateway's OnDecision, on a clock that stands still; reached counts
// the requests that got past the limiter.
func limitedLog(t *testing.T, o ratelimit.Options) (h http.Handler, log *bytes.Buffer, reached *atomic.Int64) {
	t.Helper()
	log, reached = &bytes.Buffer{}, &atomic.Int64{}
	o.Now = func() int64 { return 1 }
	o.Log = seclog.New(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	o.OnDecision = annotateRateLimit
	l, err := ratelimit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	al, err := accesslog.New(accesslog.Options{Writer: log})
	if err != nil {
		t.Fatal(err)
	}
	return al.Handler(l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))), log, reached
}

func clientRequest(ctx context.Context, path string) *http.Request {
	r := httptest.NewRequest("GET", path, nil).WithContext(ctx)
	r.RemoteAddr = "192.0.2.1:1"
	return r
}

// The decision reaches the access-log record, after the fields the access
// log always writes, in the same form as when ratelimit wrote it itself;
// the key does not (a header key is usually a credential).
func TestRateLimit_DecisionAnnotatesAccessLog(t *testing.T) {
	h, log, _ := limitedLog(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10), Key: "header:X-Api-Key"}},
		Rules: []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", NoDelay: true}}}},
	})
	for range 2 {
		r := clientRequest(context.Background(), "/api/x")
		r.Header.Set("X-Api-Key", "s3cr3t-api-key")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	h.ServeHTTP(httptest.NewRecorder(), clientRequest(context.Background(), "/elsewhere"))
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 ||
		!strings.HasSuffix(lines[0], `"tls_version":"","ratelimit":"pass","ratelimit_zone":"","ratelimit_delay_ms":0}`) ||
		!strings.HasSuffix(lines[1], `"tls_version":"","ratelimit":"reject","ratelimit_zone":"api","ratelimit_delay_ms":0}`) ||
		strings.Contains(lines[2], `"ratelimit"`) {
		t.Errorf("access log:\n%s", log.String())
	}
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("the key reached the access log:\n%s", log.String())
	}
}

// A dry-run rule's decision is logged as what it would have done.
func TestRateLimit_DryRunLoggedAsWouldReject(t *testing.T) {
	h, log, reached := limitedLog(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"z": {Rate: ratelimit.PerMinute(1)}},
		Rules: []ratelimit.Rule{{Prefix: "/", DryRun: true, Limits: []ratelimit.Limit{{Zone: "z", Burst: 1}}}},
	})
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), clientRequest(context.Background(), "/"))
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], `"ratelimit":"would_delay","ratelimit_zone":"z","ratelimit_delay_ms":62500`) ||
		!strings.Contains(lines[2], `"ratelimit":"would_reject","ratelimit_zone":"z"`) {
		t.Errorf("access log:\n%s", log.String())
	}
	if reached.Load() != 3 {
		t.Errorf("a dry run stopped %d requests", 3-reached.Load())
	}
}

// A delayed request whose client leaves is dropped; the access log must
// say so (499, as nginx and the reverse proxy record it), not show a 200
// that never happened.
func TestRateLimit_AbandonedDelayLoggedAs499(t *testing.T) {
	h, log, reached := limitedLog(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"z": {Rate: ratelimit.PerMinute(1)}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "z", Burst: 5}}}},
	})
	h.ServeHTTP(httptest.NewRecorder(), clientRequest(context.Background(), "/"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone before its delay ends
	h.ServeHTTP(httptest.NewRecorder(), clientRequest(ctx, "/"))
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"status":499`) || !strings.Contains(lines[1], `"ratelimit":"delay","ratelimit_zone":"z","ratelimit_delay_ms":62500`) {
		t.Errorf("access log:\n%s", log.String())
	}
	if reached.Load() != 1 {
		t.Errorf("abandoned request reached the upstream")
	}
}

type failingStore struct{ err error }

func (f failingStore) Take(context.Context, []ratelimit.SharedLimit, []int64) (int, error) {
	return -1, f.err
}

// The same when the client leaves while a shared store decides.
func TestRateLimit_ClientGoneDuringSharedDecisionLoggedAs499(t *testing.T) {
	h, log, reached := limitedLog(t, ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"s": {Rate: ratelimit.PerSecond(1), Shared: failingStore{context.Canceled}, OnBackendError: ratelimit.FailOpen}},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "s", Burst: 3, NoDelay: true}}}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), clientRequest(ctx, "/"))
	if !strings.Contains(log.String(), `"status":499`) || reached.Load() != 0 {
		t.Errorf("reached %d; access log:\n%s", reached.Load(), log.String())
	}
}

// The pipeline the gateway builds wires the annotation: a 429 of the
// configured limit says so, with its zone, in the access log.
func TestGateway_AccessLogNamesTheRateLimitDecision(t *testing.T) {
	h := start(t, upstream(t).URL, "ratelimit:\n  zones: {z: {rate: 1r/m}}\n  rules: [{prefix: /, limits: [{zone: z, burst: 0, nodelay: true}]}]\n")
	h.get("/", nil)
	h.get("/", nil)
	lines := h.waitLines(2)
	if lines[0]["ratelimit"] != "pass" || lines[1]["ratelimit"] != "reject" || lines[1]["ratelimit_zone"] != "z" || lines[1]["status"] != float64(429) {
		t.Errorf("access log:\n%s", h.access.String())
	}
}
