package listen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/rampart-dev/rampart/safe"
)

// Responses net/http writes itself.
//
// net/http answers some requests before any handler runs, with a bare
// text/plain page of its own written straight on the connection: a request
// its parser refuses (malformed request line or header, missing or invalid
// Host: 400), headers over MaxHeaderBytes (431), an unknown
// Transfer-Encoding (501), an Expect other than 100-continue (417), and a
// plain-HTTP request on the TLS port (400). Those pages have no security
// headers, no request id and no access-log line, so the requests a scanner
// or an attacker sends most are the ones the operator sees least.
//
// The connection wrapper here sees those writes: on an HTTP/1 connection,
// a write while net/http has read a request but dispatched no handler for
// it can only be one of them. It writes in their place the response of
// Options.Rejected, a handler run on a request made up from what is known
// (the peer, the TLS state, the request line as far as it was read), with
// the Rejection in its context: rampart's gateway runs its request id,
// client address, access log and security headers there, like for any
// request. What net/http would have written is dropped.
//
// HTTP/2 needs none of this: rampart's HTTP/2 server (h2.go) calls
// Options.Rejected itself for a header list over the limit (431) and for
// fields HTTP/2 forbids (400), and reports the streams it resets as
// security events. With Options.GoHTTP2, net/http's HTTP/2 server answers
// those with a 431 of its own inside the HTTP/2 framing, or a stream
// reset, which is not a response: neither logged nor given headers.

// Rejection is a request the server refused before the handler: by
// net/http's parser, or by the request syntax checks of strictFraming.
type Rejection struct {
	// Status is the response status: 400, 417, 431 or 501.
	Status int
	// Reason says what was wrong, in the server's words (never the
	// client's bytes): safe to log.
	Reason string
}

type rejectionKey struct{}

// RejectionFromContext returns the Rejection that Options.Rejected is
// asked to answer.
func RejectionFromContext(ctx context.Context) (Rejection, bool) {
	r, ok := ctx.Value(rejectionKey{}).(Rejection)
	return r, ok
}

func withRejection(r *http.Request, rej Rejection) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), rejectionKey{}, rej))
}

type connKey struct{}

// earlyConn watches one accepted connection for the responses net/http
// writes without a handler. See the comment at the top of the file.
type earlyConn struct {
	net.Conn
	s *serverState

	// h2 is set once the connection negotiated HTTP/2: net/http answers
	// within its framing, nothing here applies.
	h2 atomic.Bool
	// h2c is rampart's HTTP/2 connection on it, while it serves.
	h2c atomic.Pointer[h2Conn]
	// dispatched: a handler was called for the request being served.
	dispatched atomic.Bool
	// done: a rejection was written; net/http's own answer is dropped.
	done atomic.Bool

	// lane is the lane serving the connection, while it does (lane.go).
	lane atomic.Pointer[laneConn]
	// replay is what the lane read and left to net/http: Read returns it
	// first. Only net/http's connection goroutine touches it.
	replay []byte

	// line is the start of the request being read, for the log. Only
	// net/http's connection goroutine touches it: it reads request heads,
	// runs the handshake, calls ConnState and writes its own answers
	// there, and reads of other goroutines (net/http's background read)
	// happen only once a handler was dispatched, when line is left alone.
	line []byte
}

// earlyTLSConn is an earlyConn over TLS. It has the methods net/http looks
// for to run the handshake and fill in Request.TLS, which a plain
// earlyConn must not have.
type earlyTLSConn struct {
	*earlyConn
	tc *tls.Conn
}

func (c *earlyTLSConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// HandshakeContext runs the TLS handshake. A client speaking plain HTTP to
// the TLS port gets the rejection page here, in clear text, instead of
// net/http's bare one; the error returned keeps net/http from writing its
// own.
func (c *earlyTLSConn) HandshakeContext(ctx context.Context) error {
	err := c.tc.HandshakeContext(ctx)
	if err == nil {
		if cs := c.tc.ConnectionState(); cs.NegotiatedProtocol == "h2" {
			c.h2.Store(true)
			if s := c.s.h2; s != nil {
				s.serveConn(ctx, c.tc, &cs, c)
				return errLaneDone
			}
			return nil
		}
		if l := c.s.lane; l != nil {
			return l.serve(ctx, c.earlyConn, c.tc)
		}
		return nil
	}
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader[:]) {
		// Only the first five bytes are known (crypto/tls buffered the
		// rest): the method, when it is that short, and no target.
		if m, _, ok := strings.Cut(string(rhe.RecordHeader[:]), " "); ok {
			c.line = append(c.line[:0], m+" "...)
		}
		c.reject(rhe.Conn, false, Rejection{Status: http.StatusBadRequest, Reason: "plain HTTP request on the TLS port"})
		return errPlainHTTP
	}
	return err
}

var errPlainHTTP = errors.New("client sent an HTTP request to the HTTPS port (answered 400)")

func looksLikeHTTP(h []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE"} {
		if bytes.HasPrefix(h, []byte(m)) {
			return true
		}
	}
	return false
}

// maxLine is how much of a request's start is kept for the log.
const maxLine = 512

func (c *earlyConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		if !c.dispatched.Load() {
			c.keepLine(p[:n])
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.h2.Load() && !c.dispatched.Load() {
		c.keepLine(p[:n])
	}
	return n, err
}

// keepLine keeps the first line of the request being read, up to maxLine
// bytes: what the log says the refused request was.
func (c *earlyConn) keepLine(p []byte) {
	if len(c.line) >= maxLine || bytes.IndexByte(c.line, '\n') >= 0 {
		return
	}
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		p = p[:i+1]
	}
	c.line = append(c.line, p[:min(len(p), maxLine-len(c.line))]...)
}

func (c *earlyConn) Write(p []byte) (int, error) {
	// Not "while net/http counts the connection active": a request
	// pipelined behind another is parsed from bytes already buffered, and
	// net/http reports no StateActive for it, yet may refuse it.
	if c.dispatched.Load() || c.h2.Load() || !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		if c.done.Load() {
			return len(p), nil
		}
		return c.Conn.Write(p)
	}
	// net/http read a request and answers it without a handler.
	c.reject(c.Conn, c.s.tls, parseCanned(p))
	return len(p), nil
}

// Close closes the connection, or, while the lane serves a request on it,
// has the lane close it once the response is written: net/http's
// Shutdown closes a connection it counts as new (as it counts the lane's)
// once it is 5 s old, as if idle.
//
// An HTTP/2 connection rampart serves is sent GOAWAY instead, and closes
// once its streams are done (h2Server.wait closes it at the deadline).
func (c *earlyConn) Close() error {
	if lc := c.lane.Load(); lc != nil && lc.closeLater() {
		return nil
	}
	if hc := c.h2c.Load(); hc != nil {
		hc.goAway(http2.ErrCodeNo, false)
		return nil
	}
	return c.Conn.Close()
}

// CloseWrite is passed through so that net/http can half-close the
// connection after a rejection (it does after a 431), which keeps the
// response from being lost to a reset.
func (c *earlyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// state follows net/http's connection states (http.Server.ConnState).
func (c *earlyConn) state(s http.ConnState) {
	switch s {
	case http.StateActive:
		c.dispatched.Store(false)
	case http.StateIdle:
		c.dispatched.Store(false)
		c.line = c.line[:0]
	}
}

// markDispatched records that net/http called the handler for the
// request being served: from now on what it writes is that handler's.
func markDispatched(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(*earlyConn); ok && !c.dispatched.Load() {
		c.dispatched.Store(true)
	}
}

// parseCanned reads the status and net/http's reason out of one of its
// own responses: "HTTP/1.1 400 Bad Request: missing required Host
// header\r\n...", "HTTP/1.1 431 Request Header Fields Too Large\r\n...".
func parseCanned(p []byte) Rejection {
	line, _, _ := bytes.Cut(p, []byte("\r\n"))
	rest := strings.TrimPrefix(strings.TrimPrefix(string(line), "HTTP/1.1 "), "HTTP/1.0 ")
	code, text, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || status < 400 || status > 599 {
		status = http.StatusBadRequest
	}
	reason := ""
	if _, r, ok := strings.Cut(text, ": "); ok {
		reason = r
	}
	switch {
	case reason != "":
	case status == http.StatusRequestHeaderFieldsTooLarge:
		reason = "request headers too large"
	case status == http.StatusNotImplemented:
		reason = "unsupported transfer encoding"
	case status == http.StatusExpectationFailed:
		reason = "unsupported Expect header"
	default:
		reason = "malformed request"
	}
	// net/http's reasons are its own constants, but keep them bounded
	// and printable all the same.
	if len(reason) > 128 || strings.ContainsFunc(reason, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		reason = "malformed request"
	}
	return Rejection{Status: status, Reason: reason}
}

// reject answers the refused request on w with the server's Rejected
// handler, once per connection.
func (c *earlyConn) reject(w net.Conn, isTLS bool, rej Rejection) {
	if c.done.Swap(true) {
		return
	}
	r := madeUpRequest(string(c.line), c.Conn)
	if isTLS {
		if tc, ok := c.Conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			r.TLS = &st
		}
	}
	r = withRejection(r, rej)
	rw := &rawResponse{header: http.Header{}, head: r.Method == http.MethodHead}
	c.s.rejected.ServeHTTP(rw, r)
	w.SetWriteDeadline(time.Now().Add(c.s.writeTimeout))
	w.Write(rw.bytes())
}

// madeUpRequest is the request the Rejected handler is given: the method
// and target of the request line when they parse, the peer, no headers.
// An unreadable method or target is left empty: what the client sent is
// not known, and is not made up.
func madeUpRequest(line string, conn net.Conn) *http.Request {
	r := &http.Request{URL: &url.URL{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, RemoteAddr: conn.RemoteAddr().String()}
	line = strings.TrimRight(line, "\r\n")
	method, rest, ok := strings.Cut(line, " ")
	if !ok || !safe.Method(method) || len(method) > 32 {
		return r
	}
	r.Method = method
	target, _, _ := strings.Cut(rest, " ")
	if u, err := url.ParseRequestURI(target); err == nil {
		r.RequestURI, r.URL, r.Host = target, u, u.Host
	}
	return r
}

// rawResponse is the http.ResponseWriter of a rejection: it collects the
// handler's response and renders it as one HTTP/1.1 message that closes
// the connection.
type rawResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	head   bool
}

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > 64<<10 {
		return 0, errors.New("rejection page too large")
	}
	return w.body.Write(p)
}

func (w *rawResponse) bytes() []byte {
	if w.status == 0 {
		w.status = http.StatusBadRequest
	}
	h := w.header.Clone()
	h.Set("Connection", "close")
	h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(w.status) + " " + http.StatusText(w.status) + "\r\n")
	h.Write(&b)
	b.WriteString("\r\n")
	if !w.head {
		b.Write(w.body.Bytes())
	}
	return b.Bytes()
}

// serverState is what every earlyConn of a server shares.
type serverState struct {
	rejected     http.Handler
	tls          bool
	writeTimeout time.Duration
	// lane serves plain HTTP/1.1 requests over TLS (lane.go); nil: net/http
	// serves all.
	lane *lane
	// h2 serves HTTP/2 (h2.go); nil: net/http does.
	h2 *h2Server
}

// earlyListener wraps each accepted connection in an earlyConn, TLS ones
// in an earlyTLSConn.
type earlyListener struct {
	net.Listener
	s *serverState
}

func (l earlyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, isTLS := c.(*tls.Conn)
	if isTLS && !wrapTLS {
		return c, nil
	}
	ec := &earlyConn{Conn: c, s: l.s}
	if isTLS {
		return &earlyTLSConn{earlyConn: ec, tc: tc}, nil
	}
	return ec, nil
}

// connOf returns the earlyConn under c.
func connOf(c net.Conn) *earlyConn {
	switch ec := c.(type) {
	case *earlyConn:
		return ec
	case *earlyTLSConn:
		return ec.earlyConn
	}
	return nil
}
