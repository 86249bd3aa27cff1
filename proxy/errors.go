package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// Reason classifies why a proxied request failed.
type Reason int

const (
	// ReasonUnavailable: the upstream refused the connection, reset it,
	// closed it early or sent garbage. Answered 502.
	ReasonUnavailable Reason = iota
	// ReasonTimeout: connecting, the TLS handshake or the wait for
	// response headers took too long. Answered 504.
	ReasonTimeout
	// ReasonBodyTooLarge: the request body exceeded MaxBodyBytes.
	// Answered 413.
	ReasonBodyTooLarge
	// ReasonClientGone: the client disconnected (its request context was
	// canceled). Not an upstream failure: logged at debug level, recorded
	// as safe.StatusClientClosedRequest, no error page.
	ReasonClientGone
	// ReasonBadRequest: the client's request body could not be read
	// (ended short of its declared length, malformed chunking). Not an
	// upstream failure: logged at info level. Answered 400.
	ReasonBadRequest
	// ReasonClientTimeout: the client sent its request body too slowly
	// (the listener's read timeout fired). Not an upstream failure.
	// Answered 408.
	ReasonClientTimeout
	// ReasonBodyBufferFailed: the request body could not be buffered
	// (the temporary file could not be created or written: BodyTempDir
	// missing, disk full). rampart's own failure, logged at error level;
	// the upstream was not contacted. Answered 500, as nginx does.
	ReasonBodyBufferFailed
	// ReasonBodyBuffersFull: the body's next bytes would take the
	// temporary files of the bodies being buffered over BodyTempBudget,
	// or its client's files over the client's share of it (see
	// ClientBudgetShare). Logged at warning level with the client and
	// which limit was reached (many large uploads at once, or an
	// attempt to fill the disk); a client over its share is also a
	// security event. The upstream was not contacted. Answered 503.
	ReasonBodyBuffersFull
)

// Classify says why err, returned by the transport for r, happened.
func Classify(r *http.Request, err error) Reason {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ReasonBodyTooLarge
	}
	var full *buffersFullError
	if errors.As(err, &full) {
		return ReasonBodyBuffersFull
	}
	var se *spoolError
	if errors.As(err, &se) {
		return ReasonBodyBufferFailed
	}
	// A canceled request context means the client left, whatever error
	// the transport made of it (canceled dial, broken body read). A
	// context.Canceled with the request context alive is an upstream-side
	// failure.
	// A body read that timed out cancels the request context too (the
	// connection's read failed), but the client is still there to be
	// told 408.
	reason, bodyErr := clientBodyReason(err)
	if bodyErr && reason == ReasonClientTimeout {
		return reason
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		return ReasonClientGone
	}
	if bodyErr {
		return reason
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	return ReasonUnavailable
}

// Status is the HTTP status the proxy answers for reason.
func (reason Reason) Status() int {
	switch reason {
	case ReasonTimeout:
		return http.StatusGatewayTimeout
	case ReasonBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case ReasonClientGone:
		return safe.StatusClientClosedRequest
	case ReasonBadRequest:
		return http.StatusBadRequest
	case ReasonClientTimeout:
		return http.StatusRequestTimeout
	case ReasonBodyBufferFailed:
		return http.StatusInternalServerError
	case ReasonBodyBuffersFull:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadGateway
	}
}

func (reason Reason) String() string {
	switch reason {
	case ReasonTimeout:
		return "upstream_timeout"
	case ReasonBodyTooLarge:
		return "body_too_large"
	case ReasonClientGone:
		return "client_gone"
	case ReasonBadRequest:
		return "bad_request_body"
	case ReasonClientTimeout:
		return "client_body_timeout"
	case ReasonBodyBufferFailed:
		return "body_buffer_failed"
	case ReasonBodyBuffersFull:
		return "body_buffers_full"
	default:
		return "upstream_unavailable"
	}
}

// handleError is the ReverseProxy ErrorHandler. r is the outbound request
// (same context as the inbound one; URL and Host as sent upstream). The
// client gets a generic page; the detail goes to the log.
func (p *Proxy) handleError(w http.ResponseWriter, r *http.Request, err error) {
	if ie := asIntercepted(err); ie != nil {
		p.writeIntercepted(w, r, ie)
		return
	}
	ctx := r.Context()
	id := requestid.FromRequest(r)
	reason := Classify(r, err)
	code := reason.Status()
	p.reportFailure(w, r, reason)
	attrs := []slog.Attr{
		slog.String("reason", reason.String()),
		slog.String("upstream", p.upstreamLog),
		slog.String("error", err.Error()),
		slog.String("request_id", id),
		slog.String("client_ip", clientAddr(r)),
		slog.String("method", r.Method),
		slog.String("path", safe.Clean(r.URL.Path, 1024)),
		slog.Int("status", code),
	}
	switch reason {
	case ReasonClientGone:
		p.logger.LogAttrs(ctx, slog.LevelDebug, "client closed request before the upstream answered", attrs...)
		w.WriteHeader(code)
		return
	case ReasonBadRequest, ReasonClientTimeout:
		p.logger.LogAttrs(ctx, slog.LevelInfo, "client request body unreadable", attrs...)
		w.Header().Set("Connection", "close")
		httperr.Write(w, r, code, "", id)
		return
	case ReasonBodyTooLarge:
		p.logger.LogAttrs(ctx, slog.LevelInfo, "request body too large", attrs...)
		w.Header().Set("Connection", "close")
		httperr.Write(w, r, code, "", id)
		return
	case ReasonBodyBufferFailed:
		p.logger.LogAttrs(ctx, slog.LevelError, "request body could not be buffered", attrs...)
		// The body may be partly unread: close the connection.
		w.Header().Set("Connection", "close")
		httperr.Write(w, r, code, "", id)
		return
	case ReasonBodyBuffersFull:
		p.bodyBuffersFull(w, r, err, attrs)
		return
	}
	p.logger.LogAttrs(ctx, slog.LevelError, "proxy request failed", attrs...)
	if ok, suppressed := p.sampler.Allow("upstream"); ok {
		p.seclog.Event(ctx, r, slog.LevelError, seclog.UpstreamUnavailable,
			"upstream unavailable",
			slog.String("upstream", p.upstreamLog),
			slog.String("reason", reason.String()),
			slog.Int("status", code),
			slog.Int("suppressed", suppressed),
		)
	}
	httperr.Write(w, r, code, "", id)
}

// bodyBuffersFull answers 503 to a request whose body's next bytes would
// take the temporary files over their budget, or its client's files over
// the client's share. The log says which: "client_share" names a client
// that holds its share (one client sending large bodies on many
// connections at once: an attempt to starve the others, or an office
// uploading more than the share allows), which is also a security event,
// sampled per client; "total" means the budget itself is in use by
// several clients (raise limits.body_temp_budget, or many addresses are
// attacking together).
func (p *Proxy) bodyBuffersFull(w http.ResponseWriter, r *http.Request, err error, attrs []slog.Attr) {
	ctx := r.Context()
	id := requestid.FromRequest(r)
	var full *buffersFullError
	if !errors.As(err, &full) {
		full = &buffersFullError{}
	}
	scope, msg := "total", "request body refused: the temporary files of request bodies use all of the budget"
	if full.client.IsValid() {
		scope, msg = "client_share", "request body refused: the client's request bodies hold its share of the temporary file budget"
	}
	detail := []slog.Attr{
		slog.String("budget", scope),
		slog.Int64("held", full.held),
		slog.Int64("limit", full.limit),
	}
	if full.client.Is6() {
		// The share is counted per /64: say which, as the address
		// alone does not show the other addresses counted with it.
		detail = append(detail, slog.String("client_key", netip.PrefixFrom(full.client, 64).String()))
	}
	p.logger.LogAttrs(ctx, slog.LevelWarn, msg, append(attrs, detail...)...)
	if full.client.IsValid() {
		if ok, suppressed := p.shareSampler.Allow(full.client.String()); ok {
			p.seclog.Event(ctx, r, slog.LevelWarn, seclog.ExcessRateLimitExceeded,
				"request body refused: client holds its share of the body buffers",
				append(detail,
					slog.String("reason", ReasonBodyBuffersFull.String()),
					slog.Int("status", http.StatusServiceUnavailable),
					slog.Int("suppressed", suppressed),
				)...,
			)
		}
	}
	// The body is partly unread: close the connection.
	w.Header().Set("Connection", "close")
	httperr.Write(w, r, http.StatusServiceUnavailable, "", id)
}

// bodyTooLarge answers a request whose declared Content-Length is over the
// limit, before anything is read or sent upstream.
func (p *Proxy) bodyTooLarge(w http.ResponseWriter, r *http.Request) {
	id := requestid.FromRequest(r)
	p.reportFailure(w, r, ReasonBodyTooLarge)
	p.logger.LogAttrs(r.Context(), slog.LevelInfo, "request body too large",
		slog.String("reason", ReasonBodyTooLarge.String()),
		slog.Int64("content_length", r.ContentLength),
		slog.Int64("limit", p.maxBody),
		slog.String("request_id", id),
		slog.String("client_ip", clientAddr(r)),
		slog.String("method", r.Method),
		slog.String("path", safe.Clean(r.URL.Path, 1024)),
		slog.Int("status", http.StatusRequestEntityTooLarge),
	)
	// The body stays unread; closing the connection keeps a client from
	// streaming the rest of it into the next request's parser.
	w.Header().Set("Connection", "close")
	httperr.Write(w, r, http.StatusRequestEntityTooLarge, "", id)
}

// reportFailure tells OnResult that the proxy answers r itself for
// reason, with the time since the request was ready to go upstream when w
// knows it. The error page written next is then not reported again.
func (p *Proxy) reportFailure(w http.ResponseWriter, r *http.Request, reason Reason) {
	if p.onResult == nil {
		return
	}
	res := Result{Failed: true, Reason: reason, Status: reason.Status()}
	if iw, ok := w.(*interimWriter); ok {
		if iw.reported {
			return
		}
		iw.reported = true
		res.Duration = time.Since(iw.start)
	}
	p.onResult(r, res)
}

func clientAddr(r *http.Request) string {
	if a := clientip.FromRequest(r); a.IsValid() {
		return a.String()
	}
	return ""
}
