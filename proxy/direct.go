package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/requestid"
)

// The direct path. Every ordinary request to a plain-HTTP upstream (no
// Upgrade, a body already buffered or none, no FlushInterval) is written
// to a pooled connection and its response read back in the request's own
// goroutine, with net/http's response parser (http.ReadResponse, the one
// Transport uses; simpleResponse parses the simplest heads the same way,
// faster) and without copying the request. What httputil's
// ReverseProxy and Transport do for such a request is done here the same
// way, and the shared parts are the same code: hop-by-hop headers removed
// both ways (and those the Connection header names), the client's
// forwarding and identity headers replaced (rewrite's rules), 1xx interim
// responses forwarded without fingerprints (interimWriter), response
// fingerprints, trailers and debug pages handled by modifyResponse,
// upstream URLs in redirects rewritten, errors answered by handleError, a
// response cut short by the upstream ending the client's response with an
// error (http.ErrAbortHandler), as ReverseProxy does.
//
// Everything else (WebSocket and other upgrades, streamed request bodies,
// HTTPS upstreams, a FlushInterval) takes ReverseProxy.

// errTooMany1xx: an upstream sending interim responses without end.
var errTooMany1xx = errors.New("upstream sent too many 1xx responses")

// errUnasked101: a 101 Switching Protocols to a request that asked for no
// upgrade.
var errUnasked101 = errors.New("upstream switched protocols unasked")

// max1xx is how many interim responses one request may get, as
// Transport's limit.
const max1xx = 5

// aLongTimeAgo is a deadline in the past: it makes a blocked read or
// write on the connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// direct reports whether r can take the direct path once its body is
// settled (buffered: complete in memory or a file, or absent).
func (p *Proxy) direct(r *http.Request, buffered bool) bool {
	return p.pool != nil && buffered && len(r.Header["Upgrade"]) == 0
}

// replayable reports whether a request may be sent again after its
// connection failed before any answer (an idle connection the upstream
// had closed): the methods RFC 9110 calls idempotent, or a request
// carrying an idempotency key, as Transport decides. Others are only sent
// on connections checked alive (see alive).
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, k1 := r.Header["Idempotency-Key"]
	_, k2 := r.Header["X-Idempotency-Key"]
	return k1 || k2
}

// serveDirect forwards r on the direct path. body is r's buffered body,
// nil when it has none.
func (p *Proxy) serveDirect(w *interimWriter, r *http.Request, body *spooledBody) {
	ctx := r.Context()
	retry := replayable(r)
	var (
		c   *upstreamConn
		res *http.Response
		err error
	)
	var stop func() bool
	for attempt := 0; ; attempt++ {
		if attempt == 0 {
			c, err = p.pool.get(ctx, !retry)
		} else {
			c, err = p.pool.dial(ctx)
		}
		if err != nil {
			p.handleError(w, r, err)
			return
		}
		// The connection is this request's until the response has been
		// copied: a client that leaves interrupts whatever it waits on.
		stop = afterClientGone(w, ctx, c.interrupt)
		res, err = p.exchange(ctx, w, c, r, body)
		if err == nil {
			break
		}
		stop()
		c.Close()
		if attempt == 0 && c.reused && retry && drainedEOF(err) && ctx.Err() == nil && body.rewind() == nil {
			// The upstream had closed this idle connection; the
			// request did not reach the application. Once more, on a
			// new connection.
			continue
		}
		p.handleError(w, r, err)
		return
	}
	if err := p.respond(w, r, res); err != nil {
		stop()
		c.Close()
		if errors.Is(err, errResponded) {
			return
		}
		p.copyFailed(r, err)
		return
	}
	// A stop that comes too late (the client left as the response ended)
	// may yet poison the connection's deadline: it is not reused then.
	if !stop() || res.Close {
		c.Close()
		return
	}
	p.pool.put(c)
}

// clientGoneNotifier is implemented by a server's ResponseWriter that
// learns itself when the client of a request leaves (rampart's HTTP/1.1
// lane and its HTTP/2 server): AfterClientGone arranges for f to run then, as
// context.AfterFunc(ctx, f) does, without allocating; ok is false when it
// cannot (ctx is not the request's own), and AfterFunc is used.
type clientGoneNotifier interface {
	AfterClientGone(ctx context.Context, f func()) (stop func() bool, ok bool)
}

// afterClientGone runs f when ctx, r's context, is done, through the
// clientGoneNotifier that w or a writer it wraps (Unwrap) implements, or
// context.AfterFunc.
func afterClientGone(w http.ResponseWriter, ctx context.Context, f func()) (stop func() bool) {
	for x := w; ; {
		if n, ok := x.(clientGoneNotifier); ok {
			if stop, ok := n.AfterClientGone(ctx, f); ok {
				return stop
			}
			break
		}
		u, ok := x.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		x = u.Unwrap()
	}
	return context.AfterFunc(ctx, f)
}

// copyFailed ends a response whose body could not be copied: the client's
// connection is ended (HTTP/1.1 closed, HTTP/2 stream reset) so that it
// cannot take a truncated body for a whole one, as ReverseProxy does. A
// handler outside a server (a test's recorder) only logs it, as
// ReverseProxy does too.
func (p *Proxy) copyFailed(r *http.Request, err error) {
	ctx := r.Context()
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug // the client left
	}
	p.logger.LogAttrs(ctx, level, "proxy response body copy failed",
		slog.String("upstream", p.upstreamLog), slog.String("error", err.Error()),
		slog.String("request_id", requestid.FromRequest(r)))
	if ctx.Value(http.ServerContextKey) == nil {
		return
	}
	panic(http.ErrAbortHandler)
}

// exchange writes r to c and reads the response header, forwarding 1xx
// interim responses to w. On success the body is read without a time
// limit, as Transport's: the header's deadline is lifted unless the body
// is already in the connection's buffer (see unlimit).
func (p *Proxy) exchange(ctx context.Context, w *interimWriter, c *upstreamConn, r *http.Request, body *spooledBody) (*http.Response, error) {
	// Writing the request and waiting for the response's header share
	// ResponseHeaderTimeout.
	if err := c.limit(time.Now(), p.headerTimeout); err != nil {
		return nil, err
	}
	if err := p.writeRequest(c.Conn, c.bw, r, body); err != nil {
		return nil, err
	}
	c.budget = maxResponseHeaderBytes
	for n := 0; ; n++ {
		res, err := readResponse(c.br, r, &c.scratch)
		if err != nil {
			return nil, err
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, errUnasked101
		case res.StatusCode >= 200:
			c.budget = -1
			if err := c.unlimit(res); err != nil {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return res, nil
		case n >= max1xx:
			return nil, errTooMany1xx
		case res.StatusCode == http.StatusContinue:
			// Never asked for (no Expect is sent): ignored.
			continue
		}
		// 103 Early Hints, 102 Processing: forwarded as ReverseProxy
		// does, the header map cleared after (interimWriter restores
		// the outer stages' fields and removes the fingerprints).
		removeHopByHop(res.Header)
		w.keepOuter()
		h := w.Header()
		for k, vv := range res.Header {
			h[k] = vv
		}
		w.WriteHeader(res.StatusCode)
		clear(h)
	}
}

// writeRequest writes r to bw as the upstream must see it: r's headers
// without the hop-by-hop ones, those the Connection header names, the
// client's forwarding and identity headers (Options.StripRequestHeaders
// and the defaults) and Expect (the body is complete); the gateway's
// identity headers (WithUpstreamHeaders); rampart's forwarding headers; a
// Content-Length; the body.
func (p *Proxy) writeRequest(w io.Writer, bw *bufio.Writer, r *http.Request, body *spooledBody) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(p.requestURI(r))
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if p.sendUpstreamHost {
		bw.WriteString(p.upstream.Host)
	} else {
		bw.WriteString(r.Host)
	}
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	up := UpstreamHeadersFromContext(r.Context())
	for k, vv := range r.Header {
		if skipRequestHeader(k) || len(conn) > 0 && hasToken(conn, k) || p.stripReq.has(k) {
			continue
		}
		if _, over := up[k]; over {
			continue
		}
		if k == "Te" {
			// Only "trailers" goes on, as ReverseProxy does.
			if httpguts.HeaderValuesContainsToken(vv, "trailers") {
				bw.WriteString("Te: trailers\r\n")
			}
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	for k, vv := range up {
		if reservedUpstream.has(k) {
			continue
		}
		k = http.CanonicalHeaderKey(k)
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	writeField(bw, "X-Forwarded-Proto", proto)
	if r.Host != "" {
		writeField(bw, "X-Forwarded-Host", r.Host)
	}
	client := clientip.FromRequest(r)
	if client.IsValid() {
		var buf [64]byte
		a := client.AppendTo(buf[:0])
		bw.WriteString("X-Forwarded-For: ")
		bw.Write(a)
		bw.WriteString("\r\nX-Real-Ip: ")
		bw.Write(a)
		bw.WriteString("\r\n")
	}
	if id := requestid.FromRequest(r); id != "" {
		writeField(bw, "X-Request-Id", id)
	}
	if p.forwarded {
		writeField(bw, "Forwarded", forwardedValue(client, r.Host, proto))
	}
	var size int64
	if body != nil {
		size = body.size
	}
	if size > 0 || r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		var buf [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(buf[:0], size, 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if size > 0 && size <= int64(bw.Available()) {
		// Small: with the header, in one write.
		if _, err := body.WriteTo(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	if err := bw.Flush(); err != nil || size == 0 {
		return err
	}
	// Large: in one write from memory, or sendfile from the file.
	_, err := body.WriteTo(w)
	return err
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// skipRequestHeader reports whether the request header k is never
// forwarded as the client sent it: hop-by-hop headers (RFC 9110 §7.6.1,
// ReverseProxy's list), the framing rampart writes itself, Expect, and the
// forwarding headers rampart sets (ReverseProxy drops the client's before
// Rewrite runs).
func skipRequestHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host", "Expect",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id":
		return true
	}
	return false
}

// requestURI is r's target as sent upstream: its path and query under the
// upstream URL's own (httputil's SetURL rules).
func (p *Proxy) requestURI(r *http.Request) string {
	t := p.upstream
	if t.Path == "" && t.RawPath == "" && t.RawQuery == "" {
		if u := r.URL.RequestURI(); u != "" {
			return u
		}
		return "/"
	}
	u := *r.URL
	u.Path, u.RawPath = joinURLPath(t, &u)
	switch {
	case t.RawQuery == "" || u.RawQuery == "":
		u.RawQuery = t.RawQuery + u.RawQuery
	default:
		u.RawQuery = t.RawQuery + "&" + u.RawQuery
	}
	return u.RequestURI()
}

// joinURLPath and singleJoiningSlash are httputil's, so both paths send
// the same target.
func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath := a.EscapedPath()
	bpath := b.EscapedPath()
	aslash := strings.HasSuffix(apath, "/")
	bslash := strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	aslash := strings.HasSuffix(a, "/")
	bslash := strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// removeHopByHop deletes the hop-by-hop headers of a response, and those
// its Connection header names.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textprotoTrim(sf); sf != "" {
				delete(h, http.CanonicalHeaderKey(sf))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func textprotoTrim(s string) string { return strings.TrimSpace(s) }

// errResponded: the error page has been written already.
var errResponded = errors.New("responded")

// respond sends res to the client: ReverseProxy's handling of a final
// response, with rampart's ModifyResponse. An error before anything was
// written to the client is answered here (errResponded); any other error
// happened while the body was being copied.
func (p *Proxy) respond(w *interimWriter, r *http.Request, res *http.Response) error {
	removeHopByHop(res.Header)
	if err := p.modifyResponse(res); err != nil {
		p.handleError(w, r, err)
		return errResponded
	}
	h := w.Header()
	for k, vv := range res.Header {
		if old := h[k]; len(old) > 0 {
			h[k] = append(old[:len(old):len(old)], vv...)
		} else {
			h[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := p.copyBody(w, res); err != nil {
		return err
	}
	res.Body.Close()
	if len(res.Trailer) > 0 {
		// Forces chunking (or HTTP/2 trailers) before the trailers are
		// set: net/http would otherwise compute a Content-Length for a
		// short body and send no trailer.
		http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			h[k] = vv
		}
		return nil
	}
	for k, vv := range res.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return nil
}

// copyBody copies res's body to w through a pooled buffer, flushing after
// every write when the response streams (no Content-Length, or an event
// stream), as ReverseProxy's flush interval of -1 does.
func (p *Proxy) copyBody(w http.ResponseWriter, res *http.Response) error {
	if res.Body == nil || res.Body == http.NoBody {
		return nil
	}
	flush := res.ContentLength == -1
	if ct, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";"); strings.EqualFold(strings.TrimSpace(ct), "text/event-stream") {
		flush = true
	}
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
	}
	buf := buffers.Get().(*[bufSize]byte)
	defer buffers.Put(buf)
	for {
		n, rerr := res.Body.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
