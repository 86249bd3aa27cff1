package listen

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/rampart-dev/rampart/safe"
)

// strictFraming holds two rules of HTTP message syntax that net/http
// leaves to the handler.
//
// Connection close after Transfer-Encoding. RFC 9112 section 6.1: a server
// that receives a request with both Content-Length and Transfer-Encoding,
// or with Transfer-Encoding in HTTP/1.0, "MUST close the connection after
// responding". net/http frames such a request by Transfer-Encoding, deletes
// the Content-Length and keeps the connection open. A proxy or load
// balancer in front of rampart that framed the same bytes by Content-Length
// then disagrees with rampart on where the request ends, and the tail of
// one client's body becomes the start of the next request on that shared
// connection (CL.TE request smuggling). By the time a handler runs the
// Content-Length is gone, so the two cases cannot be told apart from a
// plain chunked upload: every HTTP/1 request with a Transfer-Encoding is
// answered with Connection: close. In HTTP/1.0 net/http ignores and deletes
// Transfer-Encoding and frames by Content-Length alone, the same
// disagreement with a proxy that honours it, and undetectable: HTTP/1.0
// connections are closed after every request (keep-alive is an HTTP/1.0
// extension no browser uses any more). Browsers never send chunked requests
// over HTTP/1.1 (streamed uploads need HTTP/2), so the cost is keep-alive
// for the occasional command-line upload.
//
// Host syntax. RFC 9110 section 7.2 and RFC 9112 section 3.2: Host is
// uri-host [ ":" port ] and port is digits; anything else is answered 400.
// net/http only checks that the bytes are among those a URI may contain,
// so "app.example:@evil.example" arrives intact: a virtual-host check that
// splits host from port accepts it as app.example, and an application
// building absolute URLs from Host (password-reset links, redirects) then
// writes https://app.example:@evil.example/, which browsers read as user
// "app.example" at host evil.example.
//
// Method syntax. RFC 9110 section 9.1: the method is a token. net/http
// checks this for HTTP/1 but its HTTP/2 server accepts any :method without
// CR or LF, such as "GET /admin"; the reverse proxy's transport then
// refuses to send it and the client caused an "upstream unavailable" 502
// and an error-level log record. Answered 400 here instead. Lower-case
// letters are refused too, as nginx does: methods are case-sensitive, so
// "post" does not match a rule written for POST (a rate limit on login
// attempts), but Werkzeug and Django upper-case the method and serve it as
// POST.
//
// Refused requests are answered by rejected (Options.Rejected), with the
// Rejection in the request's context, so that they are logged and get the
// headers like any other response.
func strictFraming(h, rejected http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safe.Method(r.Method) {
			w.Header().Set("Connection", "close")
			rejected.ServeHTTP(w, withRejection(r, Rejection{Status: http.StatusBadRequest, Reason: "method is not an upper-case token"}))
			return
		}
		if r.ProtoMajor == 1 && (len(r.TransferEncoding) > 0 || r.ProtoMinor == 0) {
			w.Header().Set("Connection", "close")
		}
		if !validHost(r.Host) {
			w.Header().Set("Connection", "close")
			rejected.ServeHTTP(w, withRejection(r, Rejection{Status: http.StatusBadRequest, Reason: "malformed Host"}))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// validHost reports whether hostport is an RFC 9110 Host value rampart can
// serve: empty (HTTP/1.0 without Host, refused later by the host check), a
// bracketed IPv6 address or a name or IPv4 address of letters, digits, '.',
// '-' and '_', optionally followed by ':' and a port of at most 5 digits.
func validHost(hostport string) bool {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return false
		}
		host, port = hostport[1:end], hostport[end+1:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		if port != "" && port[0] != ':' {
			return false
		}
		port = strings.TrimPrefix(port, ":")
	} else {
		if i := strings.IndexByte(hostport, ':'); i >= 0 {
			host, port = hostport[:i], hostport[i+1:]
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(isAlnum(c) || c == '.' || c == '-' || c == '_') {
				return false
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
