package listen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The lane: plain HTTP/1.1 requests answered without net/http's server.
//
// net/http's HTTP/1 server costs about 13 µs of CPU a request on top of
// the least a server can do (bench/README.md, "On a quieter day"): a
// goroutine started per request to notice a client leaving, a fresh
// header map per response grown by the security headers, cloned and
// sorted when written. Most requests a gateway sees need none of what
// that buys. So on a TLS connection that negotiated HTTP/1.1, the lane
// serves the connection's requests itself while they are plain (see
// plain: GET or HEAD, HTTP/1.1, an origin-form target, no body, no
// Expect or Upgrade, valid fields, a head within 4 KiB). At the first
// request that is not, it hands the connection to net/http at that
// request's start, the bytes it had read replayed first (earlyConn.Read),
// and net/http serves the rest of the connection as it serves any: its
// parser's refusals (431, 400, 501, early.go's pages), bodies,
// 100-continue, upgrades.
//
// It runs inside the TLS handshake call net/http makes on its own
// connection goroutine (earlyTLSConn.HandshakeContext), after the
// handshake: net/http keeps its accept loop, its handshake timeout and
// errors, the plain-HTTP-on-the-TLS-port page, the connection's context
// (ServerContextKey, LocalAddrContextKey, ConnContext) and its panic
// handling (a handler's panic unwinds through the lane into net/http's
// recover, which logs it and closes the connection). What net/http
// cannot see there is what the lane does itself:
//
//   - the timeouts: ReadHeaderTimeout for a request's head (from the
//     connection's start for the first one), IdleTimeout between
//     requests, which ends when 4 bytes of the next have come, as in
//     net/http; a head that stalls ends the connection, it is not handed
//     over for a second ReadHeaderTimeout; WriteTimeout for each write
//     (renewWrite: the deadline kept per connection, moved when an
//     eighth of it has passed, where withDeadlines sets it per request);
//   - the response, written as net/http writes it (laneWriter);
//   - a client leaving: it cancels the request's context, watched only
//     once the request has lasted 50 ms (goneWatch);
//   - graceful shutdown: net/http counts the connection as new all along
//     and closes it as idle after 5 s, so Close is deferred while a
//     request is served (earlyConn.Close), shutdown closes the lane's idle
//     connections and ends the others after their response, and Run
//     waits for them (lane.wait).
//
// lane_diff_test.go sends the same bytes to a server with the lane and to
// one without and compares what comes back, byte for byte.
//
// HTTP/2 and plain-HTTP listeners are net/http's alone.

// lane is what a server's lane connections share.
type lane struct {
	h                 http.Handler
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	writeTimeout      time.Duration
	shuttingDown      atomic.Bool

	handOvers atomic.Int64 // connections handed to net/http (Server.LaneConnections)
	ended     atomic.Int64 // connections served to their end

	mu      sync.Mutex
	conns   map[*laneConn]struct{}
	drained chan struct{} // closed once shutting down with no connection left
}

func newLane(h http.Handler, o Options) *lane {
	return &lane{h: h, readHeaderTimeout: o.ReadHeaderTimeout, idleTimeout: o.IdleTimeout, writeTimeout: o.WriteTimeout,
		conns: make(map[*laneConn]struct{}), drained: make(chan struct{})}
}

// errLaneDone ends a connection the lane served: net/http then closes it
// and logs the error as a failed handshake, which errorLogHandler drops.
var errLaneDone = errors.New("listen: HTTP/1.1 connection ended by the lane")

// A laneConn's states. Close (earlyConn.Close) closes an idle connection
// at once and one serving a request once the response is written.
const (
	laneIdle       int32 = iota // waiting for a request
	laneBusy                    // serving one
	laneCloseAfter              // serving one; to be closed after it
	laneClosed
)

// laneConn is a connection the lane serves.
type laneConn struct {
	l   *lane
	c   net.Conn // the *tls.Conn
	tls *tls.ConnectionState
	br  *bufio.Reader
	bw  *bufio.Writer
	h   http.Header   // the responses' header map, reused
	bb  *bufio.Writer // the responses' body buffer (laneWriter.bb), reused
	// fields holds the header fields of the response being written, from
	// the moment its status is (laneWriter.snapshot) to its commit.
	fields []byte
	state  atomic.Int32
	gone   goneWatch
	// wset is when the write deadline was last set WriteTimeout ahead
	// (renewWrite); zero when it is to be set at the next write. wcustom
	// says a handler set a deadline of its own (laneWriter.SetWriteDeadline),
	// which holds for its request only.
	wset    time.Time
	wcustom bool
}

// serve serves ec's requests while they are plain. It returns nil when it
// hands the connection to net/http (the bytes it had read left in
// ec.replay), else errLaneDone for net/http to close it.
func (l *lane) serve(ctx context.Context, ec *earlyConn, tc *tls.Conn) error {
	lc := &laneConn{l: l, c: tc}
	lc.gone.lc = lc
	l.mu.Lock()
	if l.shuttingDown.Load() {
		l.mu.Unlock()
		return nil // net/http ends it
	}
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	ec.lane.Store(lc)
	defer func() {
		ec.lane.Store(nil)
		l.mu.Lock()
		delete(l.conns, lc)
		if l.shuttingDown.Load() && len(l.conns) == 0 {
			close(l.drained)
		}
		l.mu.Unlock()
	}()
	st := tc.ConnectionState()
	lc.tls = &st
	lc.br = bufio.NewReaderSize(tc, laneHeadMax)
	lc.bw = bufio.NewWriterSize(tc, 4<<10)
	lc.h = make(http.Header, 16)
	lc.bb = bufio.NewWriterSize(nil, bufferBeforeChunking)
	// Nothing cancels the connection's context while the lane serves it
	// (net/http does when its own reads fail, and after the lane): its
	// requests' contexts need not be registered with it and removed,
	// under its lock, one by one.
	if lc.serveRequests(context.WithoutCancel(ctx)) {
		buffered, _ := lc.br.Peek(lc.br.Buffered())
		ec.replay = bytes.Clone(buffered)
		l.handOvers.Add(1)
		return nil
	}
	l.ended.Add(1)
	return errLaneDone
}

// laneHeadMax is the largest request head the lane answers; a larger one
// goes to net/http, which applies MaxHeaderBytes (at least 4 KiB).
const laneHeadMax = 4 << 10

// serveRequests serves the connection's plain requests; true when it
// stopped at one that is not, for net/http to serve.
func (lc *laneConn) serveRequests(ctx context.Context) (handOver bool) {
	l := lc.l
	remote := lc.c.RemoteAddr().String()
	wait := l.readHeaderTimeout // the first request has no idle time
	for first := true; ; first = false {
		lc.c.SetReadDeadline(time.Now().Add(wait))
		// Between requests, as net/http: wait for 4 bytes, and end the
		// connection without an answer if they do not come.
		need := 1
		if !first {
			need = 4
		}
		if _, err := lc.br.Peek(need); err != nil {
			return false
		}
		// From its first byte, a request is in flight, as net/http's
		// StateActive: Close now waits for its answer.
		if !lc.state.CompareAndSwap(laneIdle, laneBusy) {
			return false // closed while idle
		}
		wait = l.idleTimeout
		req, n, err := lc.peekRequest()
		if err != nil {
			// A stalled or broken head ends the connection, as in
			// net/http; one cut short by the client's EOF is net/http's
			// to answer (400).
			if !errors.Is(err, io.EOF) {
				return false
			}
			return lc.idle()
		}
		if req == nil {
			return lc.idle()
		}
		// The read deadline is left as it is: the request has no body,
		// the next one sets its own, and the goneWatch lifts it before it
		// reads.
		lc.br.Discard(n)
		req.RemoteAddr, req.TLS = remote, lc.tls
		if !lc.serveOne(ctx, req) || l.shuttingDown.Load() {
			return false
		}
	}
}

// idle ends the request in flight: false when Close was called meanwhile,
// and the connection is to be closed, not served further or handed over.
func (lc *laneConn) idle() bool {
	if lc.state.CompareAndSwap(laneBusy, laneIdle) {
		return true
	}
	lc.state.Store(laneClosed)
	return false
}

// serveOne runs the handler for req; false when the connection cannot
// serve another request. A panic unwinds through it to net/http.
func (lc *laneConn) serveOne(base context.Context, req *http.Request) (keep bool) {
	ctx, cancel := context.WithCancel(base)
	gone := &lc.gone
	gone.begin(ctx, cancel)
	req = req.WithContext(withState(ctx))
	defer func() {
		gone.stop()
		cancel()
		if !lc.idle() {
			keep = false
		}
	}()
	if lc.wcustom {
		lc.wset, lc.wcustom = time.Time{}, false
	}
	lc.renewWrite()
	w := newLaneWriter(lc, req)
	lc.l.h.ServeHTTP(w, req)
	return w.finish() && !w.closeAfter
}

// renewWrite sets the write deadline WriteTimeout ahead, unless it was set
// less than an eighth of WriteTimeout ago. It runs before each write and
// flush, as withDeadlines' renew does for net/http's requests: every write
// has at least seven eighths of WriteTimeout to complete, and a client
// that stops reading is cut off. Where withDeadlines sets the deadline for
// each request, the lane keeps it for the connection: a busy connection
// moves it once every WriteTimeout/8, not for every request.
func (lc *laneConn) renewWrite() {
	now := time.Now()
	if !lc.wset.IsZero() && now.Sub(lc.wset) < lc.l.writeTimeout/8 {
		return
	}
	lc.c.SetWriteDeadline(now.Add(lc.l.writeTimeout))
	lc.wset = now
}

// closeLater is Close's question: true when the connection is serving a
// request, which is then to end after its response; false when it is to
// be closed now.
func (lc *laneConn) closeLater() bool {
	for {
		switch s := lc.state.Load(); s {
		case laneCloseAfter:
			return true
		case laneBusy:
			if lc.state.CompareAndSwap(laneBusy, laneCloseAfter) {
				return true
			}
		default:
			if lc.state.CompareAndSwap(s, laneClosed) {
				return false
			}
		}
	}
}

// beginShutdown stops keep-alive on the lane's connections: the idle ones
// are closed now, the others after their response. Idempotent.
func (l *lane) beginShutdown() {
	var idle []net.Conn
	l.mu.Lock()
	if l.shuttingDown.Swap(true) {
		l.mu.Unlock()
		return
	}
	for lc := range l.conns {
		if !lc.closeLater() {
			idle = append(idle, lc.c)
		}
	}
	if len(l.conns) == 0 {
		close(l.drained)
	}
	l.mu.Unlock()
	// Outside the lock: closing a TLS connection writes its close_notify.
	for _, c := range idle {
		c.Close()
	}
}

// wait waits, after beginShutdown, for the lane's connections to end, or
// for ctx; then it closes those left.
func (l *lane) wait(ctx context.Context) error {
	select {
	case <-l.drained:
		return nil
	case <-ctx.Done():
	}
	var left []net.Conn
	l.mu.Lock()
	for lc := range l.conns {
		lc.state.Store(laneClosed)
		left = append(left, lc.c)
	}
	l.mu.Unlock()
	for _, c := range left {
		c.Close()
	}
	return ctx.Err()
}

// headParsers parse a request head the lane has peeked at, without
// consuming it.
var headParsers = sync.Pool{New: func() any {
	p := &headParser{}
	p.br = bufio.NewReaderSize(&p.r, laneHeadMax)
	return p
}}

type headParser struct {
	r  bytes.Reader
	br *bufio.Reader
}

// peekRequest parses the request at the start of the connection's buffer
// without consuming it: the request and its head's length, or a nil
// request when it is not plain, its head does not fit in the buffer or it
// does not parse: net/http is then to read it. An error is the
// connection's. The head is parsed by parseSimpleHead when it can,
// otherwise by http.ReadRequest.
func (lc *laneConn) peekRequest() (*http.Request, int, error) {
	var head []byte
	for n, bounded := 1, false; ; {
		if _, err := lc.br.Peek(n); err != nil { // waits for n bytes
			return nil, 0, err
		}
		b, _ := lc.br.Peek(lc.br.Buffered())
		if i := headEnd(b); i >= 0 {
			head = b[:i]
			break
		}
		if n = len(b) + 1; n > lc.br.Size() {
			return nil, 0, nil
		}
		// The rest of the head is to come, within ReadHeaderTimeout. A
		// head read whole, as most are, sets no deadline of its own:
		// each costs a timer's update.
		if !bounded {
			lc.c.SetReadDeadline(time.Now().Add(lc.l.readHeaderTimeout))
			bounded = true
		}
	}
	req, ok := parseSimpleHead(head)
	if !ok {
		p := headParsers.Get().(*headParser)
		p.r.Reset(head)
		p.br.Reset(&p.r)
		var err error
		req, err = http.ReadRequest(p.br)
		p.r.Reset(nil) // the pool keeps no connection's buffer
		headParsers.Put(p)
		if err != nil {
			return nil, 0, nil
		}
	}
	if !plain(req) {
		return nil, 0, nil
	}
	return req, len(head), nil
}

// headEnd is the length of the request head at the start of b, through
// the empty line that ends it ("\n\n" or "\n\r\n"), or -1.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// plain reports whether the lane answers r: HTTP/1.1, GET or HEAD, an
// origin-form target, no body, no Expect or Upgrade, every header field
// one net/http accepts.
func plain(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		!strings.HasPrefix(r.RequestURI, "/") ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Host == "" || !httpguts.ValidHostHeader(r.Host) {
		return false
	}
	for k, vv := range r.Header {
		switch k {
		case "Expect", "Upgrade", "Content-Length", "Transfer-Encoding":
			return false
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// goneAfter is how long a request lasts before the lane watches for its
// client leaving. Most are answered sooner, and start no goroutine.
const goneAfter = 50 * time.Millisecond

// goneWatch cancels the request's context when the client leaves, reading
// the connection in the background once the request has lasted goneAfter.
// A connection has one, and one timer, for all its requests.
type goneWatch struct {
	lc      *laneConn
	timer   *time.Timer
	ctx     context.Context // the request's
	mu      sync.Mutex
	cancel  func() // the request's
	stopped bool
	done    chan struct{} // the watch's end, once it started
	// hook is the function AfterClientGone arranged to run when the
	// client leaves; nil once it ran or was stopped. left: the client
	// left during this request.
	hook     func()
	left     bool
	stopHook func() bool // g.unhook, made once
}

// begin starts the wait for the request whose context is ctx, which
// cancel cancels.
func (g *goneWatch) begin(ctx context.Context, cancel func()) {
	g.mu.Lock()
	g.ctx, g.cancel, g.stopped, g.done = ctx, cancel, false, nil
	g.hook, g.left = nil, false
	g.mu.Unlock()
	if g.timer == nil {
		g.timer = time.AfterFunc(goneAfter, g.start)
	} else {
		g.timer.Reset(goneAfter)
	}
}

// start starts the watch, on the timer's goroutine. A start for the
// previous request that comes late (its timer fired as it ended) starts
// the watch early for this one, which is harmless; started once, it is
// not started again.
func (g *goneWatch) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped || g.done != nil {
		return
	}
	g.done = make(chan struct{})
	done, cancel := g.done, g.cancel
	// The head's deadline is still on the connection (serveRequests
	// leaves it). Lifted here, under mu: stop's own deadline, which ends
	// the read, comes after it.
	g.lc.c.SetReadDeadline(time.Time{})
	go func() {
		defer close(done)
		if _, err := g.lc.br.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			cancel()
			g.mu.Lock()
			f := g.hook
			g.hook, g.left = nil, true
			g.mu.Unlock()
			if f != nil {
				f()
			}
		}
	}()
}

// afterGone arranges for f to run when the client of the request whose
// context is ctx leaves: what context.AfterFunc(ctx, f) does for such a
// request, whose context only the client's leaving cancels before the
// handler returns, without its allocations (a context, a map and two
// closures for each request). ok is false when ctx is not the request's
// own context (a handler derived one that something else may cancel) or
// the client has left already: the caller then uses context.AfterFunc.
// stop reports whether it kept f from running, as AfterFunc's stop.
func (g *goneWatch) afterGone(ctx context.Context, f func()) (stop func() bool, ok bool) {
	done := ctx.Done()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx == nil || done != g.ctx.Done() || g.left || g.stopped || g.hook != nil {
		return nil, false
	}
	g.hook = f
	if g.stopHook == nil {
		g.stopHook = g.unhook
	}
	return g.stopHook, true
}

// unhook is afterGone's stop.
func (g *goneWatch) unhook() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	had := g.hook != nil
	g.hook = nil
	return had
}

func (g *goneWatch) stop() {
	g.mu.Lock()
	g.stopped, g.hook, g.ctx = true, nil, nil
	done := g.done
	g.mu.Unlock()
	g.timer.Stop()
	if done != nil {
		g.lc.c.SetReadDeadline(time.Unix(1, 0))
		<-done
		g.lc.c.SetReadDeadline(time.Time{})
	}
}

// bufferBeforeChunking is net/http's: a response the handler finishes
// within it is sent with a Content-Length.
const bufferBeforeChunking = 2048

// laneWriter is the lane's http.ResponseWriter. Its body goes the way
// net/http's does: into a buffer of bufferBeforeChunking bytes (bb), whose
// flushes are laneBody's writes, the first of which commits the header;
// each is a chunk when the response is chunked.
type laneWriter struct {
	lc          *laneConn
	req         *http.Request
	h           http.Header
	bb          *bufio.Writer
	status      int
	committed   bool
	chunked     bool
	noBody      bool  // HEAD, 204, 304
	declared    int64 // the handler's Content-Length, -1 without
	written     int64
	scratch     [32]byte // a chunk size or the Content-Length value, formatted
	closeAfter  bool
	handlerDone bool // bb's last flush: the body is what it holds
	done        bool
	err         error

	// What snapshot noted of the header when the final status was
	// written; its fields are in the connection's fields buffer.
	trailers    []string // the names Trailer declares
	hasTrailers bool     // Trailer, or a field named with http.TrailerPrefix
	hasType     bool     // Content-Type
	hasDate     bool
	hasEncoding bool     // Content-Encoding
	closeHeader bool     // Connection: close
	te          string   // Transfer-Encoding
	connection  []string // Connection's values
}

// newLaneWriter is the writer of r's response. Each response has its own,
// as in net/http, so that a handler's writes after it returned do not
// reach the next response. Its header map and body buffer are the
// connection's, reused: a fresh map, or a body buffer from a pool, each
// cost 1 to 2 µs a request (bench/compare.sh).
func newLaneWriter(lc *laneConn, r *http.Request) *laneWriter {
	clear(lc.h)
	w := &laneWriter{lc: lc, h: lc.h, bb: lc.bb, req: r, declared: -1, closeAfter: r.Close}
	w.bb.Reset(laneBody{w})
	return w
}

// laneBody is where the body buffer flushes: net/http's chunkWriter.
type laneBody struct{ w *laneWriter }

func (b laneBody) Write(p []byte) (int, error) {
	w := b.w
	if !w.committed {
		w.commit(w.handlerDone, p)
	}
	if w.noBody || len(p) == 0 {
		return len(p), w.err
	}
	bw := w.lc.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		w.setErr(err)
		return len(p), w.err
	}
	_, err := bw.Write(p)
	w.setErr(err)
	return len(p), w.err
}

// Header is the response's header map; once the response is done, a map
// of its own, since the response's is the next one's (newLaneWriter).
func (w *laneWriter) Header() http.Header {
	if w.done {
		return http.Header{}
	}
	return w.h
}

func (w *laneWriter) WriteHeader(code int) {
	if w.status != 0 || w.done {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.lc.renewWrite()
		bw := w.lc.bw
		writeStatus(bw, code)
		w.lc.fields, _ = appendFields(w.lc.fields[:0], w.h, skipTE|skipCL, nil)
		bw.Write(w.lc.fields)
		bw.WriteString("\r\n")
		w.setErr(bw.Flush())
		return
	}
	w.status = code
	if w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified || code < 200 {
		w.noBody = true
	}
	if cl := w.h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			delete(w.h, "Content-Length")
		}
	}
	w.snapshot()
}

func (w *laneWriter) setErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}

func (w *laneWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, http.ErrHandlerTimeout
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody && w.req.Method != http.MethodHead {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	w.lc.renewWrite()
	if _, err := w.bb.Write(p); err != nil {
		w.setErr(err)
		return 0, err
	}
	return len(p), nil
}

// commit writes the status line and header. first is the body's first
// part, which the Content-Type is sniffed from; done says the handler has
// returned and first is the whole body, which then gets a Content-Length.
func (w *laneWriter) commit(done bool, first []byte) {
	w.committed = true
	isHEAD := w.req.Method == http.MethodHead
	bodyAllowed := w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.status >= 200
	var sniffed string
	if !w.hasType && bodyAllowed && w.te == "" && !w.hasEncoding && len(first) > 0 {
		sniffed = http.DetectContentType(first)
	}
	autoLength := done && !w.hasTrailers && w.te == "" && bodyAllowed && w.declared < 0 && (!isHEAD || len(first) > 0)
	if autoLength {
		w.declared = int64(len(first))
	}
	if !isHEAD && bodyAllowed && w.declared < 0 {
		w.chunked = true
	}
	if w.closeHeader || w.lc.l.shuttingDown.Load() {
		w.closeAfter = true
	}
	bw := w.lc.bw
	writeStatus(bw, w.status)
	bw.Write(w.lc.fields)
	if w.closeAfter && !w.closeHeader {
		bw.WriteString("Connection: close\r\n")
	} else {
		for _, v := range w.connection {
			w.lc.fields = appendField(w.lc.fields[:0], "Connection", v)
			bw.Write(w.lc.fields)
		}
	}
	if !w.hasDate {
		bw.WriteString("Date: ")
		bw.Write(httpDate(time.Now()))
		bw.WriteString("\r\n")
	}
	if sniffed != "" {
		bw.WriteString("Content-Type: " + sniffed + "\r\n")
	}
	if autoLength {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.scratch[:0], w.declared, 10))
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	_, err := bw.WriteString("\r\n")
	w.setErr(err)
}

// snapshot takes down the header as it is when the final status is
// written: net/http sends that header, whatever the handler changes in
// its map afterwards (trailers aside), and so does the lane. Where net/http
// clones the map, the lane writes its fields out now, to be sent at
// commit, and notes what commit needs to know of them.
func (w *laneWriter) snapshot() {
	h := w.h
	for _, v := range h["Trailer"] {
		w.hasTrailers = true
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(textproto.TrimString(k)); k != "" {
				w.trailers = append(w.trailers, k)
			}
		}
	}
	w.te = h.Get("Transfer-Encoding")
	_, w.hasType = h["Content-Type"]
	_, w.hasDate = h["Date"]
	w.hasEncoding = h.Get("Content-Encoding") != ""
	w.connection = slices.Clone(h["Connection"])
	w.closeHeader = httpguts.HeaderValuesContainsToken(w.connection, "close")
	skip := skipTE | skipConnection
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified || w.status < 200 {
		skip |= skipCL
	}
	var prefixed bool
	w.lc.fields, prefixed = appendFields(w.lc.fields[:0], h, skip, w.trailers)
	if prefixed {
		w.hasTrailers = true
	}
}

// dateOfSecond is a Date field's value and the second it is of.
type dateOfSecond struct {
	sec   int64
	value []byte
	text  string // value, for HTTP/2's header encoder
}

var lastDate atomic.Pointer[dateOfSecond]

// httpDate is now's Date value, formatted once a second and shared, as
// nginx keeps its ngx_cached_http_time: formatting it for every response
// took 145 ns. The value is never modified once stored.
func httpDate(now time.Time) []byte { return dateOf(now).value }

func dateOf(now time.Time) *dateOfSecond {
	sec := now.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return d
	}
	v := now.UTC().AppendFormat(nil, http.TimeFormat)
	d := &dateOfSecond{sec: sec, value: v, text: string(v)}
	lastDate.Store(d)
	return d
}

// skipSet names header fields commit leaves out of the handler's.
type skipSet uint8

const (
	skipTE skipSet = 1 << iota
	skipCL
	skipConnection
)

func writeStatus(bw *bufio.Writer, code int) {
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteString(" ")
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
}

// fieldCleaner is net/http's headerNewlineToSpace.
var fieldCleaner = strings.NewReplacer("\n", " ", "\r", " ")

// appendFields appends h's fields but those skip names, as net/http
// writes them: no field whose name is not a token, CR and LF in values as
// spaces, no trailer, declared or prefixed. prefixed reports a field named
// with http.TrailerPrefix.
//
// Unlike net/http, it does not sort them: their order carries no meaning,
// and sorting them cost 2.9 µs a request (bench/compare.sh, 8 pairs).
func appendFields(dst []byte, h http.Header, skip skipSet, trailers []string) (out []byte, prefixed bool) {
	for k, vv := range h {
		switch {
		case k == "Transfer-Encoding" && skip&skipTE != 0, k == "Content-Length" && skip&skipCL != 0,
			k == "Connection" && skip&skipConnection != 0:
			continue
		case strings.HasPrefix(k, http.TrailerPrefix):
			prefixed = true
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) || len(trailers) > 0 && slices.Contains(trailers, k) {
			continue
		}
		for _, v := range vv {
			dst = appendField(dst, k, v)
		}
	}
	return dst, prefixed
}

// appendField appends one field as net/http writes it: CR and LF in the
// value as spaces, its ends trimmed. Two IndexByte calls, not ContainsAny:
// for a set of two bytes ContainsAny looks at one byte at a time, and
// security header values are long (a CSP: hundreds of bytes), where
// IndexByte is vectorised.
func appendField(dst []byte, k, v string) []byte {
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		v = fieldCleaner.Replace(v)
	}
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, textproto.TrimString(v)...)
	return append(dst, "\r\n"...)
}

func (w *laneWriter) Flush() { w.FlushError() }

func (w *laneWriter) FlushError() error {
	if w.done {
		return http.ErrHandlerTimeout
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.lc.renewWrite()
	w.setErr(w.bb.Flush())
	if !w.committed {
		w.commit(false, nil)
	}
	w.setErr(w.lc.bw.Flush())
	return w.err
}

// SetWriteDeadline and SetReadDeadline are what http.ResponseController
// calls; once the response is done they no longer touch the connection,
// which may be serving the next request.
//
// A handler's write deadline holds as one under withDeadlines does: until
// the renewal due an eighth of WriteTimeout later, and for its own request
// only.
// AfterClientGone arranges for f to run when the client leaves during the
// request whose context is ctx (see goneWatch.afterGone). The proxy finds
// it through the writers that wrap this one, and uses it in place of
// context.AfterFunc.
func (w *laneWriter) AfterClientGone(ctx context.Context, f func()) (stop func() bool, ok bool) {
	return w.lc.gone.afterGone(ctx, f)
}

func (w *laneWriter) SetWriteDeadline(t time.Time) error {
	if w.done {
		return http.ErrHandlerTimeout
	}
	w.lc.wset, w.lc.wcustom = time.Now(), true
	return w.lc.c.SetWriteDeadline(t)
}

func (w *laneWriter) SetReadDeadline(t time.Time) error {
	if w.done {
		return http.ErrHandlerTimeout
	}
	return w.lc.c.SetReadDeadline(t)
}

// finish ends the response; false when the connection cannot serve
// another request.
func (w *laneWriter) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.handlerDone = true
	w.lc.renewWrite()
	w.setErr(w.bb.Flush())
	if !w.committed {
		w.commit(true, nil)
	}
	w.done = true // from here on, the writer's methods do not reach bb
	if w.chunked {
		bw := w.lc.bw
		bw.WriteString("0\r\n")
		for k, vv := range w.h {
			name, prefixed := strings.CutPrefix(k, http.TrailerPrefix)
			if !prefixed && !slices.Contains(w.trailers, k) {
				continue
			}
			for _, v := range vv {
				bw.WriteString(name + ": " + textproto.TrimString(fieldCleaner.Replace(v)) + "\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	w.setErr(w.lc.bw.Flush())
	if w.declared >= 0 && w.written < w.declared && !w.noBody {
		return false // a short body: the connection cannot be reused
	}
	return w.err == nil
}
