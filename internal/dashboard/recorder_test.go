package dashboard

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/seclog"
)

func last(s [buckets]uint64) uint64 { return s[buckets-1] }

// The ring keeps one bucket per minute: requests in the same minute add
// up, a new minute starts a new bucket, a minute leaves the window sixty
// minutes later, and a bucket last written an hour ago (same slot) is
// not read as the current minute.
func TestRing_MinuteRollover(t *testing.T) {
	c := newClock()
	c.t = c.t.Truncate(time.Minute).Add(10 * time.Second)
	r := NewRecorder(RecorderOptions{Now: c.Now})

	r.Request(200, "")
	c.Add(40 * time.Second) // same minute
	r.Request(200, "")
	s := r.Stats(10)
	if last(s.Requests) != 2 || s.TotalRequests != 2 {
		t.Fatalf("same minute: last bucket %d, total %d, want 2, 2", last(s.Requests), s.TotalRequests)
	}

	c.Add(20 * time.Second) // next minute
	r.Request(500, "")
	s = r.Stats(10)
	if last(s.Requests) != 1 || s.Requests[buckets-2] != 2 || s.TotalRequests != 3 {
		t.Fatalf("next minute: buckets ...%d %d, total %d, want 2 1, 3", s.Requests[buckets-2], last(s.Requests), s.TotalRequests)
	}
	if last(s.ServerErrors) != 1 {
		t.Errorf("5xx in the new minute: %d", last(s.ServerErrors))
	}

	c.Add(58 * time.Minute) // the first minute is now the oldest of the window
	s = r.Stats(10)
	if s.Requests[0] != 2 || s.TotalRequests != 3 {
		t.Fatalf("59 minutes on: oldest bucket %d, total %d, want 2, 3", s.Requests[0], s.TotalRequests)
	}
	c.Add(time.Minute) // and now out of it
	s = r.Stats(10)
	if s.TotalRequests != 1 {
		t.Fatalf("60 minutes on: total %d, want 1", s.TotalRequests)
	}
	// Same slot as the first minute, an hour later: the old count must
	// be reset, not added to.
	r.Request(200, "")
	s = r.Stats(10)
	if last(s.Requests) != 1 || s.TotalRequests != 2 {
		t.Fatalf("slot reused after an hour: last %d, total %d, want 1, 2", last(s.Requests), s.TotalRequests)
	}
	c.Add(3 * time.Hour)
	if s := r.Stats(10); s.TotalRequests != 0 {
		t.Fatalf("three hours idle: total %d, want 0", s.TotalRequests)
	}
}

func TestRecorder_StatusClassesAndStages(t *testing.T) {
	c := newClock()
	r := NewRecorder(RecorderOptions{Now: c.Now})
	for _, x := range []struct {
		status int
		by     string
	}{{200, ""}, {302, ""}, {404, ""}, {403, ""}, {429, "ratelimit"}, {429, "ratelimit"}, {403, "csrf"}, {502, ""}, {503, "upstream"}} {
		r.Request(x.status, x.by)
	}
	s := r.Stats(10)
	if s.TotalRequests != 9 || last(s.ClientErrors) != 5 || last(s.ServerErrors) != 2 || s.TotalRejected != 4 {
		t.Fatalf("requests %d, 4xx %d, 5xx %d, rejected %d; want 9, 5, 2, 4", s.TotalRequests, last(s.ClientErrors), last(s.ServerErrors), s.TotalRejected)
	}
	// An application's own 403 is not a rejection: only the stage says.
	want := []StageCount{{"ratelimit", 2}, {"csrf", 1}, {"upstream", 1}}
	if fmt.Sprint(s.Stages) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", s.Stages, want)
	}

	// Stage names are bounded: past the limit they count as "other".
	for i := range 100 {
		r.Request(403, fmt.Sprintf("stage-%d", i))
	}
	s = r.Stats(10)
	if len(s.Stages) > maxStages {
		t.Fatalf("%d stages tracked, want at most %d", len(s.Stages), maxStages)
	}
	var other uint64
	for _, st := range s.Stages {
		if st.Stage == "other" {
			other = st.Count
		}
	}
	if other == 0 || s.TotalRejected != 104 {
		t.Errorf("other %d, rejected %d", other, s.TotalRejected)
	}
}

func TestRecorder_Handler(t *testing.T) {
	c := newClock()
	r := NewRecorder(RecorderOptions{Now: c.Now})
	h := r.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/nothing":
		case "/write":
			w.Write([]byte("x"))
		case "/flush":
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through the recorder: %v", err)
			}
		case "/429":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/404":
			w.WriteHeader(http.StatusNotFound)
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	for _, p := range []string{"/nothing", "/write", "/flush", "/429", "/404", "/500"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	s := r.Stats(10)
	if s.TotalRequests != 6 || last(s.ClientErrors) != 2 || last(s.ServerErrors) != 1 || s.TotalRejected != 1 {
		t.Fatalf("requests %d, 4xx %d, 5xx %d, rejected %d; want 6, 2, 1, 1", s.TotalRequests, last(s.ClientErrors), last(s.ServerErrors), s.TotalRejected)
	}
	if len(s.Stages) != 1 || s.Stages[0].Stage != "429 Too Many Requests" {
		t.Errorf("stages %v, want the 429 alone", s.Stages)
	}
}

// wrapper is a stage's response writer wrapper, reachable through Unwrap.
type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// With the application marked, a rejection is an error status rampart
// answered: the application's own 403 is not one, rampart's 403 and 401
// are, whatever the stages between wrap the writer in (the mark is the
// request's, not a writer's), and with another recorder in the chain.
func TestRecorder_ApplicationMarked(t *testing.T) {
	r := NewRecorder(RecorderOptions{})
	other := NewRecorder(RecorderOptions{})
	app := r.Application(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/app-403", "/opaque":
			w.WriteHeader(http.StatusForbidden)
		case "/app-502":
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	stages := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			switch req.URL.Path {
			case "/csrf":
				w.WriteHeader(http.StatusForbidden)
				return
			case "/login":
				w.WriteHeader(http.StatusUnauthorized)
				return
			case "/opaque":
				// A wrapper without Unwrap does not hide the mark.
				next.ServeHTTP(struct{ http.ResponseWriter }{w}, req)
				return
			}
			next.ServeHTTP(wrapper{w}, req)
		})
	}
	// Another recorder in the chain changes nothing for r.
	h := r.Handler(other.Handler(stages(app)))
	for _, p := range []string{"/", "/app-403", "/app-502", "/csrf", "/login", "/opaque"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	s := r.Stats(10)
	want := []StageCount{{"401 Unauthorized", 1}, {"403 Forbidden", 1}}
	if s.TotalRequests != 6 || s.TotalRejected != 2 || fmt.Sprint(s.Stages) != fmt.Sprint(want) {
		t.Errorf("requests %d, rejected %d, stages %v; want 6, 2, %v", s.TotalRequests, s.TotalRejected, s.Stages, want)
	}
}

func TestRecorder_RequestDoesNotAllocate(t *testing.T) {
	r := NewRecorder(RecorderOptions{})
	r.Request(429, "ratelimit") // the stage's first rejection adds it
	if n := testing.AllocsPerRun(1000, func() {
		r.Request(200, "")
		r.Request(429, "ratelimit")
		r.Request(503, "")
	}); n != 0 {
		t.Errorf("Request allocates %.1f times per call", n)
	}
}

// Requests and snapshots from many goroutines (run with -race): every
// request is counted.
func TestRecorder_Concurrent(t *testing.T) {
	r := NewRecorder(RecorderOptions{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				r.Request(200+g, "")
				if i%100 == 0 {
					r.Stats(5)
					r.Observe(seclog.Record{Action: seclog.AuthzFail, Client: netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i / 100)})})
				}
			}
		})
	}
	wg.Wait()
	if s := r.Stats(5); s.TotalRequests != 16000 {
		t.Errorf("counted %d requests, want 16000", s.TotalRequests)
	}
}

func failure(c *clock, client string, n int) seclog.Record {
	return seclog.Record{Time: c.Now(), Action: seclog.AuthnLoginFail, Client: netip.MustParseAddr(client), Count: n}
}

// A flood of failures from 100 000 distinct addresses keeps at most
// MaxClients of them, and the client with the most failures survives
// every eviction.
func TestRecorder_BoundedClients(t *testing.T) {
	c := newClock()
	r := NewRecorder(RecorderOptions{Now: c.Now, MaxClients: 1000})
	r.Observe(failure(c, "198.51.100.1", 500))
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.Observe(seclog.Record{Time: c.Now(), Action: seclog.MaliciousCSRF, Client: a, Count: 1})
		if i%20_000 == 0 {
			r.Observe(failure(c, "198.51.100.1", 1))
		}
	}
	s := r.Stats(3)
	if s.TrackedClients > 1000 {
		t.Fatalf("%d clients tracked, want at most 1000", s.TrackedClients)
	}
	if len(s.Offenders) != 3 || s.Offenders[0].Client != "198.51.100.1" || s.Offenders[0].Failures != 505 {
		t.Fatalf("top offenders %+v, want 198.51.100.1 with 505 first", s.Offenders)
	}
	if len(s.Events) != DefaultMaxEvents {
		t.Errorf("%d events kept, want %d", len(s.Events), DefaultMaxEvents)
	}
}

// Failures count per client over the last hour only; successes do not
// count; events without a client count in the chart, not in the table.
func TestRecorder_OffenderWindow(t *testing.T) {
	c := newClock()
	r := NewRecorder(RecorderOptions{Now: c.Now})
	r.Observe(failure(c, "192.0.2.1", 4))
	r.Observe(seclog.Record{Time: c.Now(), Action: seclog.AuthnLoginSuccess, Client: netip.MustParseAddr("192.0.2.2")})
	r.Observe(seclog.Record{Time: c.Now(), Action: seclog.UpstreamUnavailable})
	s := r.Stats(10)
	if len(s.Offenders) != 1 || s.Offenders[0].Failures != 4 || s.TotalFailures != 5 {
		t.Fatalf("offenders %+v, failures %d; want 192.0.2.1 with 4, 5 failures", s.Offenders, s.TotalFailures)
	}
	c.Add(30 * time.Minute)
	r.Observe(failure(c, "192.0.2.1", 1))
	if s := r.Stats(10); s.Offenders[0].Failures != 5 {
		t.Fatalf("after 30m: %d failures, want 5", s.Offenders[0].Failures)
	}
	c.Add(35 * time.Minute)
	if s := r.Stats(10); len(s.Offenders) != 1 || s.Offenders[0].Failures != 1 {
		t.Fatalf("after 65m: %+v, want only the later failure", s.Offenders)
	}
	c.Add(time.Hour)
	if s := r.Stats(10); len(s.Offenders) != 0 || s.TotalFailures != 0 {
		t.Fatalf("after two hours: %+v, %d failures", s.Offenders, s.TotalFailures)
	}
}

func TestRecorder_Events(t *testing.T) {
	c := newClock()
	r := NewRecorder(RecorderOptions{Now: c.Now, MaxEvents: 5})
	for i := range 12 {
		r.Observe(seclog.Record{Time: c.Now(), Action: seclog.AuthzFail, Path: fmt.Sprintf("/%d", i)})
		c.Add(time.Second)
	}
	s := r.Stats(10)
	var got []string
	for _, e := range s.Events {
		got = append(got, e.Path)
	}
	if fmt.Sprint(got) != "[/11 /10 /9 /8 /7]" {
		t.Errorf("events %v, want the last five newest first", got)
	}
}

// Rate-limit rejections count per zone, weighted by the sampler's count,
// dry runs excepted, and the zones tracked are bounded.
func TestRecorder_Zones(t *testing.T) {
	c := newClock()
	r := NewRecorder(RecorderOptions{Now: c.Now})
	rl := func(zone string, n int, dry bool) {
		r.Observe(seclog.Record{Time: c.Now(), Action: seclog.ExcessRateLimitExceeded, Count: n,
			Attrs: []slog.Attr{slog.String("zone", zone), slog.Bool("dry_run", dry)}})
	}
	rl("api", 1, false)
	rl("api", 7, false)
	rl("api", 100, true)
	rl("login", 2, false)
	for i := range 1000 {
		rl(fmt.Sprint("z", i), 1, false)
	}
	s := r.Stats(10)
	if s.Zones["api"] != 8 || s.Zones["login"] != 2 {
		t.Errorf("zones %v", s.Zones)
	}
	if len(s.Zones) > maxZones {
		t.Errorf("%d zones tracked", len(s.Zones))
	}
}

func BenchmarkRecorder_Request(b *testing.B) {
	r := NewRecorder(RecorderOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if i%50 == 0 {
				r.Request(429, "ratelimit")
			} else {
				r.Request(200, "")
			}
		}
	})
}

func BenchmarkRecorder_Observe(b *testing.B) {
	r := NewRecorder(RecorderOptions{})
	rec := seclog.Record{Action: seclog.AuthnLoginFail, Method: "POST", Path: "/login", Count: 1,
		Attrs: []slog.Attr{slog.String("reason", "bad password")}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.Client = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		r.Observe(rec)
	}
}

func BenchmarkRecorder_Handler(b *testing.B) {
	r := NewRecorder(RecorderOptions{})
	h := r.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// readFromWriter is a ResponseWriter with its own ReadFrom, as net/http's
// is (sendfile for a file body).
type readFromWriter struct {
	*httptest.ResponseRecorder
	readFrom int
}

func (w *readFromWriter) ReadFrom(r io.Reader) (int64, error) {
	w.readFrom++
	return io.Copy(w.ResponseRecorder, r)
}

// TestHandler_KeepsReadFrom: a body copied with io.Copy reaches the
// ReadFrom of the writer underneath, so the counter costs no sendfile
// path and no copy buffer.
func TestHandler_KeepsReadFrom(t *testing.T) {
	rec := NewRecorder(RecorderOptions{})
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, struct{ io.Reader }{strings.NewReader("a large body")})
	}))
	w := &readFromWriter{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.readFrom != 1 || w.Body.String() != "a large body" {
		t.Errorf("ReadFrom called %d times, body %q", w.readFrom, w.Body.String())
	}
}
