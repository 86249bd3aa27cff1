package listen

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// http.Transport may close a request body from one goroutine while its
// write loop reads it on another (the reverse proxy forwards the body this
// way); the deadline wrapper must stand that. Run with -race.
func TestDeadlineBody_ConcurrentReadAndClose(t *testing.T) {
	var done atomic.Bool
	rc := http.NewResponseController(httptest.NewRecorder())
	b := &deadlineBody{ReadCloser: io.NopCloser(strings.NewReader("")), w: &progressWriter{rc: rc, done: &done}}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.Read(make([]byte, 1)) }()
	go func() { defer wg.Done(); b.Close() }()
	wg.Wait()
	if !b.lifted.Load() {
		t.Error("read deadline not lifted after EOF and Close")
	}
}

// deadlineRecorder records the deadlines http.ResponseController sets.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	mu          sync.Mutex
	write, read []time.Time
	setW, setR  chan struct{}
}

func newDeadlineRecorder() *deadlineRecorder {
	return &deadlineRecorder{ResponseRecorder: httptest.NewRecorder(), setW: make(chan struct{}, 10), setR: make(chan struct{}, 10)}
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error { return d.record(&d.write, d.setW, t) }
func (d *deadlineRecorder) SetReadDeadline(t time.Time) error  { return d.record(&d.read, d.setR, t) }

func (d *deadlineRecorder) record(list *[]time.Time, set chan struct{}, t time.Time) error {
	d.mu.Lock()
	*list = append(*list, t)
	d.mu.Unlock()
	set <- struct{}{}
	return nil
}

func (d *deadlineRecorder) calls() (write, read []time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.write), slices.Clone(d.read)
}

func h2Post(body string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
	return r
}

// An HTTP/2 answer written and finished within half the timeouts sends
// the connection no deadline at all, body or not; the same over HTTP/1
// sets both, as the connection needs.
func TestDeadlines_H2QuickAnswerSetsNone(t *testing.T) {
	h := withDeadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		r.Body.Close()
		io.WriteString(w, "ok")
	}), time.Minute, time.Minute)
	rec := newDeadlineRecorder()
	h.ServeHTTP(rec, h2Post("body"))
	if w, r := rec.calls(); len(w)+len(r) != 0 {
		t.Errorf("HTTP/2: deadlines set for a quick answer: write %v, read %v", w, r)
	}
	rec = newDeadlineRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader("body"))
	h.ServeHTTP(rec, r)
	if w, r := rec.calls(); len(w) != 1 || len(r) != 2 || !r[1].IsZero() {
		t.Errorf("HTTP/1: want a write deadline, and a read deadline set then lifted; got write %v, read %v", w, r)
	}
}

// An HTTP/2 handler still running after half the timeouts gets the
// deadlines it would have had from the start: the write's from when the
// pending write began, the body's from when the request began; the body's
// is lifted once it is read to its end; none is set once the handler has
// returned.
func TestDeadlines_H2ArmedWhenLasting(t *testing.T) {
	const rt, wt = 80 * time.Millisecond, 200 * time.Millisecond
	rec := newDeadlineRecorder()
	var start, entered, wrote, written time.Time
	h := withDeadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered = time.Now()
		wrote = time.Now()
		w.Write([]byte("a")) // before the timer: noted, not sent
		written = time.Now()
		<-rec.setW // the timer fires at min(rt, wt)/2
		<-rec.setR
		io.ReadAll(r.Body) // read to its end: lifted
		<-rec.setR
	}), rt, wt)
	start = time.Now()
	h.ServeHTTP(rec, h2Post("body"))
	w, r := rec.calls()
	if len(w) != 1 || w[0].Before(wrote.Add(wt)) || w[0].After(written.Add(wt)) {
		t.Errorf("write deadline %v, want the write's start + %v (%v to %v)", w, wt, wrote.Add(wt), written.Add(wt))
	}
	if len(r) != 2 || r[0].Before(start.Add(rt)) || r[0].After(entered.Add(rt)) || !r[1].IsZero() {
		t.Errorf("read deadlines %v, want the request's start + %v (%v to %v), then lifted", r, rt, start.Add(rt), entered.Add(rt))
	}
	time.Sleep(2 * wt)
	if w2, r2 := rec.calls(); len(w2) != len(w) || len(r2) != len(r) {
		t.Errorf("deadlines set after the handler returned: write %v, read %v", w2, r2)
	}
}
