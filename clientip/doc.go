// Package clientip finds the real address of the client behind trusted
// reverse proxies, and fails closed: a header is believed only when the TCP
// peer is a proxy listed in Options.TrustedProxies, and only up to the first
// hop that is not trusted. Resolver.Handler is the middleware; FromRequest
// reads its result (or the TCP peer when no resolver ran).
//
// The rules follow go-chi/chi's middleware/client_ip.go: the right-most
// untrusted X-Forwarded-For hop wins, v4-mapped IPv6 is folded to IPv4, and
// zones are dropped, so an attacker cannot alias a trusted hop.
package clientip
