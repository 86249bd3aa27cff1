package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
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

// serveLane is -server lane: the serving side of a fast lane for plain
// HTTP/1.1 requests, to measure what a server of rampart's own would keep
// of the loop's gain (see loop.go) once it writes responses as net/http
// does. It answers plain requests itself (see plain) and hands anything
// else, with the rest of its connection, to a net/http server, the bytes
// it had read replayed first (see peekRequest and handover). It is a
// measuring aid, not a server: no shutdown, none of net/http's timeouts
// but the header and idle ones, no HTTP/2. What it does, it does as
// net/http does, which lane_test.go checks against net/http itself:
//
//   - the response held in a 2 KiB buffer, then sent with a Content-Length
//     when the handler is done within it, else chunked, with trailers;
//   - HEAD, 1xx, 204 and 304 without a body; the Content-Type sniffed when
//     the handler set none; Date added; header names net/http would not
//     write skipped, CR and LF in values sent as spaces;
//   - Flush, and the deadlines through http.ResponseController;
//   - a client that leaves cancels the request's context, watched only once
//     the request has lasted 50 ms, where net/http starts a goroutine for
//     every request.
//
// host replaces each request's Host, as for -server loop.
func serveLane(ln net.Listener, cfg *tls.Config, h http.Handler, host string) {
	handover := newHandover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = host
		h.ServeHTTP(w, r)
	}))
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			tc := tls.Server(c, cfg)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			if tc.Handshake() != nil {
				tc.Close()
				return
			}
			st := tc.ConnectionState()
			if !serveLaneConn(tc, &st, h, host, handover.take) {
				tc.Close()
			}
		}()
	}
}

// handover is a net/http server fed the connections the lane hands over.
type handover struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	srv    *http.Server
	taken  atomic.Int64 // connections handed over
}

func newHandover(h http.Handler) *handover {
	ho := &handover{conns: make(chan net.Conn), closed: make(chan struct{}), srv: &http.Server{Handler: h}}
	go ho.srv.Serve(ho)
	return ho
}

// take passes c to net/http, or closes it once the server is closed.
func (ho *handover) take(c net.Conn) {
	ho.taken.Add(1)
	select {
	case ho.conns <- c:
	case <-ho.closed:
		c.Close()
	}
}

// Accept, Close and Addr make handover the net.Listener its server serves.
func (ho *handover) Accept() (net.Conn, error) {
	select {
	case c := <-ho.conns:
		return c, nil
	case <-ho.closed:
		return nil, net.ErrClosed
	}
}

func (ho *handover) Close() error {
	ho.once.Do(func() { close(ho.closed) })
	return nil
}

func (ho *handover) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// replayConn gives net/http a connection's bytes the lane had read but
// not consumed, then the connection's.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// replayTLSConn is a replayConn that net/http serves as TLS (from Go
// 1.27, any connection with a ConnectionState method).
type replayTLSConn struct {
	*replayConn
	state tls.ConnectionState
}

func (c *replayTLSConn) ConnectionState() tls.ConnectionState { return c.state }

// laneConn is a connection the lane serves.
type laneConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// hr and hb parse a request head the lane has peeked at, without
	// consuming it.
	hr *bufio.Reader
	hb bytes.Reader
}

// serveLaneConn serves c's requests until one is not plain, which it hands
// to net/http with the rest of the connection (handedOver is then true), or
// the connection ends. tlsState is the requests' TLS field; host, when not
// empty, replaces their Host.
func serveLaneConn(c net.Conn, tlsState *tls.ConnectionState, h http.Handler, host string, handOver func(net.Conn)) (handedOver bool) {
	lc := &laneConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	lc.hr = bufio.NewReaderSize(&lc.hb, 4096)
	w := &laneWriter{lc: lc, h: make(http.Header, 32)}
	base := context.WithValue(context.Background(), http.LocalAddrContextKey, c.LocalAddr())
	remote := c.RemoteAddr().String()
	for {
		c.SetReadDeadline(time.Now().Add(120 * time.Second))
		if _, err := lc.br.Peek(1); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, n := lc.peekRequest()
		if req == nil {
			c.SetReadDeadline(time.Time{})
			buffered, _ := lc.br.Peek(lc.br.Buffered())
			rc := &replayConn{Conn: c, pending: bytes.Clone(buffered)}
			if tlsState != nil {
				handOver(&replayTLSConn{replayConn: rc, state: *tlsState})
			} else {
				handOver(rc)
			}
			return true
		}
		lc.br.Discard(n)
		c.SetReadDeadline(time.Time{})
		req.RemoteAddr, req.TLS = remote, tlsState
		if host != "" {
			req.Host = host
		}
		ctx, cancel := context.WithCancel(base)
		req = req.WithContext(ctx)
		gone := &goneWatch{lc: lc, cancel: cancel}
		gone.timer = time.AfterFunc(50*time.Millisecond, gone.start)
		w.reset(req)
		ok := serveOne(h, w, req)
		ok = w.finish() && ok
		gone.stop()
		cancel()
		if !ok || w.closeAfter {
			return
		}
	}
}

// peekRequest parses the request at the start of the connection's buffer
// without consuming it: the request and its head's length, or nil when it
// is not plain, its head does not fit in the buffer, it does not parse, or
// the connection ended first. net/http is then to read it.
func (lc *laneConn) peekRequest() (*http.Request, int) {
	var head []byte
	for n := 1; ; {
		if _, err := lc.br.Peek(n); err != nil { // waits for n bytes
			return nil, 0
		}
		b, _ := lc.br.Peek(lc.br.Buffered())
		if i := headEnd(b); i >= 0 {
			head = b[:i]
			break
		}
		if n = len(b) + 1; n > lc.br.Size() {
			return nil, 0
		}
	}
	lc.hb.Reset(head)
	lc.hr.Reset(&lc.hb)
	req, err := http.ReadRequest(lc.hr)
	if err != nil || !plain(req) {
		return nil, 0
	}
	return req, len(head)
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

// serveOne runs the handler; a panic ends the connection, as in net/http.
func serveOne(h http.Handler, w *laneWriter, r *http.Request) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	h.ServeHTTP(w, r)
	return true
}

// goneWatch cancels the request's context when the client leaves, reading
// the connection in the background only once the request has lasted.
type goneWatch struct {
	lc      *laneConn
	cancel  func()
	timer   *time.Timer
	mu      sync.Mutex
	stopped bool
	done    chan struct{}
}

func (g *goneWatch) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		if _, err := g.lc.br.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			g.cancel()
		}
	}()
}

func (g *goneWatch) stop() {
	g.mu.Lock()
	g.stopped = true
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

// laneWriter is the lane's http.ResponseWriter.
type laneWriter struct {
	lc         *laneConn
	req        *http.Request
	h          http.Header
	status     int
	committed  bool
	chunked    bool
	noBody     bool  // HEAD, 204, 304
	declared   int64 // the handler's Content-Length, -1 without
	written    int64
	buf        []byte
	trailers   []string
	scratch    [32]byte // the Date and Content-Length values, formatted
	closeAfter bool
	done       bool
	err        error
}

func (w *laneWriter) reset(r *http.Request) {
	clear(w.h)
	*w = laneWriter{lc: w.lc, h: w.h, buf: w.buf[:0], req: r, declared: -1, closeAfter: r.Close}
}

func (w *laneWriter) Header() http.Header { return w.h }

func (w *laneWriter) WriteHeader(code int) {
	if w.status != 0 || w.done {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		bw := w.lc.bw
		writeStatus(bw, code)
		writeFields(bw, w.h, skipTE|skipCL, nil)
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
	if !w.committed {
		if len(w.buf)+len(p) <= bufferBeforeChunking {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		// As net/http's buffer overflowing: what it held, or else this
		// write, is what the Content-Type is sniffed from.
		w.commit(false, p)
	}
	if !w.noBody {
		w.body(p)
	}
	return len(p), w.err
}

func (w *laneWriter) body(p []byte) {
	if len(p) == 0 {
		return
	}
	bw := w.lc.bw
	if w.chunked {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		w.setErr(err)
		return
	}
	_, err := bw.Write(p)
	w.setErr(err)
}

// commit writes the status line and header; done says the handler has
// returned, so that a buffered body gets a Content-Length.
func (w *laneWriter) commit(done bool, first []byte) {
	w.committed = true
	h := w.h
	trailers := false
	for _, v := range h["Trailer"] {
		trailers = true
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(textproto.TrimString(k)); k != "" {
				w.trailers = append(w.trailers, k)
			}
		}
	}
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = true
		}
	}
	te := h.Get("Transfer-Encoding")
	isHEAD := w.req.Method == http.MethodHead
	bodyAllowed := w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.status >= 200
	sample := w.buf
	if len(sample) == 0 {
		sample = first
	}
	var sniffed string
	if _, haveType := h["Content-Type"]; !haveType && bodyAllowed && te == "" && h.Get("Content-Encoding") == "" && len(sample) > 0 {
		sniffed = http.DetectContentType(sample)
	}
	autoLength := done && !trailers && te == "" && bodyAllowed && w.declared < 0 && (!isHEAD || w.written > 0)
	if autoLength {
		w.declared = w.written
	}
	var skip skipSet
	switch {
	case isHEAD || !bodyAllowed, w.declared >= 0:
		skip |= skipTE
	default:
		w.chunked = true
		skip |= skipTE | skipCL
	}
	if !bodyAllowed {
		skip |= skipCL
	}
	closeHeader := httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	if closeHeader {
		w.closeAfter = true
	}
	if w.closeAfter && !closeHeader {
		skip |= skipConnection
	}
	bw := w.lc.bw
	writeStatus(bw, w.status)
	writeFields(bw, h, skip, w.trailers)
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(time.Now().UTC().AppendFormat(w.scratch[:0], http.TimeFormat))
		bw.WriteString("\r\n")
	}
	if sniffed != "" {
		bw.WriteString("Content-Type: " + sniffed + "\r\n")
	}
	if autoLength {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.scratch[:0], w.written, 10))
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if skip&skipConnection != 0 {
		bw.WriteString("Connection: close\r\n")
	}
	_, err := bw.WriteString("\r\n")
	w.setErr(err)
	if !w.noBody {
		buf := w.buf
		w.buf = w.buf[:0]
		w.body(buf)
	}
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

// writeFields writes h's fields but those skip names, as net/http does:
// no field whose name is not a token, CR and LF in values as spaces, no
// trailer, declared or prefixed.
func writeFields(bw *bufio.Writer, h http.Header, skip skipSet, trailers []string) {
	for k, vv := range h {
		switch {
		case k == "Transfer-Encoding" && skip&skipTE != 0, k == "Content-Length" && skip&skipCL != 0,
			k == "Connection" && skip&skipConnection != 0:
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) || strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(trailers, k) {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n") {
				v = fieldCleaner.Replace(v)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(textproto.TrimString(v))
			bw.WriteString("\r\n")
		}
	}
}

func (w *laneWriter) Flush() { w.FlushError() }

func (w *laneWriter) FlushError() error {
	if w.done {
		return http.ErrHandlerTimeout
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false, nil)
	}
	w.setErr(w.lc.bw.Flush())
	return w.err
}

func (w *laneWriter) SetWriteDeadline(t time.Time) error { return w.lc.c.SetWriteDeadline(t) }
func (w *laneWriter) SetReadDeadline(t time.Time) error  { return w.lc.c.SetReadDeadline(t) }

// finish ends the response; false when the connection cannot serve
// another request.
func (w *laneWriter) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true, nil)
	}
	w.done = true
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
