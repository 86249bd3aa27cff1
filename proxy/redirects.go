package proxy

import (
	"net/http"
	"net/url"
	"strings"
)

// redirectRewriter rewrites URLs in Location, Content-Location and Refresh
// response headers that point at the upstream's own origin so that they
// point at the origin the client used, as nginx's `proxy_redirect default`
// does. An application that builds an absolute URL from the Host it
// received (SendUpstreamHost), from a configured base URL or from its own
// bind address would otherwise send the client to 127.0.0.1:5000: a
// redirect that fails, and the internal address and port disclosed.
//
// A URL points at the upstream when it is absolute (http: or https:, or
// scheme-relative "//host") and its host is the upstream's, ignoring case,
// with either the same port as written in Upstream (an application told
// X-Forwarded-Proto: https echoes its Host under https://) or the same
// scheme and the same port once each scheme's default is filled in
// (http://127.0.0.1:80/ is http://127.0.0.1/). The authority is read as a
// browser reads it: any run of '/' and '\' after the scheme, user info up
// to the last '@' (so http://127.0.0.1:5000@evil.example/ names
// evil.example and is left alone), a percent-encoded host decoded.
// Relative URLs and URLs naming any other host are never changed; path,
// query and fragment are kept byte for byte, less the path of Upstream
// when the URL is under it (the proxy adds it back to every request).
type redirectRewriter struct {
	scheme string // "http" or "https"
	host   string // lower case; an IPv6 literal keeps its brackets
	port   string // as written in Upstream, "" when none
	path   string // Upstream's path without its trailing '/', "" for none
}

func newRedirectRewriter(u *url.URL) *redirectRewriter {
	host, port := splitHostPort(u.Host)
	return &redirectRewriter{
		scheme: strings.ToLower(u.Scheme),
		host:   strings.ToLower(host),
		port:   port,
		path:   strings.TrimSuffix(u.EscapedPath(), "/"),
	}
}

// rewriteHeaders rewrites the URL-bearing headers of h for a client that
// connected over TLS (or not) and asked for host.
func (rr *redirectRewriter) rewriteHeaders(h http.Header, tls bool, host string) {
	for _, k := range [...]string{"Location", "Content-Location"} {
		for i, v := range h[k] {
			if nv, ok := rr.rewriteURL(v, tls, host); ok {
				h[k][i] = nv
			}
		}
	}
	for i, v := range h["Refresh"] {
		if nv, ok := rr.rewriteRefresh(v, tls, host); ok {
			h["Refresh"][i] = nv
		}
	}
}

// rewriteRefresh rewrites the URL of a Refresh header value ("5; url=URL",
// "5;URL", "0, url='URL'"), located as browsers locate it (the HTML
// standard's shared declarative refresh steps).
func (rr *redirectRewriter) rewriteRefresh(v string, tls bool, host string) (string, bool) {
	start, end, ok := refreshURL(v)
	if !ok {
		return v, false
	}
	nu, ok := rr.rewriteURL(v[start:end], tls, host)
	if !ok {
		return v, false
	}
	return v[:start] + nu + v[end:], true
}

// refreshURL returns where the URL of a Refresh value starts and ends, or
// false when the value has none or would be ignored by a browser.
func refreshURL(v string) (start, end int, ok bool) {
	i := skipSpace(v, 0)
	digits := i
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	if i == digits && (i == len(v) || v[i] != '.') {
		return 0, 0, false
	}
	for i < len(v) && ('0' <= v[i] && v[i] <= '9' || v[i] == '.') {
		i++
	}
	if i < len(v) {
		if c := v[i]; c != ';' && c != ',' && !isASCIISpace(c) {
			return 0, 0, false
		}
		i = skipSpace(v, i)
		if i < len(v) && (v[i] == ';' || v[i] == ',') {
			i++
		}
		i = skipSpace(v, i)
	}
	if i >= len(v) {
		return 0, 0, false
	}
	start = i
	// "url" (any case), optional spaces, "=", optional spaces; without
	// the whole of it the URL starts at start.
	if j := i + 3; j <= len(v) && strings.EqualFold(v[i:j], "url") {
		j = skipSpace(v, j)
		if j < len(v) && v[j] == '=' {
			start = skipSpace(v, j+1)
		}
	}
	end = len(v)
	if start < len(v) && (v[start] == '\'' || v[start] == '"') {
		q := v[start]
		start++
		if k := strings.IndexByte(v[start:], q); k >= 0 {
			end = start + k
		}
	}
	return start, end, start < end
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func skipSpace(v string, i int) int {
	for i < len(v) && isASCIISpace(v[i]) {
		i++
	}
	return i
}

// rewriteURL returns v pointing at the public origin (https:// when tls,
// and host) when it points at the upstream, and false otherwise.
func (rr *redirectRewriter) rewriteURL(v string, tls bool, host string) (string, bool) {
	// Browsers strip leading C0 controls and spaces before parsing.
	i := 0
	for i < len(v) && v[i] <= ' ' {
		i++
	}
	scheme := ""
	if j := schemeEnd(v[i:]); j > 0 {
		scheme = strings.ToLower(v[i : i+j])
		if scheme != "http" && scheme != "https" {
			return v, false
		}
		i += j + 1
		if i >= len(v) || !isSlash(v[i]) {
			return v, false // "http:x": relative to the page for a same-scheme base
		}
	} else if i+1 >= len(v) || !isSlash(v[i]) || !isSlash(v[i+1]) {
		return v, false // relative: already on the client's origin
	}
	for i < len(v) && isSlash(v[i]) {
		i++
	}
	end := i
	for end < len(v) && !isSlash(v[end]) && v[end] != '?' && v[end] != '#' {
		end++
	}
	authority := v[i:end]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	h, port := splitHostPort(authority)
	if strings.IndexByte(h, '%') >= 0 {
		// Browsers percent-decode a host: %31%32%37.0.0.1 is 127.0.0.1.
		var err error
		if h, err = url.PathUnescape(h); err != nil {
			return v, false
		}
	}
	if !strings.EqualFold(h, rr.host) || !rr.samePort(scheme, port) {
		return v, false
	}
	return rr.public(v[end:], tls, host), true
}

// samePort reports whether port, written in a URL of scheme ("" for a
// scheme-relative URL), is the upstream's port.
func (rr *redirectRewriter) samePort(scheme, port string) bool {
	if port == "" && rr.port == "" {
		return true // the authority as the upstream wrote it
	}
	if n, ok := portNumber(port); ok {
		if m, ok := portNumber(rr.port); ok && n == m {
			return true // the authority as the upstream wrote it
		}
	}
	if scheme != rr.scheme {
		return false
	}
	n, ok1 := portNumber(orPort(port, scheme))
	m, ok2 := portNumber(orPort(rr.port, rr.scheme))
	return ok1 && ok2 && n == m
}

// public builds the rewritten URL from rest (path, query and fragment of
// the upstream URL).
func (rr *redirectRewriter) public(rest string, tls bool, host string) string {
	if rr.path != "" {
		p := rest
		if k := strings.IndexAny(p, "?#"); k >= 0 {
			p = p[:k]
		}
		if p == rr.path || strings.HasPrefix(p, rr.path+"/") {
			rest = rest[len(rr.path):]
			if rest == "" || rest[0] == '?' || rest[0] == '#' {
				rest = "/" + rest
			}
		}
	}
	if host == "" {
		// An HTTP/1.0 request without Host: a path-absolute reference
		// resolves against whatever origin the client used. A leading
		// "//" would make it name a host: keep one slash.
		j := 0
		for j < len(rest) && isSlash(rest[j]) {
			j++
		}
		return "/" + rest[j:]
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + host + rest
}

// schemeEnd returns the index of the ':' ending an RFC 3986 scheme at the
// start of s, or 0 when s does not start with one.
func schemeEnd(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') && i > 0:
		case c == ':' && i > 0:
			return i
		default:
			return 0
		}
	}
	return 0
}

// isSlash: browsers read '\' as '/' in http and https URLs.
func isSlash(c byte) bool { return c == '/' || c == '\\' }

// splitHostPort splits an authority's host and port; the port is "" when
// absent or empty. An IPv6 literal keeps its brackets.
func splitHostPort(a string) (host, port string) {
	if strings.HasPrefix(a, "[") {
		if k := strings.IndexByte(a, ']'); k >= 0 {
			host, a = a[:k+1], a[k+1:]
			if strings.HasPrefix(a, ":") {
				return host, a[1:]
			}
			if a != "" {
				return host + a, "" // garbage after the literal: matches nothing
			}
			return host, ""
		}
		return a, ""
	}
	if k := strings.LastIndexByte(a, ':'); k >= 0 {
		return a[:k], a[k+1:]
	}
	return a, ""
}

func orPort(port, scheme string) string {
	if port != "" {
		return port
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// portNumber parses a URL port as a browser does (decimal, leading zeros
// allowed, at most 65535); "" is not a number.
func portNumber(p string) (int, bool) {
	if p == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, false
		}
	}
	return n, true
}
