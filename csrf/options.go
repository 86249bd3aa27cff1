package csrf

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// Defaults of the fields whose zero value means one.
const (
	// DefaultCookieName is the double-submit cookie's name. The __Host-
	// prefix makes browsers refuse it unless it is Secure, has Path=/ and
	// no Domain, so a sibling subdomain (or a script on one) cannot plant
	// or overwrite it for this host.
	DefaultCookieName = "__Host-rampart-csrf"
	// DefaultHeaderName is the request header the token is echoed in.
	DefaultHeaderName = "X-CSRF-Token"
)

// MinSecretLen is the shortest Secret accepted: 256 bits, the size of the
// HMAC-SHA256 key the token is computed with.
const MinSecretLen = 32

// Options configure a Protection. The zero value checks the origin of every
// unsafe request and trusts no other origin, bypasses no path and requires
// no token. Validate reports each problem by its Go field path
// ("TrustedOrigins[1]"); New runs the same checks.
type Options struct {
	// TrustedOrigins are origins, "scheme://host[:port]" exactly as a
	// browser sends them in the Origin header (lower case, no default
	// port, no path), allowed to send unsafe requests even though they are
	// not this host's origin: a front end on another host of the same
	// site, say. Default none. An http:// origin on another machine can
	// be impersonated by anyone on its network path, and Validate warns
	// about it; "null" (sandboxed frames, data: URLs, some redirects) is
	// refused, since any page can produce it.
	TrustedOrigins []string

	// InsecureBypassPrefixes are path prefixes (reqpath.Prefix, matched on
	// the canonical path of reqpath.FromRequest) under which unsafe
	// requests are not checked at all: neither their origin nor a token.
	// Default none. For routes that must take cross-site POSTs, such as an
	// identity provider's form_post callback, and that prove their origin
	// some other way. Validate reports each as a warning. A longer prefix
	// in TokenPrefixes wins over a bypass (the most specific prefix
	// governs a path); the same prefix in both lists is an error.
	InsecureBypassPrefixes []string

	// TokenPrefixes are path prefixes (reqpath.Prefix) under which an
	// unsafe request that belongs to a session must also carry the
	// double-submit token: the header HeaderName and the cookie
	// CookieName, both equal to the token of the request's session (see
	// Protection.Token). Default none. For cookie-authenticated JSON APIs,
	// where the origin check alone leaves out clients that send neither
	// Origin nor Sec-Fetch-Site (browsers from before 2020). A request for
	// which SessionID returns "" is not asked for a token (there is no
	// session for a forgery to act as); the origin check still applies.
	// Requires Secret and SessionID.
	TokenPrefixes []string

	// Secret is the key the token is an HMAC-SHA256 under, at least
	// MinSecretLen bytes (of a random secret, not a password). Required
	// with TokenPrefixes. Every instance serving the same sessions needs
	// the same Secret; changing it invalidates every token in circulation
	// (the gateway sets a fresh cookie with the next session).
	Secret []byte

	// SessionID returns the id of the verified session a request belongs
	// to, or "" when it has none: the token is bound to it, so a token
	// read from one session (an attacker's own) is refused in another.
	// It must return only the id of a session it has verified (a signed
	// session cookie), never a value the client chose unverified. Required
	// with TokenPrefixes.
	SessionID func(*http.Request) string

	// CookieName is the double-submit cookie's name. Zero means
	// DefaultCookieName. A name without the __Host- prefix can be set by
	// a sibling subdomain, which can then refuse this user's requests (it
	// cannot make a forged one pass: the token is bound to the session);
	// Validate warns about it.
	CookieName string

	// HeaderName is the request header the token is echoed in. Zero means
	// DefaultHeaderName. It must be a header a cross-site form cannot send
	// (not Content-Type, Accept, ...), and one scripts may set (not
	// Cookie, Origin, Sec-...).
	HeaderName string

	// Log receives a malicious_csrf security event per refused request, at
	// most one per client every 10 seconds with the count of the others.
	// Nil means slog.Default().
	Log *seclog.Logger
}

// Validate reports what is wrong with o, and what is valid but weakens the
// protection, by Go field path ("TrustedOrigins[0]", "Secret"). New
// refuses o on any error; the warnings are for `rampart config check`.
// Secret's value is never part of a finding.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	for i, s := range o.TrustedOrigins {
		path := field.Index("TrustedOrigins", i)
		host, err := parseOrigin(s)
		if err != nil {
			errs.Errorf(path, "write the origin as the browser sends it: https://app.example.com or https://app.example.com:8443", "%v", err)
			continue
		}
		if strings.HasPrefix(s, "http://") && !safe.Loopback(host) {
			errs.Warnf(path, "serve that origin over https and trust https://"+strings.TrimPrefix(s, "http://"),
				"%q is plain http: anyone on its network path can send requests as that origin", s)
		}
	}
	bypass := map[string]bool{}
	for i, s := range o.InsecureBypassPrefixes {
		path := field.Index("InsecureBypassPrefixes", i)
		p, err := reqpath.ParsePrefix(s)
		if err != nil {
			errs.Errorf(path, "write a path prefix such as /oauth/callback", "%v", err)
			continue
		}
		bypass[p.String()] = true
		where := fmt.Sprintf("paths under %q", s)
		if p.Len() == 0 {
			where = "every path"
		}
		errs.Warnf(path, "remove it unless those routes must take cross-site requests and prove their origin another way (README, CSRF)",
			"unsafe requests to %s are not checked for cross-site request forgery", where)
	}
	for i, s := range o.TokenPrefixes {
		path := field.Index("TokenPrefixes", i)
		p, err := reqpath.ParsePrefix(s)
		if err != nil {
			errs.Errorf(path, "write a path prefix such as /api/", "%v", err)
			continue
		}
		if bypass[p.String()] {
			errs.Errorf(path, "keep the prefix in one of the two lists", "%q is also in InsecureBypassPrefixes", s)
		}
	}
	switch n := len(o.Secret); {
	case n == 0 && len(o.TokenPrefixes) > 0:
		errs.Errorf("Secret", "give a random secret of at least 32 bytes", "is required with TokenPrefixes: the token is an HMAC under it")
	case n > 0 && n < MinSecretLen:
		errs.Errorf("Secret", "give a random secret of at least 32 bytes", "is %d bytes long, shorter than %d", n, MinSecretLen)
	}
	if o.SessionID == nil && len(o.TokenPrefixes) > 0 {
		errs.Errorf("SessionID", "pass the function returning the verified session id", "is required with TokenPrefixes: the token is bound to the session")
	}
	if o.CookieName != "" {
		if !safe.Token(o.CookieName) {
			errs.Errorf("CookieName", "use letters, digits, '-' and '_'", "%q is not a valid cookie name", o.CookieName)
		} else if !strings.HasPrefix(o.CookieName, "__Host-") {
			errs.Warnf("CookieName", "name it __Host-"+strings.TrimPrefix(o.CookieName, "__Secure-"),
				"%q has no __Host- prefix: a sibling subdomain can set it and make this host's token checks fail", o.CookieName)
		}
	}
	if o.HeaderName != "" {
		if msg := headerProblem(o.HeaderName); msg != "" {
			errs.Errorf("HeaderName", "leave it empty for X-CSRF-Token, or name a custom header", "%q %s", o.HeaderName, msg)
		}
	}
	return errs
}

// headerProblem says why name cannot carry the token, or "".
func headerProblem(name string) string {
	if !safe.Token(name) {
		return "is not a valid header name"
	}
	c := http.CanonicalHeaderKey(name)
	switch c {
	case "Accept", "Accept-Language", "Content-Language", "Content-Type", "Range":
		// CORS-safelisted: a cross-site page sends these without a
		// preflight, so they prove nothing about where a request came
		// from.
		return "is a header cross-site pages may send"
	case "Accept-Charset", "Accept-Encoding", "Access-Control-Request-Headers", "Access-Control-Request-Method",
		"Connection", "Content-Length", "Cookie", "Cookie2", "Date", "Dnt", "Expect", "Host", "Keep-Alive",
		"Origin", "Referer", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Via",
		"X-Http-Method", "X-Http-Method-Override", "X-Method-Override":
		return "is a header browsers set themselves or forbid scripts to set"
	}
	if strings.HasPrefix(c, "Sec-") || strings.HasPrefix(c, "Proxy-") {
		return "is a header browsers set themselves or forbid scripts to set"
	}
	return ""
}

// parseOrigin checks that s is an origin exactly as browsers serialize it
// in the Origin header, "scheme://host[:port]", and returns its host (no
// port, no brackets). Trusted origins are compared with the header byte
// for byte (as http.CrossOriginProtection does), so a form a browser
// never sends ("HTTPS://App.example", "https://a.example:443",
// "https://a.example/") would silently never match: it is refused here
// instead.
func parseOrigin(s string) (string, error) {
	if s == "null" {
		return "", fmt.Errorf("\"null\" is the origin of sandboxed frames, data: URLs and some redirects, which any page can produce; it cannot be trusted")
	}
	if strings.ContainsAny(s, "*") {
		return "", fmt.Errorf("%q: wildcards are not supported, list each origin", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port])", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q: the scheme must be http or https", s)
	case u.Opaque != "" || u.Host == "":
		return "", fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return "", fmt.Errorf("%q has user information, which an origin never holds", s)
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "", fmt.Errorf("%q has a path, query or fragment, which an origin never holds", s)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	if strings.HasPrefix(u.Host, "[") {
		// Browsers send an IPv6 address in its shortest lower-case form.
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" || a.String() != host {
			return "", fmt.Errorf("%q: write the IPv6 address as browsers send it, in its shortest form (https://[::1]:8443)", s)
		}
	} else {
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
				return "", fmt.Errorf("%q: browsers send the host in lower-case ASCII (international names in punycode, xn--...)", s)
			}
		}
		// A host whose last label is a number is an IPv4 address to a
		// browser, sent in dotted-quad form.
		last := host[strings.LastIndexByte(host, '.')+1:]
		if last != "" && strings.Trim(last, "0123456789") == "" {
			if a, err := netip.ParseAddr(host); err != nil || !a.Is4() || a.String() != host {
				return "", fmt.Errorf("%q: write the IPv4 address as browsers send it (https://127.0.0.1:8443)", s)
			}
		}
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%q ends with an empty port", s)
	}
	if port != "" {
		if port[0] == '0' || len(port) > 5 || port > "65535" && len(port) == 5 {
			return "", fmt.Errorf("%q: the port must be a number from 1 to 65535 without leading zeros", s)
		}
		if u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
			return "", fmt.Errorf("%q: browsers leave the default port out of an origin; write %s://%s", s, u.Scheme, strings.TrimSuffix(u.Host, ":"+port))
		}
	}
	// What a browser sends, rebuilt: anything else in s (a trailing dot
	// has been left alone: browsers keep it) means a form never sent.
	if u.Scheme+"://"+u.Host != s {
		return "", fmt.Errorf("%q is not an origin as browsers send it", s)
	}
	return host, nil
}
