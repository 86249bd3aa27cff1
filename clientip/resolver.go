package clientip

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/reqstate"
)

// Header names the resolver understands.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-Ip" // canonical form of X-Real-IP
	HeaderForwarded     = "Forwarded" // RFC 7239
)

// Options configures a Resolver. The zero value is the safe configuration:
// no proxy is trusted, so the client address is always the TCP peer and no
// forwarding header is ever read.
type Options struct {
	// TrustedProxies lists the networks of the reverse proxies (load
	// balancers, CDN edges, a local nginx) allowed to tell us the client
	// address. Default: none, which ignores every forwarding header.
	//
	// List only proxies you operate or whose egress ranges are published:
	// anyone able to connect from a trusted prefix can claim any client
	// address. A prefix of length 0 (0.0.0.0/0, ::/0) trusts the whole
	// Internet and is rejected. Prefixes are normalised (host bits cleared,
	// ::ffff:a.b.c.d/n folded to a.b.c.d/(n-96)).
	TrustedProxies []netip.Prefix

	// Header is the forwarding header the trusted proxies set. Default
	// "X-Forwarded-For" (nginx $proxy_add_x_forwarded_for, most load
	// balancers). Alternatives: "X-Real-IP" (a single address that the
	// proxy must overwrite, nginx `proxy_set_header X-Real-IP
	// $remote_addr`) and "Forwarded" (RFC 7239). Case does not matter.
	Header string
}

// Resolver finds the real client address of a request. It is immutable and
// safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	header  string // canonical header key
}

// Validate reports what is wrong with o, and what is valid but risky, by
// Go field path ("TrustedProxies[2]", "Header"). New refuses o on any
// error; the warnings are for `rampart config check`.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	const hint = "list only your load balancers' or CDN's networks"
	for i, p := range o.TrustedProxies {
		path := field.Index("TrustedProxies", i)
		if !p.IsValid() {
			errs.Errorf(path, hint, "is not a valid CIDR prefix")
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() < 96 {
			// ::ffff:0:0/80 reaches beyond the mapped IPv4 space and
			// has no IPv4 form.
			errs.Errorf(path, "write the IPv4 prefix itself", "%s: an IPv4-mapped prefix must be at least /96", p)
			continue
		}
		n := normalizePrefix(p)
		switch a := n.Addr(); {
		case n.Bits() == 0:
			errs.Errorf(path, hint, "%s trusts every address: any client could forge X-Forwarded-For and choose the address that is logged and rate-limited", n)
		case !a.IsPrivate() && !a.IsLoopback() && (a.Is4() && n.Bits() < 8 || a.Is6() && n.Bits() < 16):
			errs.Warnf(path, hint, "%s is a very large public range; every host in it can choose its client address", n)
		}
	}
	switch header(o.Header) {
	case "":
		errs.Errorf("Header", "use X-Forwarded-For, X-Real-IP or Forwarded", "%q is not supported", o.Header)
	case HeaderXRealIP:
		if len(o.TrustedProxies) > 0 {
			errs.Warnf("Header", "use X-Forwarded-For unless a proxy sets only X-Real-IP",
				"X-Real-IP is only safe when every trusted proxy overwrites it; X-Forwarded-For lets rampart check each hop")
		}
	}
	if len(o.TrustedProxies) == 0 && strings.TrimSpace(o.Header) != "" {
		errs.Warnf("Header", "remove it, or list the proxies that set it in the trusted proxies", "has no effect without trusted proxies: the TCP peer is the client")
	}
	return errs
}

// header is the canonical header key o.Header names, or "" when it names
// none the resolver reads.
func header(h string) string {
	switch h := http.CanonicalHeaderKey(strings.TrimSpace(h)); h {
	case "", HeaderXForwardedFor:
		return HeaderXForwardedFor
	case HeaderXRealIP, HeaderForwarded:
		return h
	}
	return ""
}

// New validates o and returns a Resolver.
func New(o Options) (*Resolver, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	res := &Resolver{header: header(o.Header)}
	for _, p := range o.TrustedProxies {
		res.trusted = append(res.trusted, normalizePrefix(p))
	}
	return res, nil
}

// normalizePrefix clears host bits and folds a v4-mapped IPv6 prefix to its
// IPv4 form. Addresses are unmapped before the containment check, so a
// mapped prefix would otherwise never match anything.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// Trusted reports whether addr (unmapped, zone dropped) is inside a trusted
// proxy prefix.
func (res *Resolver) Trusted(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range res.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// TrustedPeer reports whether the TCP peer of r is a trusted proxy. It is
// the predicate requestid.Options.TrustIncoming expects.
func (res *Resolver) TrustedPeer(r *http.Request) bool {
	return res.Trusted(PeerAddr(r))
}

// Resolve returns the client address of r. The decision:
//
//  1. If the TCP peer is not a trusted proxy, the client is the peer;
//     forwarding headers are ignored, since the client wrote them.
//  2. Otherwise the forwarding header (all its lines, joined in order) is
//     walked from right to left, the right-most entry being the one our
//     own proxy appended. Entries inside trusted prefixes are further
//     proxies and are skipped; the first untrusted entry is the client.
//     Everything to its left was written by the client or by proxies we do
//     not trust, so a spoofed left-most entry is never used.
//  3. The walk fails closed: an element that is not exactly an address
//     (garbage, an empty element, a port in X-Forwarded-For, "unknown" or
//     an obfuscated identifier in Forwarded, an element longer than any
//     address), an element beyond MaxHops, or a line longer than the
//     scan bound (maxLineScan) stops the walk, and the
//     client is the last trusted hop seen (the peer if the first element
//     is bad). We do not skip the bad element and keep walking left, as
//     some libraries do, because every element further left is under the
//     client's control: skipping would let one broken hop hand the choice
//     of address to the attacker. We do not reject the request either:
//     the garbage may come from our own proxy's configuration, and
//     attributing the request to a proxy we trust is the conservative
//     choice (rate limits and bans then apply to that proxy, which is
//     loud, not to an address an attacker picked, which is silent).
//     If every entry is trusted, the left-most one is the client.
//
// The result is unmapped (::ffff:a.b.c.d becomes a.b.c.d) and has no IPv6
// zone, so one client has one key and an alias cannot escape a prefix
// check. It is the zero Addr only when the peer itself is not an IP
// address (a unix socket) and no header applies.
func (res *Resolver) Resolve(r *http.Request) netip.Addr {
	peer := PeerAddr(r)
	if !res.Trusted(peer) {
		return peer
	}
	values := r.Header[res.header]
	if len(values) == 0 {
		return peer
	}
	switch res.header {
	case HeaderXRealIP:
		return res.realIP(values, peer)
	case HeaderForwarded:
		return res.walk(values, peer, parseForwardedElement)
	default:
		return res.walk(values, peer, parseXFFElement)
	}
}

// realIP accepts X-Real-IP only when it is one line holding one address.
// Two lines mean the proxy appended instead of overwriting, so neither can
// be trusted.
func (res *Resolver) realIP(values []string, peer netip.Addr) netip.Addr {
	if len(values) != 1 {
		return peer
	}
	a, ok := parseXFFElement(values[0])
	if !ok {
		return peer
	}
	return a
}

// walk implements steps 2 and 3 of Resolve over header values, with parse
// turning one comma-separated element into an address.
func (res *Resolver) walk(values []string, peer netip.Addr, parse func(string) (netip.Addr, bool)) netip.Addr {
	last := peer // last trusted hop seen
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		// Only the tail of a long line can hold the hops we may read;
		// reaching the cut means the chain is longer than we accept.
		cut := len(v) > maxLineScan
		if cut {
			v = v[len(v)-maxLineScan:]
		}
		for {
			elem := v
			j := strings.LastIndexByte(v, ',')
			if j >= 0 {
				elem, v = v[j+1:], v[:j]
			} else if cut {
				return last
			}
			hops++
			if hops > MaxHops {
				return last
			}
			a, ok := parse(elem)
			if !ok {
				return last
			}
			if !res.Trusted(a) {
				return a
			}
			last = a
			if j < 0 {
				break
			}
		}
	}
	return last
}

// Handler stores the resolved address in the request context (read it with
// FromRequest or FromContext) and calls next.
func (res *Resolver) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := res.Resolve(r); a.IsValid() {
			var s *reqstate.State
			s, r = reqstate.Take(r, clientFree)
			s.Client = a
		}
		next.ServeHTTP(w, r)
	})
}
