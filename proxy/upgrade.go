package proxy

import (
	"net/http"
	"strings"
)

// Upgrade requests are passed through to the upstream, which is what
// WebSocket needs; but after a 101 Switching Protocols the proxy only
// splices bytes, so a protocol that itself carries HTTP requests turns the
// connection into a tunnel past every per-request defence: the host check,
// rate limits, identity-header stripping and the access log. The known
// case is h2c, cleartext HTTP/2 (h2c smuggling): an upstream that accepts
// "Upgrade: h2c", as some servers do whatever else the request says, then
// serves any number of HTTP/2 requests that rampart never sees. No client
// of a TLS gateway needs it (HTTP/2 is negotiated by ALPN), so a request
// asking to upgrade to h2c or to any HTTP version is forwarded as a plain
// request, without its Upgrade header.

// upgradeTunnelsHTTP reports whether a protocol of the Upgrade header
// values is HTTP under another name: h2c, h2, or HTTP/x.
func upgradeTunnelsHTTP(values []string) bool {
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "h2c" || p == "h2" || strings.HasPrefix(p, "http/") {
				return true
			}
		}
	}
	return false
}

// badUpgrade reports whether r asks for an upgrade that
// httputil.ReverseProxy refuses as an upstream error (a protocol name
// that is not printable ASCII; obs-text is allowed in HTTP/1.1 header
// values), so that it is answered 400 as the client's error instead.
func badUpgrade(h http.Header) bool {
	up := h["Upgrade"]
	if len(up) == 0 || !hasToken(h["Connection"], "upgrade") {
		return false
	}
	for i := 0; i < len(up[0]); i++ {
		if c := up[0][i]; c < 0x20 || c > 0x7e {
			return true
		}
	}
	return false
}

// hasToken reports whether a comma-separated list among values holds token,
// ignoring case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
