package proxy

import (
	"net/netip"
	"strings"

	"github.com/rampart-dev/rampart/safe"
)

// forwardedValue builds one RFC 7239 forwarded-element describing the
// client connection: for=client;host=host;proto=proto. The client address
// was resolved by rampart (never read from the request), and host is the
// Host header the server accepted; it is still quoted and escaped here so
// that no byte of it can end the element early or start a new parameter
// (a ';' or ',' in a bare value would let a client forge "for=" or
// "proto="). A parameter whose value cannot be represented is left out.
func forwardedValue(client netip.Addr, host, proto string) string {
	var b strings.Builder
	b.Grow(len("for=\"[]\";host=;proto=https") + 45 + len(host))
	if client.IsValid() {
		b.WriteString("for=")
		if client.Is6() {
			// RFC 7239 section 6: IPv6 addresses are bracketed, and
			// the brackets and colons require a quoted string.
			b.WriteString(`"[`)
			b.WriteString(client.String())
			b.WriteString(`]"`)
		} else {
			b.WriteString(client.String())
		}
	}
	if host != "" && quotable(host) {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString("host=")
		writeValue(&b, host)
	}
	if b.Len() > 0 {
		b.WriteByte(';')
	}
	b.WriteString("proto=")
	b.WriteString(proto)
	return b.String()
}

// writeValue writes v as a token when it is one, else as a quoted-string.
func writeValue(b *strings.Builder, v string) {
	if safe.Token(v) { // header names are RFC 9110 tokens
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

// quotable reports whether v can be written as an RFC 9110 quoted-string
// (with quoted-pairs): no control bytes other than HTAB, no DEL.
func quotable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
