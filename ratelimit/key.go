package ratelimit

import (
	"net/http"
	"net/netip"

	"github.com/rampart-dev/rampart/clientip"
)

type keyKind uint8

const (
	keyClientIP keyKind = iota
	keyHeader
	keyConstant
	keyFunc
)

// unknownClient is the key of requests whose client address is unknown:
// they are limited together rather than exempted.
const unknownClient = "unknown"

// reqKey is the per-request key context: the client address is resolved at
// most once.
type reqKey struct {
	r     *http.Request
	ip    netip.Addr
	ipSet bool
}

func (k *reqKey) addr() netip.Addr {
	if !k.ipSet {
		k.ip = clientip.FromRequest(k.r)
		k.ipSet = true
	}
	return k.ip
}

// appendKey appends the zone's key for the request to b. ok is false when
// the request is not limited by the zone (empty key, allowlisted client).
// The bytes are only hashed, never kept.
func (z *zone) appendKey(b []byte, k *reqKey) ([]byte, bool) {
	if len(z.allow) > 0 {
		if a := k.addr(); a.IsValid() {
			for _, p := range z.allow {
				if p.Contains(a) {
					return b, false
				}
			}
		}
	}
	switch z.kind {
	case keyClientIP:
		a := k.addr()
		if !a.IsValid() {
			return append(b, unknownClient...), true
		}
		p := z.prefixOf(a)
		a16 := p.Addr().As16()
		return append(b, a16[:]...), true
	case keyHeader:
		v := k.r.Header.Get(z.header)
		return append(b, v...), v != ""
	case keyConstant:
		return append(b, 'c'), true
	default:
		v := z.fn(k.r)
		return append(b, v...), v != ""
	}
}

func (z *zone) prefixOf(a netip.Addr) netip.Prefix {
	bits := z.v6bits
	if a.Is4() {
		bits = z.v4bits
	}
	p, _ := a.Prefix(bits)
	return p
}

// keyString returns the key in printable form, for logs and shared stores.
func (z *zone) keyString(k *reqKey) string {
	switch z.kind {
	case keyClientIP:
		a := k.addr()
		if !a.IsValid() {
			return unknownClient
		}
		return z.prefixOf(a).String()
	case keyHeader:
		return k.r.Header.Get(z.header)
	case keyConstant:
		return "constant"
	default:
		return z.fn(k.r)
	}
}
