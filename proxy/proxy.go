// Package proxy is rampart's reverse proxy to the protected application:
// forwarding headers the application can trust, fingerprinting headers
// removed from responses, a request body limit, request buffering, and
// generic error pages.
//
// Ordinary requests to a plain-HTTP upstream take the direct path
// (direct.go): a pool of HTTP/1.1 connections used in the request's own
// goroutine, with net/http's parser, and the rules below applied by the
// same code as on the other path. WebSocket and other upgrades, streamed
// request bodies, HTTPS upstreams and a FlushInterval take an
// httputil.ReverseProxy with a Rewrite function.
//
// Request bodies are read completely before the upstream is contacted (in
// memory up to Options.BodyMemoryBytes within a global
// Options.BodyMemoryBudget, then in an unlinked temporary file within
// Options.BodyTempBudget), and sent with a Content-Length: a client
// sending slowly holds no application worker, and one that gives up
// mid-body causes no upstream request (see spool.go). The budgets are
// charged for bytes that have arrived, not for declared lengths, and one
// client may hold at most 1/ClientBudgetShare of each.
// Options.InsecureStreamRequestBodies and InsecureStreamRequestBodyPaths
// turn this off, everywhere or for some paths.
//
// What the upstream receives, whatever the client sent:
//
//   - X-Forwarded-For and X-Real-IP: the client address rampart resolved
//     (clientip.FromRequest), alone. A client-supplied chain is never
//     appended: the clientip resolver already decided which hops to trust,
//     and an application reading the leftmost entry, as many do, would
//     otherwise log and rate-limit an address the client chose.
//   - X-Forwarded-Proto: "https" when the client connection is TLS, else
//     "http". Behind a TLS-terminating proxy an application that forces
//     HTTPS (Flask-Talisman force_https, Django SECURE_SSL_REDIRECT) sees
//     plain HTTP unless told otherwise, and redirects forever.
//   - X-Forwarded-Host: the Host the client sent; Host itself is preserved
//     unless Options.SendUpstreamHost is set.
//   - X-Request-ID: rampart's request id, when one was assigned.
//   - Forwarded (RFC 7239), when Options.Forwarded is set.
//
// Client-sent values of all of these, of identity headers such as
// X-Remote-User (DefaultStripRequestHeaders plus Options.StripRequestHeaders)
// and of hop-by-hop headers (including any a client names in Connection) are
// removed first. httputil.ReverseProxy.Rewrite, unlike the deprecated
// Director, runs after hop-by-hop removal, so a client cannot make the proxy
// drop a header it sets by listing it in Connection.
//
// Location, Content-Location and Refresh response headers naming the
// upstream's own origin (http://127.0.0.1:5000/login) are rewritten to the
// origin the client used, as nginx's proxy_redirect default does (see
// redirects.go), unless Options.InsecureNoRedirectRewrite is set.
//
// WebSocket and other Upgrade requests are passed through: after the 101
// response the two connections are spliced until either side closes, and
// no timeout of this package applies to them any more. Upgrades to h2c or
// another HTTP version are not: they would tunnel requests past rampart
// (see upgrade.go).
//
// Errors are answered with httperr.Write and nothing else: 502 when the
// upstream cannot be reached, 504 when it times out, 413 when the body is
// too large. The upstream address and the error text go to the log only.
// An upstream 5xx that is a stack trace or a framework's debug page
// (Werkzeug, Django, Rails, Express, Go panics) is replaced by the same
// generic page with its status, like nginx's proxy_intercept_errors (see
// Options.InterceptErrors and debugpage.go).
package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// Proxy is an http.Handler forwarding requests to one upstream. It is safe
// for concurrent use and immutable once built.
type Proxy struct {
	rp               httputil.ReverseProxy
	transport        *http.Transport
	pool             *upstreamPool // the direct path's; nil: ReverseProxy only (see direct.go)
	headerTimeout    time.Duration
	upstream         *url.URL
	upstreamLog      string // Upstream without user info, for logs
	sendUpstreamHost bool
	forwarded        bool
	maxBody          int64
	streamBodies     bool
	streamPaths      []reqpath.Prefix
	spooler          *spooler
	shareSampler     seclog.Sampler
	upgradeIdle      time.Duration
	stripReq         headerSet
	removeResp       headerSet
	redirects        *redirectRewriter // nil with InsecureNoRedirectRewrite
	intercept        InterceptErrors
	logger           *slog.Logger
	seclog           *seclog.Logger
	sampler          seclog.Sampler
	debugSampler     seclog.Sampler
	onResult         func(*http.Request, Result)
}

// New validates o and returns a Proxy. Errors name the offending setting by
// its YAML key (for example "upstream.url: required"); all are reported at
// once.
func New(o Options) (*Proxy, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	u := *o.Upstream
	p := &Proxy{
		upstream:         &u,
		upstreamLog:      u.Redacted(),
		sendUpstreamHost: o.SendUpstreamHost,
		forwarded:        o.Forwarded,
		maxBody:          orDefault(o.MaxBodyBytes, DefaultMaxBodyBytes),
		upgradeIdle:      orDefaultDuration(o.UpgradeIdleTimeout, DefaultUpgradeIdleTimeout),
		stripReq:         newHeaderSet(defaultStripRequestHeaders, o.StripRequestHeaders),
		removeResp:       newHeaderSet(defaultRemoveResponseHeaders, o.RemoveResponseHeaders),
		logger:           o.Logger,
		seclog:           o.SecLog,
		// A down upstream fails every request; a few security events
		// per second say so, the suppressed count says how often.
		sampler:      seclog.Sampler{Burst: 5, MaxKeys: 1},
		debugSampler: seclog.Sampler{Burst: 5, MaxKeys: 1},
		intercept:    o.InterceptErrors,
		// A client refused for holding its share of the body buffers
		// is logged once per client every 10 s, with the count of
		// refusals in between (as the connection cap does).
		shareSampler: seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000},
		streamBodies: o.InsecureStreamRequestBodies,
		onResult:     o.OnResult,
	}
	for _, s := range o.InsecureStreamRequestBodyPaths {
		pre, _ := reqpath.ParsePrefix(s) // validated
		p.streamPaths = append(p.streamPaths, pre)
	}
	dir := o.BodyTempDir
	if dir == "" {
		dir = os.TempDir()
	}
	p.spooler = newSpooler(orDefault(o.BodyMemoryBytes, DefaultBodyMemoryBytes), p.maxBody,
		orDefault(o.BodyMemoryBudget, DefaultBodyMemoryBudget), orDefault(o.BodyTempBudget, DefaultBodyTempBudget), dir)
	if p.logger == nil {
		p.logger = slog.Default()
	}
	if !o.InsecureNoRedirectRewrite {
		p.redirects = newRedirectRewriter(&u)
	}
	p.transport = newTransport(&o)
	p.headerTimeout = orDefaultDuration(o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	if u.Scheme == "http" && o.FlushInterval == 0 {
		host := u.Host
		if u.Port() == "" {
			host += ":80"
		}
		p.pool = newUpstreamPool(host, orDefaultDuration(o.DialTimeout, DefaultDialTimeout),
			orDefaultDuration(o.IdleConnTimeout, DefaultIdleConnTimeout), orDefault(o.MaxIdleConns, DefaultMaxIdleConns))
	}
	p.rp = httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.transport,
		FlushInterval:  o.FlushInterval,
		ErrorLog:       slog.NewLogLogger(p.logger.Handler(), slog.LevelWarn),
		BufferPool:     bufferPool{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.handleError,
	}
	return p, nil
}

func orDefault[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// BodyBufferUse returns the bytes the request bodies being buffered hold
// now, in memory and in temporary files: the use of BodyMemoryBudget and
// BodyTempBudget, for metrics.
func (p *Proxy) BodyBufferUse() (memory, disk int64) {
	return p.spooler.mem.used.Load(), p.spooler.disk.used.Load()
}

// CloseIdleConnections closes the idle keep-alive connections to the
// upstream. Call it when a Proxy is replaced (configuration reload).
func (p *Proxy) CloseIdleConnections() {
	p.transport.CloseIdleConnections()
	if p.pool != nil {
		p.pool.closeIdle(false)
	}
}

// ServeHTTP forwards r to the upstream.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		// httputil.ReverseProxy cannot tunnel; refuse here rather than
		// let it report an upstream error.
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		httperr.Write(w, r, http.StatusMethodNotAllowed, "", requestid.FromRequest(r))
		return
	}
	if r.ContentLength > p.maxBody {
		p.bodyTooLarge(w, r)
		return
	}
	if badUpgrade(r.Header) {
		httperr.Write(w, r, http.StatusBadRequest, "", requestid.FromRequest(r))
		return
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	var spooled *spooledBody
	buffered := !hasBody
	if hasBody && !p.streamBodies && !p.streamPath(r) {
		// Read the whole body before the upstream is contacted (see
		// spool.go).
		body, err := p.spooler.spool(clientBody{r.Body}, r.ContentLength, clientip.FromRequest(r))
		if err != nil {
			p.handleError(w, r, err)
			return
		}
		defer body.free()
		spooled, buffered = body, true
		if body.size == 0 {
			spooled = nil
		}
		r2 := *r
		r2.Body, r2.ContentLength = body, body.size
		switch {
		case body.size == 0:
			r2.Body = http.NoBody
		case body.f == nil:
			// The transport recognizes a *bytes.Reader (through
			// io.NopCloser) and writes headers and body at once.
			r2.Body = io.NopCloser(&body.mem)
		}
		// Sent with a Content-Length, never chunked. Request trailers
		// cannot follow a body of known length and are dropped, as
		// nginx does.
		r2.TransferEncoding, r2.Trailer = nil, nil
		r = &r2
	} else if hasBody {
		r2 := *r
		r2.Body = r.Body
		if r.ContentLength < 0 {
			// A body of unknown length (chunked) is cut at the limit;
			// the transport then fails with *http.MaxBytesError,
			// answered 413 by handleError. A body with a
			// Content-Length is already bounded by it and needs no
			// wrapper.
			r2.Body = http.MaxBytesReader(w, r.Body, p.maxBody)
		}
		// Errors reading it are the client's, not the upstream's.
		r2.Body = clientBody{r2.Body}
		r = &r2
		// Even when streaming, a small body is read whole before the
		// upstream is contacted (see BodyBufferBytes).
		if !p.bufferSmallBody(w, r) {
			return
		}
	}
	iw := &interimWriter{ResponseWriter: w, remove: p.removeResp, urls: p.redirects, tls: r.TLS != nil, host: r.Host}
	if p.onResult != nil {
		iw.onResult, iw.req, iw.start = p.onResult, r, time.Now()
	}
	if p.direct(r, buffered) {
		iw.lazy = true
		p.serveDirect(iw, r, spooled)
		return
	}
	p.rp.ServeHTTP(iw, r)
}

// rewrite builds the upstream request. ReverseProxy has already removed
// hop-by-hop headers and the client's Forwarded and X-Forwarded-* headers.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.upstream)
	in, out := pr.In, pr.Out
	if !p.sendUpstreamHost {
		out.Host = in.Host
	}
	h := out.Header
	p.stripReq.removeFrom(h)
	if _, streamed := in.Body.(clientBody); !streamed {
		// The body is already complete (or absent): rampart answered
		// the client's Expect: 100-continue itself (net/http sends the
		// 100 when the body is first read), and the upstream must not
		// make the transport wait for a 100 of its own.
		delete(h, "Expect")
	}
	if up := h["Upgrade"]; len(up) > 0 && upgradeTunnelsHTTP(up) {
		// See upgrade.go: no HTTP tunnel past the gateway.
		delete(h, "Upgrade")
		delete(h, "Connection")
	}
	for k, vv := range UpstreamHeadersFromContext(in.Context()) {
		if !reservedUpstream.has(k) {
			h[http.CanonicalHeaderKey(k)] = vv
		}
	}

	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	// One backing array for every value set below; the three-index
	// slices keep an append to one header from overwriting another.
	vals := make([]string, 5)
	vals[0] = proto
	h["X-Forwarded-Proto"] = vals[0:1:1]
	if in.Host != "" { // HTTP/1.0 requests may have none
		vals[1] = in.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	client := clientip.FromRequest(in)
	if client.IsValid() {
		vals[2] = client.String()
		h["X-Forwarded-For"] = vals[2:3:3]
		h["X-Real-Ip"] = vals[2:3:3]
	} else {
		delete(h, "X-Forwarded-For")
		delete(h, "X-Real-Ip")
	}
	if id := requestid.FromRequest(in); id != "" {
		vals[3] = id
		h["X-Request-Id"] = vals[3:4:4]
	}
	if p.forwarded {
		vals[4] = forwardedValue(client, in.Host, proto)
		h["Forwarded"] = vals[4:5:5]
	}
}

// modifyResponse removes fingerprinting headers from the upstream response
// (including a 101 Switching Protocols), from its trailers and from its
// 1xx interim responses (see interimWriter). ReverseProxy has already
// removed hop-by-hop headers. rampart sends no Server header of its own:
// net/http adds none.
func (p *Proxy) modifyResponse(res *http.Response) error {
	p.removeResp.removeFrom(res.Header)
	// Trailers: the names announced now (ReverseProxy announces them
	// from this map), the values once the body has ended. A 101's body
	// is the upgraded connection: it must stay an io.ReadWriteCloser,
	// and gets the idle timeout (see idleConn).
	if res.Trailer != nil {
		p.removeResp.removeFrom(res.Trailer)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		if rwc, ok := res.Body.(io.ReadWriteCloser); ok {
			res.Body = newIdleConn(rwc, p.upgradeIdle)
		}
		return nil
	}
	if res.StatusCode >= 500 && res.StatusCode <= 599 && p.intercept != InsecureInterceptOff {
		// Only 5xx responses are read ahead (see debugpage.go); every
		// other response streams as it comes.
		if err := p.inspectServerError(res); err != nil {
			return err
		}
	}
	if (res.Trailer != nil || res.ContentLength < 0) &&
		res.Body != nil && res.Body != http.NoBody {
		res.Body = &trailerFilter{ReadCloser: res.Body, res: res, remove: p.removeResp}
	}
	return nil
}

// streamPath reports whether r's body is streamed by
// InsecureStreamRequestBodyPaths. A path without a canonical form
// (reqpath) is buffered: the client could otherwise get a body streamed to
// a page that buffers, by dressing its path as an upload path
// ("/upload/../login").
func (p *Proxy) streamPath(r *http.Request) bool {
	if len(p.streamPaths) == 0 {
		return false
	}
	c, err := reqpath.FromRequest(r)
	return err == nil && reqpath.Longest(p.streamPaths, c) >= 0
}
