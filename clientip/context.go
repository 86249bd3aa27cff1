package clientip

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/rampart-dev/rampart/internal/reqstate"
)

// NewContext returns a copy of ctx carrying addr as the request's real client
// address. The Resolver middleware records the same, once per request;
// other stages read it back with FromContext or FromRequest.
func NewContext(ctx context.Context, addr netip.Addr) context.Context {
	s, ctx := reqstate.With(ctx)
	s.Client = addr
	return ctx
}

// FromContext returns the client address stored by NewContext or the
// Resolver middleware.
func FromContext(ctx context.Context) (netip.Addr, bool) {
	if s := reqstate.From(ctx); s != nil {
		return s.Client, s.Client.IsValid()
	}
	return netip.Addr{}, false
}

// clientFree is reqstate.Take's test for the client address.
func clientFree(s *reqstate.State) bool { return !s.Client.IsValid() }

// FromRequest returns the resolved client address of r. Without a resolver in
// front (the library used alone), it falls back to the TCP peer in
// r.RemoteAddr, which is the only address that cannot be spoofed; it never
// reads a forwarding header. The result is unmapped (::ffff:a.b.c.d becomes
// a.b.c.d) so one client has one key. It returns the zero Addr when neither
// is usable.
func FromRequest(r *http.Request) netip.Addr {
	if a, ok := FromContext(r.Context()); ok {
		return a
	}
	return PeerAddr(r)
}

// PeerAddr parses r.RemoteAddr, the address of the TCP peer, unmapped and
// without zone. It returns the zero Addr if RemoteAddr is not an IP address
// (a unix socket, a test that left it empty).
func PeerAddr(r *http.Request) netip.Addr {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
