package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/clientip"
)

// The body-buffer budgets are shared by every client. These tests attack
// them from one loopback address (127.0.0.1) while a second address
// (127.0.0.2, also loopback on Linux) posts a 200 KB body, which goes to a
// temporary file, and a 1 KB body, which stays in memory: both must
// succeed, and no attacking request may reach the upstream.
//
// "Declared" attacks send headers declaring large bodies (Content-Length
// 10000000, and 60000, just under the in-memory limit) and then nothing:
// they must hold nothing of either budget. "Trickled" attacks send real
// bytes, more than all of both budgets together, and stall: one client
// must not hold more than its share of either.

const (
	attacker = "127.0.0.1"
	victim   = "127.0.0.2"
)

// attackBody is one attacking request: the length it declares and the
// bytes it actually sends before stalling.
type attackBody struct {
	declared, sent int
}

// budgetFront serves h and reports each request's progress on settled,
// by the id in its X-Test-ID header: once the proxy has read all the
// bytes the request announced in X-Test-Sent (or, for 0, once it has
// started waiting for the body), or once it has been answered, whichever
// comes first. It counts the requests started and finished and those
// answered 503. /warm-up is answered 204 without the proxy, to open
// connections.
type budgetFront struct {
	*httptest.Server
	settled           chan string
	started, finished atomic.Int32
	refused           atomic.Int32
}

func newBudgetFront(t *testing.T, h http.Handler, h2 bool) *budgetFront {
	t.Helper()
	f := &budgetFront{settled: make(chan string, 8000)}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warm-up" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.started.Add(1)
		id := r.Header.Get("X-Test-ID")
		sw := &statusWriter{ResponseWriter: w}
		var once sync.Once
		settle := func() { once.Do(func() { f.settled <- id }) }
		defer func() {
			if sw.code == http.StatusServiceUnavailable {
				f.refused.Add(1)
			}
			settle()
			f.finished.Add(1)
		}()
		if r.Body != nil && r.Body != http.NoBody {
			sent, _ := strconv.ParseInt(r.Header.Get("X-Test-Sent"), 10, 64)
			r.Body = &progressReader{ReadCloser: r.Body, mark: sent, settle: settle}
		}
		h.ServeHTTP(sw, r)
	}))
	if h2 {
		// As rampart's HTTPS listener: 100 streams per connection.
		f.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 100}
		f.EnableHTTP2 = true
		f.StartTLS()
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

// waitSettled waits until n distinct requests have settled. It bounds a
// wait; it measures nothing.
func (f *budgetFront) waitSettled(t *testing.T, n int) {
	t.Helper()
	seen := map[string]bool{}
	guard := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case id := <-f.settled:
			seen[id] = true
		case <-guard:
			t.Fatalf("gave up waiting for every attacking request to be read or answered (%d of %d)", len(seen), n)
		}
	}
}

// progressReader calls settle when a Read starts with nothing left to
// wait for (mark 0), or once mark bytes have been read.
type progressReader struct {
	io.ReadCloser
	n, mark int64
	settle  func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.mark == 0 {
		p.settle()
	}
	n, err := p.ReadCloser.Read(b)
	p.n += int64(n)
	if p.mark > 0 && p.n >= p.mark {
		p.settle()
	}
	return n, err
}

// fromAddr is a dialer whose connections come from the loopback address
// ip. The wait is bounded; it measures nothing.
func fromAddr(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// victimPosts sends the victim's two bodies from 127.0.0.2 and checks that
// the upstream received both intact.
func victimPosts(t *testing.T, fe *budgetFront, h2 bool) {
	t.Helper()
	var tr *http.Transport
	if h2 {
		tr = fe.Client().Transport.(*http.Transport).Clone()
	} else {
		tr = &http.Transport{}
	}
	tr.DialContext = fromAddr(victim).DialContext
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for _, size := range []int{200_000, 1_000} {
		body := strings.Repeat("v", size)
		res, err := c.Post(fe.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatalf("victim's %d-byte body: %v", size, err)
		}
		if h2 && res.ProtoMajor != 2 {
			t.Fatalf("victim spoke %s", res.Proto)
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			t.Errorf("victim's %d-byte body from %s: status %d, want 200", size, victim, res.StatusCode)
			continue
		}
		if rep := decodeReport(t, res); rep.SHA256 != sha(body) {
			t.Errorf("victim's %d-byte body changed", size)
		}
	}
}

// attackHTTP1 opens one HTTP/1.1 connection per body from 127.0.0.1,
// sends its headers and its first bytes, and leaves it open.
func attackHTTP1(t *testing.T, fe *budgetFront, bodies []attackBody) (stop func()) {
	t.Helper()
	var conns []net.Conn
	for i, b := range bodies {
		c, err := fromAddr(attacker).Dial("tcp", fe.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		hangGuard(t, c)
		conns = append(conns, c)
		// Errors are expected: a request refused 503 is answered and
		// its connection closed while the rest is still being sent.
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: app.example\r\nContent-Length: %d\r\nX-Test-Sent: %d\r\nX-Test-ID: %d\r\n\r\n", b.declared, b.sent, i)
		c.Write([]byte(strings.Repeat("a", b.sent)))
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// attackHTTP2 opens conns HTTP/2 connections from 127.0.0.1 and sends
// the bodies spread over them, one stream per body, all at once. A refusal closes
// its connection gracefully (the 503's Connection: close becomes a
// GOAWAY); streams not yet opened on it then go on a new connection, as
// an attacker would reconnect.
func attackHTTP2(t *testing.T, fe *budgetFront, conns int, bodies []attackBody) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var transports []*http.Transport
	for ci := range conns {
		tr := fe.Client().Transport.(*http.Transport).Clone()
		tr.DialContext = fromAddr(attacker).DialContext
		transports = append(transports, tr)
		c := &http.Client{Transport: tr}
		// One request first, so the streams below share one
		// connection instead of racing to dial their own.
		res, err := c.Get(fe.URL + "/warm-up")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Fatalf("attacker spoke %s", res.Proto)
		}
		for i := ci; i < len(bodies); i += conns {
			b, id := bodies[i], strconv.Itoa(i)
			req, _ := http.NewRequestWithContext(ctx, "POST", fe.URL+"/upload",
				&stallingBody{Reader: strings.NewReader(strings.Repeat("a", b.sent)), ctx: ctx, closed: make(chan struct{})})
			req.ContentLength = int64(b.declared)
			req.Header.Set("X-Test-Sent", strconv.Itoa(b.sent))
			req.Header.Set("X-Test-ID", id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Answered, or never opened (a stream past the
				// GOAWAY of a refusal on its connection).
				res, err := c.Do(req)
				fe.settled <- id
				if err == nil {
					res.Body.Close()
				}
			}()
		}
	}
	return func() {
		cancel()
		wg.Wait()
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
	}
}

// stallingBody sends what its Reader holds, then nothing more until ctx
// ends or the transport closes it (when the stream is refused or
// aborted).
type stallingBody struct {
	*strings.Reader
	ctx    context.Context
	once   sync.Once
	closed chan struct{}
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if s.Len() > 0 {
		return s.Reader.Read(p)
	}
	select {
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	case <-s.closed:
		return 0, io.ErrClosedPipe
	}
}

func (s *stallingBody) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func repeat(n int, b attackBody) []attackBody {
	out := make([]attackBody, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestAttack_BodyBudgetExhaustionByOneClient: one client holding the
// body-buffer budgets, by declaring bodies it never sends or by
// trickling real ones, does not make a second client's posts fail with
// 503 body_buffers_full, over HTTP/1.1 or over HTTP/2 (the same bodies
// as streams spread over 12 connections).
//
// The declared attack runs against the default budgets with the bodies
// that, reserved at their declared length, fill both exactly, whatever
// order they arrive in: 512 of 64 KiB fill the 32 MiB of memory; 107 of
// 10000000 bytes (of the 117 sent) and four smaller ones fill the 1 GiB
// of temporary files. The trickled attack, against budgets of 1 MiB and
// 16 MiB, sends one byte short of each declared length: bodies that,
// held at their length as they arrive, again fill both budgets exactly,
// so that without a per-client share the victim would find no room.
func TestAttack_BodyBudgetExhaustionByOneClient(t *testing.T) {
	declared := slices.Concat(
		repeat(512, attackBody{declared: 64 << 10}),
		repeat(117, attackBody{declared: 10_000_000}),
		repeat(3, attackBody{declared: 1_000_000}),
		repeat(1, attackBody{declared: 1<<30 - 107*10_000_000 - 3*1_000_000}),
	)
	// 1 MiB of memory and 16 MiB of files: one client's share is
	// 64 KiB (one full in-memory body) and 1 MiB (MaxBodyBytes).
	small := Options{MaxBodyBytes: 1 << 20, BodyMemoryBudget: 1 << 20, BodyTempBudget: 16 << 20}
	memBodies := repeat(16, attackBody{declared: 64 << 10, sent: 64<<10 - 1})
	trickled1 := slices.Concat(memBodies, repeat(16, attackBody{declared: 1 << 20, sent: 1<<20 - 1}))
	trickled2 := slices.Concat(memBodies, repeat(256, attackBody{declared: 64<<10 + 1, sent: 64 << 10}))
	for _, tc := range []struct {
		name     string
		h2       bool
		opts     Options
		bodies   []attackBody
		trickled bool
	}{
		{name: "HTTP/1.1 declared, nothing sent", bodies: declared},
		{name: "HTTP/2 declared, nothing sent", h2: true, bodies: declared},
		{name: "HTTP/1.1 trickled", opts: small, bodies: trickled1, trickled: true},
		{name: "HTTP/2 trickled", h2: true, opts: small, bodies: trickled2, trickled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newWatchedUpstream(t)
			o := tc.opts
			o.BodyTempDir = t.TempDir()
			p, errLog, secLog := testProxy(t, up.URL, o)
			fe := newBudgetFront(t, p, tc.h2)
			n := len(tc.bodies)
			var stop func()
			if tc.h2 {
				stop = attackHTTP2(t, fe, 12, tc.bodies)
			} else {
				stop = attackHTTP1(t, fe, tc.bodies)
			}
			stopped := false
			defer func() {
				if !stopped {
					stop()
				}
			}()
			// Every attacking request is waiting for its body, has
			// had its bytes read, or was refused.
			fe.waitSettled(t, n)
			refused := int(fe.refused.Load())
			sent := false
			for _, b := range tc.bodies {
				sent = sent || b.sent > 0
			}
			if !sent {
				// Nothing arrived, so nothing is held.
				if m, d := p.spooler.mem.used.Load(), p.spooler.disk.used.Load(); m != 0 || d != 0 {
					t.Errorf("bodies not sent hold %d bytes of memory and %d of disk", m, d)
				}
			}
			held := p.spooler.heldBy(netip.MustParseAddr(attacker))
			if held.mem > p.spooler.memShare || held.disk > p.spooler.diskShare {
				t.Errorf("the attacker holds %+v, over its shares (%d memory, %d disk)", held, p.spooler.memShare, p.spooler.diskShare)
			}

			victimPosts(t, fe, tc.h2)

			if r := up.requests.Load(); r != 2 {
				t.Errorf("upstream got %d requests, want the victim's 2: incomplete bodies reached it", r)
			}
			logs := errLog.String()
			if strings.Contains(logs, `"client_ip":"`+victim+`"`) {
				t.Errorf("the victim's requests were refused:\n%s", logs)
			}
			if tc.trickled {
				// The attacker sent more than both budgets: it was
				// stopped at its share, and that was reported.
				if refused == 0 {
					t.Error("no attacking request was refused although the attacker sent more than the budgets")
				}
				if !strings.Contains(logs, `"budget":"client_share"`) || !strings.Contains(logs, `"client_ip":"`+attacker+`"`) ||
					!strings.Contains(logs, `"reason":"body_buffers_full"`) {
					t.Errorf("the refusal does not name the client and its share:\n%.2000s", logs)
				}
				if ev := secLog.String(); !strings.Contains(ev, `"event.action":"excess_rate_limit_exceeded"`) || !strings.Contains(ev, `"source.ip":"`+attacker+`"`) {
					t.Errorf("no security event for the client over its share:\n%s", ev)
				}
			} else if refused != 0 {
				t.Errorf("%d attacking requests refused although they sent nothing", refused)
			}

			// The attacker leaves: every byte it held comes back, and
			// no client stays in the table.
			stop()
			stopped = true
			eventually(t, "every attacking request to end and give its bytes back", func() bool {
				p.spooler.mu.Lock()
				left := len(p.spooler.clients)
				p.spooler.mu.Unlock()
				return fe.started.Load() == fe.finished.Load() &&
					p.spooler.mem.used.Load() == 0 && p.spooler.disk.used.Load() == 0 && left == 0
			})
		})
	}
}

// TestAttack_BodyBudgetShareBehindTrustedProxy: behind a trusted proxy
// every client arrives from the proxy's address; the share is counted
// per resolved client (what the clientip resolver put in the context),
// and for IPv6 per /64, so a client filling its share through the proxy,
// from any address of its /64, does not use up the share of a client in
// the next /64 behind the same proxy, and the refusal names the client
// and its /64, not the proxy.
func TestAttack_BodyBudgetShareBehindTrustedProxy(t *testing.T) {
	const share = 64 << 10
	up := newWatchedUpstream(t)
	p, errLog, secLog := testProxy(t, up.URL, Options{BodyTempDir: t.TempDir(), MaxBodyBytes: share,
		BodyMemoryBytes: 1 << 10, BodyTempBudget: ClientBudgetShare * share})
	// The resolver's result, played by a test header.
	resolved := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := netip.MustParseAddr(r.Header.Get("X-Test-Client"))
		p.ServeHTTP(w, r.WithContext(clientip.NewContext(r.Context(), client)))
	})
	fe := front(t, resolved)
	const bad, badAgain, good = "2001:db8:1:2::7", "2001:db8:1:2:ffff::1", "2001:db8:1:3::7"
	post := func(client string, declared int, body string) *rawClient {
		c := dialRaw(t, fe.URL)
		c.write(fmt.Sprintf("POST / HTTP/1.1\r\nHost: a\r\nX-Test-Client: %s\r\nContent-Length: %d\r\n\r\n%s", client, declared, body))
		return c
	}
	holder := post(bad, share, strings.Repeat("h", 60_000))
	eventually(t, "the first body to be on disk", func() bool { return p.spooler.heldBy(netip.MustParseAddr(bad)).disk == 60_000 })
	if res := post(badAgain, share, strings.Repeat("x", 10_000)).response(); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a body over the client's share from another address of its /64: status %d, want 503", res.StatusCode)
	}
	body := strings.Repeat("g", 60_000)
	if rep := decodeReport(t, post(good, len(body), body).response()); rep.SHA256 != sha(body) {
		t.Error("the other client's body changed")
	}
	logs := errLog.String()
	for _, want := range []string{`"client_ip":"` + badAgain + `"`, `"budget":"client_share"`, `"client_key":"2001:db8:1:2::/64"`} {
		if !strings.Contains(logs, want) || strings.Contains(logs, good) {
			t.Errorf("the refusal does not name the resolved client (%s):\n%s", want, logs)
		}
	}
	if ev := secLog.String(); !strings.Contains(ev, `"source.ip":"`+badAgain+`"`) || !strings.Contains(ev, `"client_key":"2001:db8:1:2::/64"`) || strings.Contains(ev, "127.0.0.1") {
		t.Errorf("security event:\n%s", ev)
	}
	holder.c.Close()
}
