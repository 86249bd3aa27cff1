package gateway

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
)

// hostCheck answers 421 Misdirected Request to any request whose Host is
// not one of the configured hosts, whose port is not one this server is
// reached on, or whose Host differs from the TLS SNI name the connection
// was opened for; and it hands the rest of the pipeline, and the
// application, the Host in canonical form.
//
// Without it, any name pointed at the server (or typed into a Host header)
// reaches the application, which then builds absolute URLs, password-reset
// links and cache keys from an attacker's Host (Host header injection,
// web-cache poisoning). The port is part of the same attack: "app.example:1"
// names the right host, and an application building links from Host (as
// Flask's url_for(_external=True) and Django's build_absolute_uri do) then
// sends users to a port the attacker chose, and caches key pages under it.
// Only the listener's own port and 443 are accepted: 443 because a load
// balancer in front may forward the client's "app.example:443" to rampart
// listening elsewhere, and that is the same origin as no port at all.
//
// The canonical form is the host name in lower case without a trailing
// dot, with the port only when it is not 443. The application (Host and
// X-Forwarded-Host) therefore sees one spelling per origin, whatever the
// client typed.
//
// The SNI comparison stops a client from opening a connection for one
// name and sending requests for another over it (domain fronting) beyond
// what HTTP/2 connection coalescing legitimately does, which browsers only
// do for names the certificate covers, all of them configured here.
func hostCheck(hosts []string, port int, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		allowed[h] = true
	}
	own := strconv.Itoa(port)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, p, ok := splitHost(r.Host)
		if !ok || !allowed[host] || p != "" && p != own && p != "443" {
			httperr.Write(w, r, http.StatusMisdirectedRequest, "", requestid.FromRequest(r))
			return
		}
		if r.TLS != nil && r.TLS.ServerName != "" {
			if sni, _, _ := splitHost(r.TLS.ServerName); sni != host && allowed[sni] && r.ProtoMajor == 1 {
				httperr.Write(w, r, http.StatusMisdirectedRequest, "", requestid.FromRequest(r))
				return
			}
		}
		if c := joinHost(host, p); c != r.Host {
			// A copy, so that the access log, outside, records the
			// Host as the client sent it.
			r2 := new(http.Request)
			*r2 = *r
			r2.Host = c
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// splitHost splits a Host header value into the host, lower-cased without
// one trailing dot or IPv6 brackets, and the port ("" when none). ok is
// false when the port is not made of digits. The listener has already
// refused any other malformed Host.
func splitHost(hostport string) (host, port string, ok bool) {
	host = hostport
	if strings.IndexByte(hostport, ':') >= 0 {
		h, p, err := net.SplitHostPort(hostport)
		if err == nil {
			host, port = h, p
		} else if strings.Count(hostport, ":") < 2 || strings.HasPrefix(hostport, "[") {
			// "name:" and the like; a bare IPv6 address without
			// brackets (an SNI value) has no port.
			return "", "", false
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return "", "", false
		}
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return toLower(host), port, true
}

// joinHost is the canonical Host for host and port.
func joinHost(host, port string) string {
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	if port == "" || port == "443" {
		return host
	}
	return host + ":" + port
}

// toLower lower-cases ASCII without allocating when there is nothing to
// change (the common case).
func toLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// refuseTrace answers 405 to TRACE and TRACK. TRACE echoes the request,
// headers included, back to the client: with a script that can send it
// (cross-site tracing) it reads HttpOnly cookies and Authorization headers
// that a proxy in between added. No application needs it through a
// gateway.
func refuseTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "TRACE" || r.Method == "TRACK" {
			w.Header().Set("Allow", allowedMethods)
			httperr.Write(w, r, http.StatusMethodNotAllowed, "", requestid.FromRequest(r))
			return
		}
		next.ServeHTTP(w, r)
	})
}

const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// serverOptions answers "OPTIONS *" (a question about the server, not a
// resource) itself, with 204 and Allow, as net/http would; but here, inside
// the pipeline, so the answer has the security headers, a request id and
// an access-log line, and comes after the host check. It is never
// forwarded: it has no path for a rule to match.
func serverOptions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" && r.Method == http.MethodOptions {
			w.Header().Set("Allow", allowedMethods)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
