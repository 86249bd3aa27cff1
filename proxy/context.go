package proxy

import (
	"context"
	"net/http"
)

type upstreamHeadersKey struct{}

// WithUpstreamHeaders returns a copy of ctx asking the Proxy to send h to
// the upstream with the request. This is how a stage in front of the proxy
// (rampart's authentication, which knows the user) passes identity headers
// such as X-Auth-Request-User: the proxy first strips every header of that
// name the client sent, then adds h, so the application can trust them.
// Setting them on r.Header instead would not work: they would be stripped
// with the client's.
//
// The forwarding headers the proxy sets itself (X-Forwarded-*, X-Real-IP,
// X-Request-ID, Forwarded) and hop-by-hop headers cannot be set this way;
// such names in h are ignored. h must not be modified after the call.
// A second call replaces the headers of the first.
func WithUpstreamHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, upstreamHeadersKey{}, h)
}

// UpstreamHeadersFromContext returns the headers stored by
// WithUpstreamHeaders, or nil.
func UpstreamHeadersFromContext(ctx context.Context) http.Header {
	h, _ := ctx.Value(upstreamHeadersKey{}).(http.Header)
	return h
}

// reservedUpstream are the headers a context cannot set: the proxy's own
// forwarding headers, which must always describe the real connection, and
// hop-by-hop headers, which belong to one connection and would confuse
// request framing.
var reservedUpstream = newHeaderSet([]string{
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	"X-Real-IP",
	"X-Request-ID",
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
	"Host",
	"Content-Length",
})
