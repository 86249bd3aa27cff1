package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tlsUpstream is a TLS test server answering the upstream's page, which
// records how each connection's handshake went.
type tlsUpstream struct {
	*httptest.Server
	mu              sync.Mutex
	full, resumed   int
	curves          map[tls.CurveID]int
	seen            map[net.Conn]bool
	requests        atomic.Int64
	handle          func(n int64, w http.ResponseWriter) bool // n counts from 1; true: answered
	closeEveryReply bool
}

func newTLSUpstream(t *testing.T) *tlsUpstream {
	u := &tlsUpstream{curves: make(map[tls.CurveID]int), seen: make(map[net.Conn]bool)}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := u.requests.Add(1)
		if u.closeEveryReply {
			w.Header().Set("Connection", "close")
		}
		if u.handle != nil && u.handle(n, w) {
			return
		}
		w.Write([]byte(page))
	}))
	// A connection turns active at each request, its handshake done.
	u.Server.Config.ConnState = func(c net.Conn, s http.ConnState) {
		tc, ok := c.(*tls.Conn)
		if s != http.StateActive || !ok {
			return
		}
		cs := tc.ConnectionState()
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.seen[c] {
			return
		}
		u.seen[c] = true
		if cs.DidResume {
			u.resumed++
		} else {
			u.full++
		}
		u.curves[cs.CurveID]++
	}
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

func (u *tlsUpstream) gen(t *testing.T) genTarget {
	g, err := newGenTarget(u.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewGenTarget(t *testing.T) {
	g, err := newGenTarget("https://localhost:8443/a?b=c")
	if err != nil {
		t.Fatal(err)
	}
	if g.addr != "127.0.0.1:8443" || g.host != "localhost" {
		t.Errorf("addr %s host %s, want 127.0.0.1:8443 and localhost", g.addr, g.host)
	}
	if want := "GET /a?b=c HTTP/1.1\r\nHost: localhost:8443\r\nConnection: close\r\n\r\n"; string(g.close) != want {
		t.Errorf("close request %q, want %q", g.close, want)
	}
	for _, bad := range []string{"http://localhost:80/", "https://localhost/", "::"} {
		if _, err := newGenTarget(bad); err == nil {
			t.Errorf("newGenTarget(%q) accepted", bad)
		}
	}
}

// wrk and h2load resume their TLS session when they reconnect; the
// handshakes measurement must pay a full handshake on every connection, with
// the X25519 key exchange wrk and h2load use (not Go's hybrid post-quantum
// default, which nginx does not offer).
func TestHandshakeLoad_FullHandshakeEveryConnection(t *testing.T) {
	u := newTLSUpstream(t)
	// The warm-up's connections end before the measured ones start: a
	// client that kept their session tickets would resume.
	r := handshakeLoad(context.Background(), u.gen(t), 3, time.Nanosecond, time.Nanosecond, func() {})
	if r.Requests < 3 || r.Failed != 0 || r.Non2xx3xx != 0 {
		t.Fatalf("result %+v, want at least 3 answered connections and no failure (first error: %s)", r, r.FirstErr)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if total := u.requests.Load(); u.resumed != 0 || int64(u.full) != total {
		t.Errorf("%d full and %d resumed handshakes for %d connections, want every one full", u.full, u.resumed, total)
	}
	if len(u.curves) != 1 || u.curves[tls.X25519] != u.full {
		t.Errorf("key exchanges %v, want X25519 only", u.curves)
	}
}

// A warm-up's connections are not counted; mark runs between warm-up and
// measurement.
func TestHandshakeLoad_WarmupNotCounted(t *testing.T) {
	u := newTLSUpstream(t)
	var atMark int64
	r := handshakeLoad(context.Background(), u.gen(t), 2, time.Nanosecond, time.Nanosecond, func() { atMark = u.requests.Load() })
	if atMark < 2 {
		t.Fatalf("%d requests before mark, want the warm-up's (at least 2)", atMark)
	}
	if total := u.requests.Load(); r.Requests != total-atMark {
		t.Errorf("counted %d, want the %d made after mark", r.Requests, total-atMark)
	}
}

// The schedule decides how many requests are sent: rate × duration, however
// fast the target answers.
func TestFixedRateLoad_SendsTheSchedule(t *testing.T) {
	u := newTLSUpstream(t)
	r, err := fixedRateLoad(context.Background(), u.gen(t), 1000, 4, 20*time.Millisecond, 50*time.Millisecond, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 50 || r.Failed != 0 {
		t.Errorf("result %+v, want 50 answered requests, none failed (first error: %s)", r, r.FirstErr)
	}
	if got := u.requests.Load(); got != 70 {
		t.Errorf("target saw %d requests, want 20 warm-up + 50", got)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.full != 4 {
		t.Errorf("%d connections, want the 4 kept alive through warm-up and run", u.full)
	}
}

// Coordinated omission: when the target stalls, the requests scheduled
// during the stall wait, and their wait is latency. With one connection and
// the first answer held for 30 ms, every one of the 20 requests scheduled in
// the first 20 ms ends after the stall, at least 30−19 = 11 ms after its
// due time. Timed from when they were actually sent, they would look fast.
// (This bound cannot be broken by a slow machine: slowness only adds.)
func TestFixedRateLoad_StallCountsForEveryDelayedRequest(t *testing.T) {
	const stall = 30 * time.Millisecond
	u := newTLSUpstream(t)
	u.handle = func(n int64, w http.ResponseWriter) bool {
		if n == 1 {
			time.Sleep(stall)
		}
		return false
	}
	r, err := fixedRateLoad(context.Background(), u.gen(t), 1000, 1, 0, 20*time.Millisecond, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 20 {
		t.Fatalf("result %+v, want 20 answered requests (first error: %s)", r, r.FirstErr)
	}
	if min := stall - 19*time.Millisecond; r.P50 < min {
		t.Errorf("p50 %s, want at least %s: the stall is hidden (latency timed from the send, not the schedule)", r.P50, min)
	}
}

func TestFixedRateLoad_CountsErrorsAndWrongPages(t *testing.T) {
	u := newTLSUpstream(t)
	u.handle = func(n int64, w http.ResponseWriter) bool {
		switch n % 4 {
		case 1:
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		case 2:
			w.Write([]byte("<html>an error page with a 200</html>"))
			return true
		}
		return false
	}
	r, err := fixedRateLoad(context.Background(), u.gen(t), 1000, 2, 0, 40*time.Millisecond, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if r.Non2xx3xx != 10 || r.Failed != 10 || r.Requests != 40 {
		t.Errorf("result %+v, want 40 answers: 10 with status 503, 10 not the upstream's page", r)
	}
	if !strings.Contains(r.FirstErr, errNotPage.Error()) {
		t.Errorf("first error %q, want %q", r.FirstErr, errNotPage)
	}
}

// A target that closes the connection after each answer is followed: the
// generator reconnects and no scheduled request is lost.
func TestFixedRateLoad_Reconnects(t *testing.T) {
	u := newTLSUpstream(t)
	u.closeEveryReply = true
	r, err := fixedRateLoad(context.Background(), u.gen(t), 1000, 2, 0, 20*time.Millisecond, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 20 || r.Failed != 0 {
		t.Errorf("result %+v, want 20 answered requests (first error: %s)", r, r.FirstErr)
	}
}

func TestDueAt(t *testing.T) {
	start := time.Unix(0, 0)
	for _, c := range []struct {
		i    int64
		rate int
		want time.Duration
	}{{0, 2000, 0}, {1, 2000, 500 * time.Microsecond}, {3, 3, time.Second}, {7, 3, 2333333333}} {
		if got := dueAt(start, c.i, c.rate).Sub(start); got != c.want {
			t.Errorf("dueAt(%d, %d/s) = %s, want %s", c.i, c.rate, got, c.want)
		}
	}
}

func TestNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {0, 1}} {
		if got := nearestRank(s, c.p); got != c.want {
			t.Errorf("p%v of 1..1000 = %d, want %d", c.p, got, c.want)
		}
	}
	if got := nearestRank([]time.Duration{7}, 99.9); got != 7 {
		t.Errorf("p99.9 of one sample = %d, want 7", got)
	}
}
