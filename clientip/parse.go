package clientip

import (
	"net/netip"
	"strings"

	"github.com/rampart-dev/rampart/safe"
)

// MaxHops bounds how many header elements Resolve examines. Real chains
// have a handful of proxies; a longer chain of trusted hops is treated as
// malformed (the walk stops at the last trusted hop).
const MaxHops = 32

// maxLineScan bounds how many bytes at the end of each header line the
// walk looks at: enough for MaxHops Forwarded elements of ordinary size.
// With MaxHops (each line holds at least one element, so at most MaxHops
// lines are read) this bounds the work per request to a few hundred
// kilobytes scanned at worst, whatever the header's size; in practice the
// walk stops after one or two elements.
const maxLineScan = 8 << 10

// maxElemLen bounds one X-Forwarded-For element (the longest IPv6 text
// form is 45 bytes) and maxForwardedElemLen one RFC 7239 element (several
// name=value pairs). Longer elements are malformed and never parsed.
const (
	maxElemLen          = 64
	maxForwardedElemLen = 256
)

// trimOWS removes the optional whitespace (SP, HTAB) HTTP allows around
// list elements.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseXFFElement parses one X-Forwarded-For element: a bare IPv4 or IPv6
// address, nothing else (no port, no brackets, no "unknown"). The result
// is unmapped and zoneless: netip.Prefix.Contains is false for a
// v4-mapped address against a v4 prefix and for any zoned address, so
// without normalising, ::ffff:10.0.0.1 or fe80::1%eth0 could alias a
// trusted hop past the check (or an untrusted one into it).
func parseXFFElement(s string) (netip.Addr, bool) {
	s = trimOWS(s)
	if s == "" || len(s) > maxElemLen {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// parseForwardedElement extracts the address in the for= parameter of one
// RFC 7239 element (`for=192.0.2.60;proto=https;by=203.0.113.43`). It is
// deliberately stricter than the RFC: a quoted-string may not contain a
// quote, backslash, comma or semicolon (no real proxy writes those in an
// address, and refusing them keeps the right-to-left split unambiguous);
// the for= node must be an IP address, IPv4 bare or with a port, IPv6 in
// brackets with an optional port. "unknown" and obfuscated identifiers
// ("_hidden") are valid RFC 7239 but name no address, so they end the walk
// like garbage does. A missing or repeated for= is malformed.
func parseForwardedElement(s string) (netip.Addr, bool) {
	s = trimOWS(s)
	if s == "" || len(s) > maxForwardedElemLen {
		return netip.Addr{}, false
	}
	var (
		addr  netip.Addr
		found bool
	)
	for s != "" {
		pair := s
		if i := strings.IndexByte(s, ';'); i >= 0 {
			pair, s = s[:i], s[i+1:]
			if s == "" {
				return netip.Addr{}, false // trailing ';'
			}
		} else {
			s = ""
		}
		pair = trimOWS(pair)
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			return netip.Addr{}, false
		}
		name, value := pair[:eq], pair[eq+1:]
		if !safe.Token(name) {
			return netip.Addr{}, false
		}
		value, ok := unquote(value)
		if !ok {
			return netip.Addr{}, false
		}
		if !strings.EqualFold(name, "for") {
			continue
		}
		if found {
			return netip.Addr{}, false
		}
		addr, ok = parseNode(value)
		if !ok {
			return netip.Addr{}, false
		}
		found = true
	}
	return addr, found
}

// unquote returns the content of a token or a quoted-string without
// escapes. An empty value is malformed.
func unquote(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if v[0] == '"' {
		if len(v) < 2 || v[len(v)-1] != '"' {
			return "", false
		}
		v = v[1 : len(v)-1]
		if v == "" || strings.ContainsAny(v, "\"\\,;") {
			return "", false
		}
		return v, true
	}
	if !safe.Token(v) {
		// Allow ':' for the common unquoted "for=192.0.2.1:8080".
		for i := 0; i < len(v); i++ {
			if v[i] != ':' && !safe.TokenChar(v[i]) {
				return "", false
			}
		}
	}
	return v, true
}

// parseNode parses an RFC 7239 node: IPv4 [":" port] or "[" IPv6 "]"
// [":" port].
func parseNode(v string) (netip.Addr, bool) {
	var host, port string
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = v[1:end], v[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		if port != "" && (port[0] != ':' || !validPort(port[1:])) {
			return netip.Addr{}, false
		}
		return a.Unmap().WithZone(""), true
	}
	host = v
	if i := strings.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
		if !validPort(port) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPort accepts a decimal port or an RFC 7239 obfuscated port
// ("_abc").
func validPort(p string) bool {
	if p == "" || len(p) > 16 {
		return false
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}
