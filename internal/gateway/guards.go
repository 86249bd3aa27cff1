package gateway

import (
	"net"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
)

// hostCheck answers 421 Misdirected Request to any request whose Host is
// not one of the configured hosts, or whose Host differs from the TLS SNI
// name the connection was opened for.
//
// Without it, any name pointed at the server (or typed into a Host header)
// reaches the application, which then builds absolute URLs, password-reset
// links and cache keys from an attacker's Host (Host header injection,
// web-cache poisoning). The SNI comparison stops a client from opening a
// connection for one name and sending requests for another over it (domain
// fronting) beyond what HTTP/2 connection coalescing legitimately does,
// which browsers only do for names the certificate covers, all of them
// configured here.
func hostCheck(hosts []string, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		allowed[h] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := canonicalHost(r.Host)
		if !allowed[host] {
			httperr.Write(w, r, http.StatusMisdirectedRequest, "", requestid.FromRequest(r))
			return
		}
		if r.TLS != nil && r.TLS.ServerName != "" {
			if sni := canonicalHost(r.TLS.ServerName); sni != host && allowed[sni] && r.ProtoMajor == 1 {
				httperr.Write(w, r, http.StatusMisdirectedRequest, "", requestid.FromRequest(r))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalHost lower-cases a Host header value and drops its port, one
// trailing dot and IPv6 brackets.
func canonicalHost(h string) string {
	// Without a colon there is no port, and SplitHostPort would only
	// allocate its error.
	if strings.IndexByte(h, ':') >= 0 {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

// refuseTrace answers 405 to TRACE and TRACK. TRACE echoes the request,
// headers included, back to the client: with a script that can send it
// (cross-site tracing) it reads HttpOnly cookies and Authorization headers
// that a proxy in between added. No application needs it through a
// gateway.
func refuseTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "TRACE" || r.Method == "TRACK" {
			w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			httperr.Write(w, r, http.StatusMethodNotAllowed, "", requestid.FromRequest(r))
			return
		}
		next.ServeHTTP(w, r)
	})
}
