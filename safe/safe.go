// Package safe holds the checks on untrusted input that every rampart
// package makes, written once: the syntax of HTTP tokens (header names,
// methods), loopback hosts, the cleaning of client-chosen text before it
// is logged or shown, and the status codes rampart uses that net/http does
// not name. It imports nothing of rampart's, so every package, library or
// gateway, can use it; a second version of any of these in another package
// is a defect (they drifted apart before they were gathered here).
package safe

import (
	"net/netip"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// StatusClientClosedRequest (nginx's 499) is recorded, never sent, for a
// request whose client left before the response: the access log then says
// what happened instead of a status the client never got.
const StatusClientClosedRequest = 499

// Token reports whether s is an RFC 9110 token: a header field name or a
// method (one or more of the letters, digits and !#$%&'*+-.^_`|~).
func Token(s string) bool {
	return httpguts.ValidHeaderFieldName(s)
}

// TokenChar reports whether c may appear in a token.
func TokenChar(c byte) bool {
	return c < 0x80 && httpguts.IsTokenRune(rune(c))
}

// Method reports whether s is a token without lower-case letters, as nginx
// requires of a method. Methods are case-sensitive, so "post" is not POST
// to a rule written for POST, but WSGI servers and Django upper-case it and
// serve it as POST: refusing it is the only way the two cannot disagree.
func Method(s string) bool {
	return Token(s) && strings.IndexFunc(s, func(r rune) bool { return 'a' <= r && r <= 'z' }) < 0
}

// Loopback reports whether host, a name or an IP address (IPv6 with or
// without brackets, no port), only ever reaches this machine: "localhost"
// or a loopback address, an IPv4-mapped one included. Names under
// ".localhost" are not counted: RFC 6761 reserves them, but not every
// resolver keeps them on this machine.
func Loopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}
