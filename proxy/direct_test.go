package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream is a loopback HTTP/1.1 server written by hand, so a test can
// make the upstream misbehave in ways net/http's server never would. serve
// is called for each request read from a connection, with the connection;
// it returns false to stop serving that connection (after closing it or
// not).
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int64
	reqs  atomic.Int64
	wg    sync.WaitGroup
}

func newRawUpstream(t *testing.T, serve func(c net.Conn, req *http.Request, n int64) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if !serve(c, req, u.reqs.Add(1)) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

func okResponse(c net.Conn, body string) {
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// Keep-alive works: many requests in a row share one upstream connection.
func TestDirect_ReusesConnections(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		okResponse(c, "ok")
		return true
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	fe := front(t, p)
	for i := range 20 {
		method := "GET"
		var body io.Reader
		if i%2 == 1 {
			method, body = "POST", strings.NewReader("a=1")
		}
		req, _ := http.NewRequest(method, fe.URL+"/x", body)
		res, err := fe.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("request %d: %q", i, b)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 20 sequential requests, want 1", n)
	}
}

// An application server closes idle connections after a few seconds
// (gunicorn: 2). A POST must never be written to such a connection: it
// would fail with nothing to retry it on (a POST is not sent twice).
func TestDirect_PostNeverSentOnAConnectionTheUpstreamClosed(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		okResponse(c, "ok")
		// Keep-alive announced, then the connection closed as it idles.
		go func() { time.Sleep(50 * time.Millisecond); c.Close() }()
		return true
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	fe := front(t, p)
	get := func(method string) int {
		req, _ := http.NewRequest(method, fe.URL+"/x", strings.NewReader("a=1"))
		res, err := fe.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 5 {
		if code := get("POST"); code != 200 {
			t.Fatalf("POST %d after the upstream closed the idle connection: %d", i, code)
		}
		time.Sleep(150 * time.Millisecond)
	}
	// A GET on a closed idle connection is retried on a new one.
	for i := range 5 {
		if code := get("GET"); code != 200 {
			t.Fatalf("GET %d: %d", i, code)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// A GET whose idle connection turns out closed only when the request is
// read (the upstream closes without reading it) is sent again on a new
// connection; a POST in the same case is not sent again.
func TestDirect_RetryOnlyWhatCanBeSentTwice(t *testing.T) {
	var drops atomic.Int64
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		if req.URL.Path == "/drop" && drops.Add(1) == 2 {
			// The second request on this connection: closed unanswered.
			return false
		}
		okResponse(c, "ok")
		return true
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	fe := front(t, p)
	for i := range 3 {
		res, err := fe.Client().Get(fe.URL + "/drop")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %d: %d, want 200 (retried)", i, res.StatusCode)
		}
	}
}

// The response header is bounded (1 MiB), as Transport's was.
func TestAttack_UpstreamHeaderWithoutEnd(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 8000) + "\r\n"
		for range 200 {
			if _, err := io.WriteString(c, line); err != nil {
				return false
			}
		}
		io.WriteString(c, "Content-Length: 2\r\n\r\nok")
		return false
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	fe := front(t, p)
	res, err := fe.Client().Get(fe.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("a 1.6 MB response header: %d, want 502", res.StatusCode)
	}
}

// Interim responses are bounded, and a 101 nobody asked for is refused.
func TestAttack_UpstreamInterimFloodAndUnasked101(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		switch req.URL.Path {
		case "/1xx":
			for range 50 {
				io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
			}
			okResponse(c, "late")
		case "/101":
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
		}
		return false
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	fe := front(t, p)
	for _, path := range []string{"/1xx", "/101"} {
		res, err := fe.Client().Get(fe.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: %d, want 502", path, res.StatusCode)
		}
	}
}

// A client that leaves ends the upstream exchange: the upstream sees its
// connection closed rather than a response written to nobody.
func TestDirect_ClientGoneInterruptsTheUpstream(t *testing.T) {
	closed := make(chan struct{})
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial")
		// Wait for the proxy to give up on this connection.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			close(closed)
		}
		return false
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }()
		p.ServeHTTP(httptest.NewRecorder(), r)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection stayed open after the client left")
	}
	<-done
}

// An upstream that answers Connection: close has its connection closed,
// never reused.
func TestDirect_ConnectionCloseNotReused(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		return false
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	fe := front(t, p)
	for range 3 {
		res, err := fe.Client().Get(fe.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "ok" || res.Header.Get("Connection") != "" {
			t.Fatalf("%d %q %v", res.StatusCode, b, res.Header)
		}
	}
	if n := up.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// The request the upstream reads: hop-by-hop headers and those named in
// Connection gone, the body with its length, a base path joined.
func TestDirect_RequestAsTheUpstreamReadsIt(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	}))
	t.Cleanup(up.Close)
	p, _, _ := testProxy(t, up.URL+"/base/?k=v", Options{})
	fe := front(t, p)
	req, _ := http.NewRequest("POST", fe.URL+"/x/y?q=1", strings.NewReader("hello"))
	req.Header.Set("Connection", "X-Secret, keep-alive")
	req.Header.Set("X-Secret", "s")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Te", "trailers, deflate")
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("X-Kept", "k")
	res, err := fe.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	r := <-got
	if r.URL.Path != "/base/x/y" || r.URL.RawQuery != "k=v&q=1" {
		t.Errorf("target %s?%s", r.URL.Path, r.URL.RawQuery)
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "Expect"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s forwarded: %q", h, v)
		}
	}
	if r.Header.Get("Te") != "trailers" || r.Header.Get("X-Kept") != "k" {
		t.Errorf("Te %q X-Kept %q", r.Header.Get("Te"), r.Header.Get("X-Kept"))
	}
	if b := <-bodies; b != "hello" || r.ContentLength != 5 {
		t.Errorf("body %q, length %d", b, r.ContentLength)
	}
}

// ResponseHeaderTimeout bounds every request on a reused connection too,
// though a busy connection keeps its deadline from one request to the
// next (upstreamConn.limit): the second request here is never answered.
func TestDirect_HeaderTimeoutOnAReusedConnection(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		if n == 1 {
			okResponse(c, "ok")
			return true
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var b [1]byte
		c.Read(b[:]) // never answered; until the proxy gives up
		return false
	})
	p, errLog, _ := testProxy(t, up.url(), Options{ResponseHeaderTimeout: 200 * time.Millisecond})
	fe := front(t, p)
	for i, want := range []int{http.StatusOK, http.StatusGatewayTimeout} {
		res, err := fe.Client().Get(fe.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i+1, res.StatusCode, want)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1 (the second request on the first's)", n)
	}
	if !strings.Contains(errLog.String(), `"reason":"upstream_timeout"`) {
		t.Errorf("log lacks the timeout:\n%s", errLog.String())
	}
}

// A body that takes longer than ResponseHeaderTimeout after its header
// arrives whole: the header's deadline is lifted before a body read
// reaches the connection, on a new connection and on a reused one whose
// deadline was kept after a short response.
func TestDirect_SlowBodyAfterTheHeader(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		if req.URL.Path == "/short" {
			okResponse(c, "ok")
			return true
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
		time.Sleep(400 * time.Millisecond)
		io.WriteString(c, "world")
		return true
	})
	p, _, _ := testProxy(t, up.url(), Options{ResponseHeaderTimeout: 100 * time.Millisecond})
	fe := front(t, p)
	for _, path := range []string{"/slow", "/short", "/slow"} {
		res, err := fe.Client().Get(fe.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, %v", path, res.StatusCode, err)
		}
		if want := map[bool]string{true: "ok", false: "helloworld"}[path == "/short"]; string(b) != want {
			t.Fatalf("%s: body %q, want %q", path, b, want)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1", n)
	}
}

// A POST goes only on a connection checked alive (see alive), whose
// read would fail on a deadline left expired by an earlier request: get
// lifts it first, and the idle connection is reused.
func TestDirect_ExpiredDeadlineDoesNotFailTheAliveCheck(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		okResponse(c, "ok")
		return true
	})
	p, _, _ := testProxy(t, up.url(), Options{ResponseHeaderTimeout: 50 * time.Millisecond})
	fe := front(t, p)
	for i, method := range []string{"GET", "POST"} {
		if i > 0 {
			time.Sleep(150 * time.Millisecond) // past the first request's deadline
		}
		req, _ := http.NewRequest(method, fe.URL+"/", strings.NewReader("a=1"))
		res, err := fe.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", method, res.StatusCode)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1: the POST did not reuse the idle one", n)
	}
}

// notifyingWriter is a server's writer that says itself when the client
// leaves (clientGoneNotifier), under a writer that wraps it.
type notifyingWriter struct {
	http.ResponseWriter
	registered chan func()
	stops      atomic.Int32
}

func (w *notifyingWriter) AfterClientGone(ctx context.Context, f func()) (func() bool, bool) {
	w.registered <- f
	return func() bool { w.stops.Add(1); return false }, true
}

type wrapping struct{ http.ResponseWriter }

func (w wrapping) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// With a server that says when the client leaves, the direct path uses
// it, found through the writers wrapping the server's, in place of
// context.AfterFunc: its function interrupts the upstream, whose
// connection is then closed, never reused.
func TestDirect_ClientGoneThroughTheServersNotifier(t *testing.T) {
	received, closed := make(chan struct{}), make(chan struct{})
	up := newRawUpstream(t, func(c net.Conn, req *http.Request, n int64) bool {
		close(received)
		var b [1]byte
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(b[:]); err != nil {
			close(closed)
		}
		return false
	})
	p, _, _ := testProxy(t, up.url(), Options{})
	nw := &notifyingWriter{ResponseWriter: httptest.NewRecorder(), registered: make(chan func(), 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }()
		p.ServeHTTP(wrapping{nw}, httptest.NewRequest("GET", "/", nil))
	}()
	var f func()
	select {
	case f = <-nw.registered:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not use the server's AfterClientGone")
	}
	<-received // the proxy waits for the response (see TestDirect_InterruptNotUndoneByALaterDeadline for earlier)
	f()        // the client leaves
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection stayed open after the client left")
	}
	<-done
	if nw.stops.Load() == 0 {
		t.Error("stop never called")
	}
}

// An interrupt (the client left) that runs before the request's deadline
// is set, or before it is lifted for the body, is not undone by it: the
// connection's next read fails at once instead of waiting for the
// upstream.
func TestDirect_InterruptNotUndoneByALaterDeadline(t *testing.T) {
	// No request is sent: the upstream never answers.
	up := newRawUpstream(t, func(net.Conn, *http.Request, int64) bool { return false })
	p := newUpstreamPool(up.ln.Addr().String(), time.Second, time.Minute, 4)
	bodyToRead := &http.Response{Body: &fixedBody{n: 1 << 20}}
	for name, steps := range map[string]func(c *upstreamConn){
		"before limit": func(c *upstreamConn) {
			c.interrupt()
			c.limit(time.Now(), time.Minute)
		},
		"before unlimit": func(c *upstreamConn) {
			c.limit(time.Now(), time.Minute)
			c.interrupt()
			c.unlimit(bodyToRead)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := p.dial(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			steps(c)
			read := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 1))
				read <- err
			}()
			select {
			case err := <-read:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("read: %v, want a deadline error", err)
				}
			case <-time.After(10 * time.Second):
				c.Close()
				t.Fatal("the read still waits on the upstream: the interrupt was undone")
			}
		})
	}
}
