package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/safe"
)

// slowBodies are requests whose body is sent in two parts: head (headers
// and the first part of the body), then rest. Their bodies are large
// enough to go to a temporary file, small enough to stay in memory, or
// chunked.
var slowBodies = []struct {
	name, head, rest, body string
}{
	func() (s struct{ name, head, rest, body string }) {
		body := strings.Repeat("a", 200<<10)
		s.name, s.body = "content-length spilled to disk", body
		s.head = "POST /upload HTTP/1.1\r\nHost: app.example\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:1000]
		s.rest = body[1000:]
		return
	}(),
	func() (s struct{ name, head, rest, body string }) {
		body := "user=alice&password=" + strings.Repeat("p", 2000)
		s.name, s.body = "content-length in memory", body
		s.head = "POST /login HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:1000]
		s.rest = body[1000:]
		return
	}(),
	func() (s struct{ name, head, rest, body string }) {
		body := strings.Repeat("c", 150<<10)
		s.name, s.body = "chunked", body
		s.head = "POST /api/import HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body[:1000])
		s.rest = chunk(body[1000:]) + "0\r\n\r\n"
		return
	}(),
}

// TestBuffering_SlowBodyHoldsNoUpstreamWorker: clients that send the
// first part of their bodies and then stall (slow POST, R.U.D.Y.) do not
// get a single connection to the upstream, which would hold one of the
// application's few workers each, until their bodies are complete. The
// insecure streaming mode is the control: there every stalled client
// holds an upstream request.
func TestBuffering_SlowBodyHoldsNoUpstreamWorker(t *testing.T) {
	const clients = 3 // per kind of body
	for _, mode := range []struct {
		name   string
		stream bool
	}{{"buffered", false}, {"insecure streaming (control)", true}} {
		t.Run(mode.name, func(t *testing.T) {
			up := newWatchedUpstream(t)
			p, _, _ := testProxy(t, up.URL, Options{InsecureStreamRequestBodies: mode.stream, BodyTempDir: t.TempDir()})
			fe := newWatchedFront(t, p, 1000)
			var conns []*rawClient
			for range clients {
				for _, b := range slowBodies {
					c := dialRaw(t, fe.URL)
					c.write(b.head)
					conns = append(conns, c)
				}
			}
			n := len(conns)
			// The proxy has read the first part of every body.
			wait(t, fe.marked, n, "the first part of each body to be read")
			if mode.stream {
				// Streaming: each stalled client with a body over
				// BodyBufferBytes holds an upstream request whose
				// handler waits for the body.
				streamed := 0
				for _, b := range slowBodies {
					if len(b.body) > BodyBufferBytes {
						streamed += clients
					}
				}
				wait(t, up.entered, streamed, "the upstream to receive the streamed requests")
			} else if c, r := up.conns.Load(), up.requests.Load(); c != 0 || r != 0 {
				t.Fatalf("with %d bodies incomplete the upstream got %d connections and %d requests", n, c, r)
			}
			for i, c := range conns {
				b := slowBodies[i%len(slowBodies)]
				c.write(b.rest)
				rep := decodeReport(t, c.response())
				if rep.Length != int64(len(b.body)) || rep.SHA256 != sha(b.body) {
					t.Errorf("%s: upstream read %d bytes, want %d intact", b.name, rep.Length, len(b.body))
				}
			}
			if r := up.requests.Load(); r != int32(n) {
				t.Errorf("upstream got %d requests, want %d", r, n)
			}
		})
	}
}

// TestBuffering_AbortedBodyNeverReachesUpstream: a client that sends part
// of a body and goes away causes no upstream connection or request at
// all, whichever way its body was being buffered, and leaves no file.
func TestBuffering_AbortedBodyNeverReachesUpstream(t *testing.T) {
	for _, b := range slowBodies {
		t.Run(b.name, func(t *testing.T) {
			up := newWatchedUpstream(t)
			dir := t.TempDir()
			p, errLog, secLog := testProxy(t, up.URL, Options{BodyTempDir: dir})
			fe := newWatchedFront(t, p, 1000)
			c := dialRaw(t, fe.URL)
			c.write(b.head)
			wait(t, fe.marked, 1, "the first part of the body to be read")
			c.c.Close()
			code := wait(t, fe.done, 1, "the proxy to give up on the request")[0]
			if code != safe.StatusClientClosedRequest && code != http.StatusBadRequest {
				t.Errorf("recorded status %d, want 499 or 400", code)
			}
			if c, r := up.conns.Load(), up.requests.Load(); c != 0 || r != 0 {
				t.Errorf("an aborted body reached the upstream: %d connections, %d requests", c, r)
			}
			if strings.Contains(errLog.String(), `"level":"ERROR"`) || secLog.String() != "" {
				t.Errorf("a client's abort was logged as a failure:\n%s%s", errLog, secLog)
			}
			if files := dirEntries(t, dir); len(files) != 0 {
				t.Errorf("files left in the temporary directory: %v", files)
			}
			if open := openBodyFiles(t, dir); len(open) != 0 {
				t.Errorf("body files still open: %v", open)
			}
		})
	}
}

// panicWriter panics when the response starts, as a buggy ResponseWriter
// wrapper in front of the proxy might.
type panicWriter struct{ http.ResponseWriter }

func (panicWriter) WriteHeader(int)               { panic("wrapper bug") }
func (panicWriter) Write([]byte) (int, error)     { panic("wrapper bug") }
func (p panicWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// TestBuffering_TempFilesNeverLeak: a body that spills to a temporary file
// is in a 0600 file that is already unlinked while the upstream reads it,
// and the file is closed however the request ends: success, 413 past the
// limit after spilling, the client aborting, the upstream down, a panic.
func TestBuffering_TempFilesNeverLeak(t *testing.T) {
	dir := t.TempDir()
	const limit = 256 << 10
	up := newWatchedUpstream(t)
	var during [][]string
	var modes []os.FileMode
	up.onBody = func() {
		open := openBodyFiles(t, dir)
		during = append(during, append(open, dirEntries(t, dir)...))
		for _, o := range open {
			if st, err := os.Stat(strings.SplitN(o, " -> ", 2)[0]); err == nil {
				modes = append(modes, st.Mode().Perm())
			}
		}
	}
	opts := Options{BodyTempDir: dir, BodyMemoryBytes: 1 << 10, MaxBodyBytes: limit}
	p, _, _ := testProxy(t, up.URL, opts)
	deadP, _, _ := testProxy(t, deadUpstream(t), opts)
	big := strings.Repeat("b", 100<<10)
	check := func(t *testing.T) {
		t.Helper()
		if files := dirEntries(t, dir); len(files) != 0 {
			t.Errorf("files left: %v", files)
		}
		if open := openBodyFiles(t, dir); len(open) != 0 {
			t.Errorf("body files still open: %v", open)
		}
	}

	t.Run("success content-length and chunked", func(t *testing.T) {
		fe := newWatchedFront(t, p, 1)
		for _, chunked := range []bool{false, true} {
			c := dialRaw(t, fe.URL)
			if chunked {
				c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(big[:500]) + chunk(big[500:]) + "0\r\n\r\n")
			} else {
				c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big)
			}
			if rep := decodeReport(t, c.response()); rep.SHA256 != sha(big) {
				t.Errorf("chunked=%v: body changed", chunked)
			}
			wait(t, fe.done, 1, "the request to end")
		}
		if len(during) != 2 {
			t.Fatalf("upstream saw %d bodies", len(during))
		}
		for i, d := range during {
			// One open, deleted file and an empty directory.
			if len(d) != 1 || !strings.HasSuffix(d[0], "(deleted)") {
				t.Errorf("request %d: while the upstream read the body: %q, want one open deleted file", i, d)
			}
		}
		for _, m := range modes {
			if m != 0o600 {
				t.Errorf("body file mode %v, want 0600", m)
			}
		}
		check(t)
	})
	t.Run("413 after spilling", func(t *testing.T) {
		fe := newWatchedFront(t, p, 1)
		c := dialRaw(t, fe.URL)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(big) + chunk(big) + chunk(big))
		if res := c.response(); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", res.StatusCode)
		}
		wait(t, fe.done, 1, "the request to end")
		check(t)
	})
	t.Run("client aborts after spilling", func(t *testing.T) {
		fe := newWatchedFront(t, p, int64(len(big)))
		c := dialRaw(t, fe.URL)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(2*len(big)) + "\r\n\r\n" + big)
		wait(t, fe.marked, 1, "the body to be read")
		c.c.Close()
		wait(t, fe.done, 1, "the request to end")
		check(t)
	})
	t.Run("upstream down", func(t *testing.T) {
		fe := newWatchedFront(t, deadP, 1)
		c := dialRaw(t, fe.URL)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big)
		if res := c.response(); res.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502", res.StatusCode)
		}
		wait(t, fe.done, 1, "the request to end")
		check(t)
	})
	t.Run("panic after buffering", func(t *testing.T) {
		fe := newWatchedFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.ServeHTTP(panicWriter{w}, r)
		}), 1)
		c := dialRaw(t, fe.URL)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big)
		if code := wait(t, fe.done, 1, "the request to end")[0]; code != -1 {
			t.Errorf("no panic (status %d)", code)
		}
		check(t)
	})
	if used := p.spooler.mem.used.Load(); used != 0 {
		t.Errorf("%d bytes of the memory budget never returned", used)
	}
	if used := p.spooler.disk.used.Load(); used != 0 {
		t.Errorf("%d bytes of the disk budget never returned", used)
	}
}

// TestBuffering_DiskFillRefused: clients sending large bodies on many
// connections at once cannot fill the temporary directory's disk: past
// BodyTempBudget a body is refused 503 when its bytes would cross the
// line, with a Content-Length or chunked, and neither reaches the
// upstream. The budget comes back when the bodies are done.
func TestBuffering_DiskFillRefused(t *testing.T) {
	up := newWatchedUpstream(t)
	p, errLog, secLog := testProxy(t, up.URL, Options{BodyTempDir: t.TempDir(), BodyMemoryBytes: 1 << 10, BodyTempBudget: 150 << 10})
	fe := newWatchedFront(t, p, 1000)
	body := strings.Repeat("d", 100<<10)
	holder := dialRaw(t, fe.URL)
	holder.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:90<<10])
	eventually(t, "the first body's bytes to be on disk", func() bool { return p.spooler.disk.used.Load() == 90<<10 })

	c := dialRaw(t, fe.URL)
	c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	if res := c.response(); res.StatusCode != http.StatusServiceUnavailable || !res.Close {
		t.Errorf("content-length over the budget: status %d (close %v), want 503 and close", res.StatusCode, res.Close)
	}
	c = dialRaw(t, fe.URL)
	c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body) + "0\r\n\r\n")
	if res := c.response(); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("chunked over the budget: status %d, want 503", res.StatusCode)
	}
	wait(t, fe.done, 2, "the refused requests to end")
	if r := up.requests.Load(); r != 0 {
		t.Errorf("%d refused bodies reached the upstream", r)
	}
	holder.write(body[90<<10:])
	if rep := decodeReport(t, holder.response()); rep.SHA256 != sha(body) {
		t.Error("the body within the budget changed")
	}
	wait(t, fe.done, 1, "the first request to end")
	if used := p.spooler.disk.used.Load(); used != 0 {
		t.Errorf("%d bytes of the disk budget never returned", used)
	}
	// The budget, not one client's share, is what ran out: a warning in
	// the log, no security event.
	if logs := errLog.String(); !strings.Contains(logs, "body_buffers_full") || !strings.Contains(logs, `"budget":"total"`) ||
		strings.Contains(logs, `"level":"ERROR"`) || secLog.String() != "" {
		t.Errorf("logs:\n%s%s", logs, secLog)
	}
}

// TestBuffering_DeclaredLengthReservesNothing: a body whose headers
// declare a length, in memory range or beyond, holds nothing of either
// budget until its bytes arrive, and then only what has arrived (memory
// at most twice it, as the buffer grows); a file is created only once a
// byte is there to write.
func TestBuffering_DeclaredLengthReservesNothing(t *testing.T) {
	dir := t.TempDir()
	sp := newSpooler(64<<10, 10<<20, 32<<20, 1<<30, dir)
	client := netip.MustParseAddr("192.0.2.1")
	for _, declared := range []int64{60_000, 10_000_000} {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			s, err := sp.spool(pr, declared, client)
			if err == nil {
				s.free()
			}
			done <- err
		}()
		check := func(what string, maxMem, maxDisk int64) {
			t.Helper()
			if m, d := sp.mem.used.Load(), sp.disk.used.Load(); m > maxMem || d > maxDisk {
				t.Errorf("declared %d, %s: %d bytes of memory, %d of disk held", declared, what, m, d)
			}
		}
		// A write to the pipe returns once the spooler has read it.
		pw.Write(nil)
		check("nothing sent", 0, 0)
		if files := dirEntries(t, dir); len(files) != 0 {
			t.Errorf("declared %d, nothing sent: files %v", declared, files)
		}
		pw.Write([]byte(strings.Repeat("x", 5000)))
		pw.Write([]byte(strings.Repeat("x", 5000)))
		eventually(t, "the bytes to be held", func() bool { return sp.mem.used.Load()+sp.disk.used.Load() >= 10000 })
		check("10000 bytes sent", 20000, 10000)
		pw.CloseWithError(io.ErrUnexpectedEOF)
		if err := <-done; err == nil {
			t.Errorf("declared %d: a short body was accepted", declared)
		}
		check("after the request", 0, 0)
	}
}

// TestBuffering_ClientShares: one client's bodies hold at most its share
// of each budget: past its memory share they go to files, past its disk
// share they are refused with an error naming the client, while another
// client still gets memory and disk. Giving everything back forgets both
// clients.
func TestBuffering_ClientShares(t *testing.T) {
	const memMax = 8 << 10
	sp := newSpooler(memMax, 64<<10, 16*16<<10, 16*128<<10, t.TempDir())
	if sp.memShare != 16<<10 || sp.diskShare != 128<<10 {
		t.Fatalf("shares %d and %d, want 16 KiB and 128 KiB", sp.memShare, sp.diskShare)
	}
	a, b := netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("2001:db8:b::1")
	// Another address in a's /64 is a.
	a2 := netip.MustParseAddr("2001:db8:a::ffff")
	var held []*spooledBody
	spool := func(client netip.Addr, size int, n int64) (*spooledBody, error) {
		t.Helper()
		s, err := sp.spool(strings.NewReader(strings.Repeat("s", size)), n, client)
		if err == nil {
			held = append(held, s)
		}
		return s, err
	}
	inMem := 0
	for i := range 4 {
		s, err := spool([]netip.Addr{a, a2}[i%2], memMax, memMax)
		if err != nil {
			t.Fatal(err)
		}
		if s.f == nil {
			inMem++
		}
	}
	if inMem != 2 {
		t.Errorf("%d of a's 8 KiB bodies in memory, want 2 (its 16 KiB share)", inMem)
	}
	if s, err := spool(b, memMax, -1); err != nil || s.f != nil {
		t.Errorf("b's body: err %v, in memory %v; a's share took b's memory", err, s != nil && s.f == nil)
	}
	// a holds 16 KiB in files; 60 KiB more fit in its 128 KiB share,
	// another 60 KiB do not.
	if _, err := spool(a, 60<<10, 60<<10); err != nil {
		t.Fatal(err)
	}
	_, err := spool(a2, 60<<10, -1)
	var full *buffersFullError
	if !errors.As(err, &full) || full.client != clientip.Key(a) || full.limit != 128<<10 {
		t.Fatalf("a over its disk share: %v, want a *buffersFullError naming its /64", err)
	}
	if got := sp.heldBy(a); got.mem != 16<<10 || got.disk != 76<<10 {
		t.Errorf("a holds %+v after a refused body", got)
	}
	if _, err := spool(b, 60<<10, -1); err != nil {
		t.Errorf("b refused while a is at its share: %v", err)
	}
	for _, s := range held {
		s.free()
	}
	if m, d := sp.mem.used.Load(), sp.disk.used.Load(); m != 0 || d != 0 {
		t.Errorf("%d bytes of memory and %d of disk never returned", m, d)
	}
	if len(sp.clients) != 0 {
		t.Errorf("clients still tracked: %v", sp.clients)
	}
}

// TestBuffering_ClientSharesConcurrent: many requests of a few clients
// buffering at once (run with -race) never take a client over its
// shares or a budget over its total, and give everything back.
func TestBuffering_ClientSharesConcurrent(t *testing.T) {
	const memMax = 4 << 10
	sp := newSpooler(memMax, 64<<10, 16*8<<10, 16*64<<10, t.TempDir())
	var wg sync.WaitGroup
	var over atomic.Int32
	for i := range 64 {
		client := netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 4)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				size := []int{100, 3000, 20 << 10, 60 << 10}[(i+j)%4]
				n := int64(size)
				if j%3 == 0 {
					n = -1
				}
				s, err := sp.spool(strings.NewReader(strings.Repeat("c", size)), n, client)
				h := sp.heldBy(client)
				if h.mem > sp.memShare || h.disk > sp.diskShare ||
					sp.mem.used.Load() > sp.mem.max || sp.disk.used.Load() > sp.disk.max {
					over.Add(1)
				}
				var full *buffersFullError
				if err != nil && !errors.As(err, &full) {
					t.Error(err)
				}
				if err == nil {
					s.free()
				}
			}
		}()
	}
	wg.Wait()
	if over.Load() != 0 {
		t.Errorf("%d times a client or a budget was over its limit", over.Load())
	}
	if m, d := sp.mem.used.Load(), sp.disk.used.Load(); m != 0 || d != 0 || len(sp.clients) != 0 {
		t.Errorf("after every body: %d memory, %d disk, %d clients", m, d, len(sp.clients))
	}
}

// TestBuffering_OversizedChunkedBody413: a chunked body over MaxBodyBytes
// is answered 413 and, unlike with streaming, the upstream never sees
// even a truncated request; one at the limit arrives whole, with a
// Content-Length.
func TestBuffering_OversizedChunkedBody413(t *testing.T) {
	const limit = 100 << 10
	for _, tc := range []struct {
		size int
		code int
	}{{limit + 1, 413}, {10 * limit, 413}, {limit, 200}} {
		t.Run(strconv.Itoa(tc.size), func(t *testing.T) {
			up := newWatchedUpstream(t)
			p, _, secLog := testProxy(t, up.URL, Options{MaxBodyBytes: limit, BodyTempDir: t.TempDir()})
			fe := front(t, p)
			body := strings.Repeat("x", tc.size)
			req := newRequest(t, "POST", fe.URL, nil)
			req.Body = io.NopCloser(strings.NewReader(body))
			req.ContentLength = -1
			res, err := fe.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.code)
			}
			if tc.code == 413 {
				res.Body.Close()
				if c, r := up.conns.Load(), up.requests.Load(); c != 0 || r != 0 {
					t.Errorf("an oversized body reached the upstream: %d connections, %d requests", c, r)
				}
				if !res.Close {
					t.Error("connection kept open after an unread body")
				}
				if secLog.String() != "" {
					t.Errorf("security event for a client's oversized body: %s", secLog)
				}
				return
			}
			rep := decodeReport(t, res)
			if rep.ContentLength != int64(tc.size) || len(rep.TransferEncoding) != 0 || rep.SHA256 != sha(body) {
				t.Errorf("upstream saw %+v", rep)
			}
		})
	}
}

// TestBuffering_UpstreamSeesContentLength: a chunked body, empty, small or
// spilled to disk, reaches the upstream with a Content-Length, never
// chunked; its trailers are dropped.
func TestBuffering_UpstreamSeesContentLength(t *testing.T) {
	up := newWatchedUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{BodyTempDir: t.TempDir()})
	fe := front(t, p)
	for _, size := range []int{0, 1, 5000, 300 << 10} {
		body := strings.Repeat("y", size)
		c := dialRaw(t, fe.URL)
		var chunks string
		switch {
		case size == 1:
			chunks = chunk(body)
		case size > 1:
			chunks = chunk(body[:size/2]) + chunk(body[size/2:])
		}
		c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" + chunks + "0\r\nX-Checksum: 1\r\n\r\n")
		rep := decodeReport(t, c.response())
		if rep.ContentLength != int64(size) || len(rep.TransferEncoding) != 0 || rep.SHA256 != sha(body) {
			t.Errorf("size %d: upstream saw %+v", size, rep)
		}
	}
}

// TestBuffering_ExpectContinue: a client that waits for 100 Continue gets
// it from rampart and sends its body; the upstream receives the complete
// request without the Expect header (it has nothing left to agree to).
// A client whose declared body is over the limit gets 413 without a 100.
func TestBuffering_ExpectContinue(t *testing.T) {
	up := newWatchedUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{MaxBodyBytes: 1 << 20})
	fe := front(t, p)
	c := dialRaw(t, fe.URL)
	c.write("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if res := c.response(); res.StatusCode != http.StatusContinue {
		t.Fatalf("status %d, want 100", res.StatusCode)
	}
	c.write("hello")
	rep := decodeReport(t, c.response())
	if rep.SHA256 != sha("hello") || rep.Expect != "" {
		t.Errorf("upstream saw %+v", rep)
	}

	c = dialRaw(t, fe.URL)
	c.write("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: " + fmt.Sprint(2<<20) + "\r\n\r\n")
	if res := c.response(); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: status %d, want 413 without 100", res.StatusCode)
	}
}

// TestBuffering_MemoryBudget: however many bodies are being buffered at
// once, together they hold no more memory than BodyMemoryBudget; the
// bodies that do not fit go to temporary files, and closing every body
// returns the whole budget.
func TestBuffering_MemoryBudget(t *testing.T) {
	const memMax = 8 << 10
	sp := newSpooler(memMax, 1<<20, 3*memMax, 1<<30, t.TempDir())
	var held []*spooledBody
	inFile := 0
	for i := range 8 {
		body := strings.Repeat("z", memMax)
		n := int64(len(body))
		if i%2 == 1 {
			n = -1 // chunked: the buffer grows, reserving as it goes
		}
		// A client each: the global budget is what is tested here.
		s, err := sp.spool(strings.NewReader(body), n, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
		if s.f != nil {
			inFile++
		}
		if used := sp.mem.used.Load(); used > sp.mem.max {
			t.Fatalf("after %d bodies %d bytes reserved, over the %d budget", i+1, used, sp.mem.max)
		}
		got, _ := io.ReadAll(s)
		if string(got) != body {
			t.Fatalf("body %d changed", i)
		}
	}
	if inFile < 5 {
		t.Errorf("only %d of 8 bodies went to a file with room for 3 in memory", inFile)
	}
	for _, s := range held {
		s.free()
		s.free() // idempotent
	}
	if used := sp.mem.used.Load(); used != 0 {
		t.Errorf("%d bytes of the budget never returned", used)
	}
}

// TestBuffering_WebSocketAndBodylessUnaffected: requests without a body
// and upgrade handshakes pass untouched (see also TestProxy_WebSocketEcho,
// which runs with buffering on).
func TestBuffering_BodylessUnaffected(t *testing.T) {
	up := newWatchedUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{BodyTempDir: t.TempDir()})
	fe := front(t, p)
	for _, m := range []string{"GET", "HEAD", "DELETE", "OPTIONS"} {
		res, err := fe.Client().Do(newRequest(t, m, fe.URL, nil))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d", m, res.StatusCode)
		}
	}
	if used := p.spooler.mem.used.Load(); used != 0 {
		t.Errorf("%d bytes of budget held", used)
	}
}

// TestBuffering_TempDirGone: a temporary directory removed under a running
// proxy is rampart's failure: 500, logged at error level, no upstream
// request, and no blame on the client or the upstream.
func TestBuffering_TempDirGone(t *testing.T) {
	dir := t.TempDir() + "/bodies"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	up := newWatchedUpstream(t)
	p, errLog, secLog := testProxy(t, up.URL, Options{BodyTempDir: dir, BodyMemoryBytes: 1024})
	os.Remove(dir)
	fe := front(t, p)
	res, err := fe.Client().Post(fe.URL, "application/octet-stream", strings.NewReader(strings.Repeat("q", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", res.StatusCode)
	}
	if up.requests.Load() != 0 {
		t.Error("upstream contacted")
	}
	if logs := errLog.String(); !strings.Contains(logs, "body_buffer_failed") || strings.Contains(logs, "proxy request failed") || secLog.String() != "" {
		t.Errorf("logs:\n%s%s", logs, secLog)
	}
}

// TestBuffering_StreamPathsOnly: InsecureStreamRequestBodyPaths streams
// the bodies of the upload endpoint only; a stalled body anywhere else,
// including a path that merely starts with the same letters or one
// dressed as an upload path ("/upload/../login", which the application
// may route to /login), holds no upstream request.
func TestBuffering_StreamPathsOnly(t *testing.T) {
	up := newWatchedUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{InsecureStreamRequestBodyPaths: []string{"/upload"}, BodyTempDir: t.TempDir()})
	fe := newWatchedFront(t, p, 1000)
	body := strings.Repeat("u", 100<<10)
	head := func(path string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:1000]
	}
	var buffered []*rawClient
	for _, path := range []string{"/login", "/uploads", "/api/upload", "/upload/../login", "/upload/..%2flogin", "/upload%2f..%2flogin", "/upload/%2e%2e/login"} {
		c := dialRaw(t, fe.URL)
		c.write(head(path))
		buffered = append(buffered, c)
	}
	wait(t, fe.marked, len(buffered), "the first part of each body to be read")
	streamed := dialRaw(t, fe.URL)
	streamed.write(head("/upload/big"))
	wait(t, up.entered, 1, "the streamed request to reach the upstream")
	if r := up.requests.Load(); r != 1 {
		t.Errorf("%d upstream requests with one body streamed and three incomplete", r)
	}
	for _, c := range append(buffered, streamed) {
		c.write(body[1000:])
		if rep := decodeReport(t, c.response()); rep.SHA256 != sha(body) {
			t.Errorf("body changed")
		}
	}
}

func TestStreamPath(t *testing.T) {
	p, _, _ := testProxy(t, "http://127.0.0.1:1", Options{InsecureStreamRequestBodyPaths: []string{"/upload", "/media/"}})
	for path, want := range map[string]bool{
		"/upload": true, "/upload/": true, "/upload/a/b": true, "/media/x": true, "/media/": true, "/media": true,
		"/UPLOAD/x": true, "//upload//x": true,
		"/uploads": false, "/": false, "/api/upload": false,
		"/upload/../login": false, "/upload/..%2flogin": false, "/upload;x/../login": false,
	} {
		r := httptest.NewRequest("POST", "http://a"+path, nil)
		if got := p.streamPath(r); got != want {
			t.Errorf("streamPath(%q) = %v", path, got)
		}
	}
}

// TestBuffering_HTTP2Body: a body of unknown length on an HTTP/2 stream
// is buffered the same way and reaches the HTTP/1.1 upstream with a
// Content-Length.
func TestBuffering_HTTP2Body(t *testing.T) {
	up := newWatchedUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{BodyTempDir: t.TempDir()})
	fe := httptest.NewUnstartedServer(p)
	fe.EnableHTTP2 = true
	fe.StartTLS()
	t.Cleanup(fe.Close)
	for _, size := range []int{3000, 200 << 10} {
		body := strings.Repeat("h", size)
		req := newRequest(t, "POST", fe.URL, nil)
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = -1
		res, err := fe.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.ProtoMajor != 2 {
			t.Fatalf("client spoke %s", res.Proto)
		}
		if rep := decodeReport(t, res); rep.ContentLength != int64(size) || rep.SHA256 != sha(body) {
			t.Errorf("size %d: upstream saw %+v", size, rep)
		}
	}
}
