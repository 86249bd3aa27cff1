package listen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
)

// ACMEChallengePrefix is the path prefix of ACME HTTP-01 challenges
// (RFC 8555 §8.3).
const ACMEChallengePrefix = "/.well-known/acme-challenge/"

// Reasons a request is not redirected. Check wraps one of them.
var (
	// ErrUnknownHost: the Host is well-formed but not a configured host
	// name. Answered 421 Misdirected Request.
	ErrUnknownHost = errors.New("host not served here")
	// ErrBadRequest: missing or malformed Host, or a request target that
	// is not an origin-form path. Answered 400.
	ErrBadRequest = errors.New("malformed request")
)

// RedirectOptions configures the plain-HTTP listener.
type RedirectOptions struct {
	// Hosts are the host names redirected to HTTPS (YAML top-level hosts).
	// Matching is case-insensitive and ignores the port and one trailing
	// dot. Required: a redirect that follows whatever Host the client sent
	// is an open redirect (any page can send users through this server to
	// https://attacker/), so there is no "any host" mode.
	Hosts []string

	// HTTPSPort is the port in the Location (YAML listen.https, its port).
	// Zero means 443, which is left out of the URL.
	HTTPSPort int

	// ACMEChallenge, when not nil, answers /.well-known/acme-challenge/
	// requests for configured hosts instead of redirecting them
	// (tlsconf.Server.ChallengeHandler). Nil: those paths are redirected
	// like any other.
	ACMEChallenge http.Handler

	// Logger receives one debug record per refused request. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Redirect is the handler of the plain-HTTP listener: it sends requests for
// configured hosts to the same path on https://, and refuses every other
// request with a generic page that does not echo the Host.
type Redirect struct {
	hosts  map[string]bool
	port   string // ":8443", or "" for 443
	acme   http.Handler
	logger *slog.Logger
}

// NewRedirect validates o and returns the redirect handler.
func NewRedirect(o RedirectOptions) (*Redirect, error) {
	if len(o.Hosts) == 0 {
		return nil, errors.New("hosts: at least one host name is needed to redirect HTTP to HTTPS")
	}
	if o.HTTPSPort < 0 || o.HTTPSPort > 65535 {
		return nil, fmt.Errorf("listen.https: port %d out of range", o.HTTPSPort)
	}
	rd := &Redirect{hosts: make(map[string]bool), acme: o.ACMEChallenge, logger: o.Logger}
	if rd.logger == nil {
		rd.logger = slog.Default()
	}
	if o.HTTPSPort != 0 && o.HTTPSPort != 443 {
		rd.port = ":" + strconv.Itoa(o.HTTPSPort)
	}
	for _, h := range o.Hosts {
		n, ok := hostName(h)
		if !ok {
			a, err := netip.ParseAddr(strings.Trim(h, "[]"))
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("hosts: %q is not a valid host name or IP address", h)
			}
			n = hostOf(a)
		}
		rd.hosts[n] = true
	}
	return rd, nil
}

// hostOf is an IP address as it appears in a URL's authority.
func hostOf(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// Check decides what to do with r: it returns the https:// URL to redirect
// to, or an error wrapping ErrUnknownHost or ErrBadRequest.
//
// The Location is built only from a configured host name (our copy, not the
// client's bytes), the configured port, and the request path and query
// re-escaped so that nothing in them can end the authority part:
//
//   - the host comes from r.Host, which net/http takes from an
//     absolute-form request target ("GET http://evil.example/ HTTP/1.1")
//     when there is one, so that form is checked like a Host header;
//   - the path is r.URL's escaped path, never RequestURI: "\" becomes %5C,
//     control characters and spaces are escaped, and leading "//" is
//     collapsed to "/" so the path cannot read as a network-path
//     reference ("//evil.example") even if the URL is later made relative;
//   - the query keeps its printable ASCII and escapes everything else.
func (rd *Redirect) Check(r *http.Request) (string, error) {
	_, target, err := rd.check(r)
	return target, err
}

func (rd *Redirect) check(r *http.Request) (host, target string, err error) {
	host, ok := requestHost(r.Host)
	if !ok {
		return "", "", fmt.Errorf("%w: bad Host", ErrBadRequest)
	}
	if !rd.hosts[host] {
		return "", "", ErrUnknownHost
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		// "OPTIONS *" and other non-origin-form targets.
		return "", "", fmt.Errorf("%w: request target is not a path", ErrBadRequest)
	}
	for len(path) > 1 && path[1] == '/' {
		path = path[1:]
	}
	var b strings.Builder
	b.Grow(len("https://") + len(host) + len(rd.port) + len(path) + len(r.URL.RawQuery) + 1)
	b.WriteString("https://")
	b.WriteString(host)
	b.WriteString(rd.port)
	escapeInto(&b, path)
	if r.URL.RawQuery != "" {
		b.WriteByte('?')
		escapeInto(&b, r.URL.RawQuery)
	}
	return host, b.String(), nil
}

// ServeHTTP redirects (301 for GET and HEAD, 308 otherwise so that the
// method and body are kept), hands ACME challenges to the ACME handler, or
// answers 421/400 with a generic page.
func (rd *Redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, target, err := rd.check(r)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrUnknownHost) {
			code = http.StatusMisdirectedRequest
		}
		// slog's handlers quote and escape attribute values, so the
		// client's bytes cannot forge log lines.
		rd.logger.DebugContext(r.Context(), "http redirect refused",
			"reason", err.Error(), "host", safe.Clean(r.Host, 256), "remote_addr", r.RemoteAddr,
			"request_id", requestid.FromRequest(r))
		httperr.Write(w, r, code, "", "")
		return
	}
	if rd.acme != nil && strings.HasPrefix(r.URL.Path, ACMEChallengePrefix) {
		// The ACME handler sees the normalised host: autocert's
		// HTTPHandler checks r.Host against its whitelist verbatim, so
		// "App.Example:8080" would be refused.
		r2 := new(http.Request)
		*r2 = *r
		r2.Host = host
		rd.acme.ServeHTTP(w, r2)
		return
	}
	code := http.StatusPermanentRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		code = http.StatusMovedPermanently
	}
	w.Header().Set("Location", target)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(code)
}

// requestHost returns the host of a Host header value: a name lower-cased
// without one trailing dot, or an IP address in its URL form ("[::1]"),
// port removed. It refuses empty values, userinfo
// ("good.example@evil.example"), bad ports and any byte that is not
// allowed in a DNS name.
func requestHost(hostport string) (string, bool) {
	host := hostport
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", false
		}
		a, err := netip.ParseAddr(hostport[1:end])
		port := hostport[end+1:]
		if err != nil || !a.Is6() || a.Zone() != "" || port != "" && !validPort(port[1:]) || port != "" && port[0] != ':' {
			return "", false
		}
		return hostOf(a), true
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		port := hostport[i+1:]
		host = hostport[:i]
		if port != "" && !validPort(port) {
			return "", false
		}
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return hostOf(a), true
	}
	return hostName(host)
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && port[0] != '+' && port[0] != '-'
}

// hostName normalises and validates a DNS host name (letters, digits,
// hyphens, dots; labels of 1-63 bytes; 253 bytes at most).
func hostName(h string) (string, bool) {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 || net.ParseIP(h) != nil {
		return "", false
	}
	var b []byte
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'A' && c <= 'Z':
			if b == nil {
				b = []byte(h)
			}
			b[i] = c + 'a' - 'A'
			label++
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			label++
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		default:
			return "", false
		}
		if label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	if b != nil {
		return string(b), true
	}
	return h, true
}

// escapeInto appends s to b, percent-encoding every byte outside printable
// ASCII and the few printable bytes that are unsafe in a Location (space,
// '"', '<', '>', '\\', '^', '`', '{', '|', '}', and '#', which would start
// a fragment). Existing %XX escapes pass through unchanged.
func escapeInto(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}#", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
}
