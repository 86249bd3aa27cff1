package clientip

import "net/netip"

// Key is what one client counts as for a per-client limit (connections,
// buffered request bodies): its IPv4 address, or the /64 of its IPv6
// address, returned as that prefix's first address. An IPv4-mapped IPv6
// address counts as the IPv4 address and a zone is dropped, so one client
// cannot appear as several. Apply it to the resolved address
// (FromRequest), so that behind a trusted proxy the key is the client's,
// not the proxy's.
//
// Why /64: an IPv6 subscriber is routinely given a whole /64 (often a /56
// or a /48), and the host half is the subscriber's to choose. Counting
// single IPv6 addresses would let one client take a limit's full share
// from each of 2^64 addresses. Coarser prefixes would lump unrelated
// customers of a provider that hands out /64s together; /64 is the unit
// nginx users and rampart's rate limiter (ipv6_prefix) default to.
//
// Key returns the zero Addr for the zero Addr: a request without an IP
// client address (a Unix socket) has no key.
func Key(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a
	}
	p, _ := a.Prefix(64)
	return p.Addr()
}
