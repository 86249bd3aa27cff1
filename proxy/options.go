package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// Defaults applied to zero fields of Options. They may change between
// releases; each field's documentation says which one it uses.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConns          = 256
	DefaultMaxBodyBytes          = 10 << 20 // 10 MiB
	DefaultUpgradeIdleTimeout    = 5 * time.Minute
	DefaultBodyMemoryBytes       = 64 << 10 // 64 KiB
	DefaultBodyMemoryBudget      = 32 << 20 // 32 MiB
	DefaultBodyTempBudget        = 1 << 30  // 1 GiB
)

// Options configures a Proxy. Only Upstream is required; every other zero
// value is the safe, documented default.
type Options struct {
	// Upstream is the application's base URL: scheme http or https and a
	// host (with optional port). Required. A path in it is prefixed to
	// every request path and a query in it is merged into every request's
	// query. User info is refused: credentials for the application do not
	// belong in a URL that ends up in logs.
	Upstream *url.URL

	// SendUpstreamHost sends Upstream's host in the Host header instead of
	// the client's. The default (false) preserves the client's Host, like
	// nginx `proxy_set_header Host $host`, so the application builds
	// absolute URLs and cookies for the name the browser used. The
	// client's Host is always available upstream in X-Forwarded-Host.
	SendUpstreamHost bool

	// InsecureNoRedirectRewrite passes URLs in Location, Content-Location
	// and Refresh response headers as the application sent them. By
	// default (false) those naming the upstream's own origin
	// (http://127.0.0.1:5000/login, whatever the case, with or without
	// the default port) are rewritten to the origin the client used:
	// https:// when it connected over TLS, and the Host it sent (which
	// the gateway's host check has made one of its configured names), as
	// nginx's proxy_redirect default does. Otherwise an application that
	// builds absolute URLs from the Host it received (SendUpstreamHost)
	// or from its bind address sends clients to an address they cannot
	// reach and discloses it. Relative URLs and URLs naming other hosts
	// are never changed. Warnings reports it.
	InsecureNoRedirectRewrite bool

	// InterceptErrors says which upstream 5xx responses are replaced by
	// rampart's generic error page (same status, the request id), like
	// nginx's proxy_intercept_errors. The default, InterceptDebugPages,
	// replaces stack traces and framework debug pages (Werkzeug, Django,
	// Rails, Express, Go panics) and passes every other 5xx unchanged;
	// InterceptAll replaces every 5xx; InsecureInterceptOff replaces none,
	// and Warnings reports it. Only 5xx responses are inspected, by
	// reading the first DebugPeekBytes of the body (decoded when gzip or
	// deflate; a 5xx in another content coding cannot be read and is
	// replaced) before their headers are sent; no other response is read
	// ahead or delayed.
	InterceptErrors InterceptErrors

	// Forwarded also sends an RFC 7239 Forwarded header
	// (for=client;host=host;proto=scheme) built from the same values as
	// the X-Forwarded-* headers. Default false: most applications read
	// X-Forwarded-*; a client-sent Forwarded header is dropped either way.
	Forwarded bool

	// DialTimeout bounds connecting to the upstream. Zero means
	// DefaultDialTimeout (currently 5s): the upstream is normally on
	// loopback or a LAN, where a slower connect means it is down.
	// Exceeding it is answered 504.
	DialTimeout time.Duration

	// TLSHandshakeTimeout bounds the TLS handshake with an https upstream.
	// Zero means DefaultTLSHandshakeTimeout (currently 10s).
	TLSHandshakeTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for the upstream's response
	// headers once the request is written (like nginx proxy_read_timeout
	// for the first byte). Zero means DefaultResponseHeaderTimeout
	// (currently 60s). Exceeding it is answered 504 Gateway Timeout. It
	// does not limit how long a response body (a stream, a WebSocket) may
	// last. On a connection kept alive between requests, the deadline of
	// the previous request is kept while it is at least 7/8 of the timeout
	// ahead: a request may be cut off slightly sooner than the timeout,
	// never later.
	ResponseHeaderTimeout time.Duration

	// UpgradeIdleTimeout closes an upgraded connection (WebSocket) after
	// this long without a byte in either direction. Zero means
	// DefaultUpgradeIdleTimeout (currently 5m): far above the ping
	// interval of WebSocket libraries (Socket.IO 25s), so only a
	// connection that is really silent is closed. It cannot be disabled:
	// nothing else bounds an upgraded connection whose client never
	// speaks (see idleConn).
	UpgradeIdleTimeout time.Duration

	// IdleConnTimeout is how long an idle keep-alive connection to the
	// upstream is kept. Zero means DefaultIdleConnTimeout (currently 90s).
	IdleConnTimeout time.Duration

	// MaxIdleConns is the size of the keep-alive pool to the upstream.
	// Zero means DefaultMaxIdleConns (currently 256), sized so a busy
	// gateway reuses connections instead of opening one per request (the
	// net/http default of 2 per host would exhaust ephemeral ports under
	// load). There is one upstream host, so it is also the per-host limit.
	MaxIdleConns int

	// FlushInterval is how often a response body is flushed to the client
	// while it is copied. Zero means no periodic flushing; a negative value
	// flushes after every write. Whatever the value, responses that are
	// streams by nature are flushed after every write, as
	// httputil.ReverseProxy does: Content-Type text/event-stream (SSE) and
	// responses without a Content-Length (chunked), so server-sent events
	// and long polls reach the client as they are produced.
	FlushInterval time.Duration

	// MaxBodyBytes limits the size of a request body. Zero means
	// DefaultMaxBodyBytes (currently 10 MiB, nginx's client_max_body_size
	// is 1 MiB). A request whose Content-Length exceeds it is answered 413
	// at once, before anything is read; a chunked body is answered 413
	// when it crosses the limit. With request buffering (the default) the
	// upstream never sees such a request; with InsecureStreamRequestBodies
	// it sees a truncated one on a closed connection. Raise it for upload
	// endpoints; it cannot be disabled: it also bounds the disk space one
	// buffered request can take.
	MaxBodyBytes int64

	// InsecureStreamRequestBodies turns request buffering off: bodies
	// over BodyBufferBytes (16 KiB) are streamed to the upstream as the
	// client sends them, as nginx does with proxy_request_buffering off.
	// Default false: every request body is read completely (in memory up
	// to BodyMemoryBytes, then in a temporary file) before the upstream
	// is contacted.
	//
	// It is insecure because a streamed body holds an upstream connection,
	// and with it an application worker, for as long as the client takes
	// to send it, up to the listener's read timeout: a few clients
	// trickling large or chunked bodies exhaust a gunicorn or uWSGI
	// deployment with a handful of sync workers (slow POST, R.U.D.Y.).
	// Set it only for applications that handle slow bodies themselves
	// (async workers) and need to see an upload as it arrives, for
	// example to report its progress. Warnings reports it.
	InsecureStreamRequestBodies bool

	// InsecureStreamRequestBodyPaths streams request bodies, as
	// InsecureStreamRequestBodies does, only for these paths: each is a
	// reqpath.Prefix, matching the canonical path equal to it or below it
	// ("/upload" matches /upload, /Upload/big and /upload//big, not
	// /uploads), so the upload endpoint that reports progress streams
	// while logins and forms stay buffered. Default none. A path that has
	// no canonical form ("/upload/../login", "/upload/..%2flogin") is
	// buffered: the application may route it to a page that must not get
	// a streamed body. Warnings reports them.
	InsecureStreamRequestBodyPaths []string

	// BodyMemoryBytes is how much of one request body is kept in memory
	// while it is buffered; the rest goes to a temporary file in
	// BodyTempDir (nginx's client_body_buffer_size). Zero means
	// DefaultBodyMemoryBytes (currently 64 KiB), which holds every form
	// post, login and JSON call in memory. A body whose declared
	// Content-Length is larger goes to the file from its first byte.
	BodyMemoryBytes int64

	// BodyMemoryBudget bounds the memory all requests being buffered may
	// hold at once. Zero means DefaultBodyMemoryBudget (currently
	// 32 MiB, 512 full in-memory buffers). A request whose buffer would
	// take the total over it goes to a temporary file instead, so however
	// many clients send bodies at once (slowly or not), buffered request
	// bodies never hold more than this much memory; the rest is on disk,
	// bounded per request by MaxBodyBytes and in all by BodyTempBudget.
	// Memory is taken as bytes arrive (the buffer grows with the body:
	// at most twice what has arrived, or 4 KiB), never for a length a
	// client merely declares. One client (clientip.Key of its resolved address: an IPv4
	// address or an IPv6 /64) may hold at most 1/ClientBudgetShare of it
	// (1/16: 2 MiB by default), and at least BodyMemoryBytes; past that
	// its bodies go to files. Besides it, every request being buffered
	// reads through an 8 KiB buffer while its client sends, the order of
	// what net/http itself holds per connection.
	BodyMemoryBudget int64

	// BodyTempBudget bounds the disk space all requests being buffered
	// may hold in temporary files at once. Zero means
	// DefaultBodyTempBudget (currently 1 GiB). Without it, clients
	// sending bodies of MaxBodyBytes on many connections at once could
	// fill BodyTempDir's file system (and whatever else lives on it).
	// Space is taken as bytes are written, never for a length a client
	// merely declares, so clients that declare large bodies and send
	// nothing hold none of it. One client may hold at most
	// 1/ClientBudgetShare of it (1/16: 64 MiB by default), and at least
	// MaxBodyBytes, so that one client sending large bodies on many
	// connections cannot starve the others. A body whose next bytes would
	// take the total, or its client's files, over the line is answered
	// 503 Service Unavailable (logged with the client and which limit was
	// reached; a client over its share is also an
	// excess_rate_limit_exceeded security event). Raise it with
	// MaxBodyBytes for upload sites, within the free space of
	// BodyTempDir.
	BodyTempBudget int64

	// BodyTempDir is the directory of the temporary files holding request
	// bodies larger than the memory buffer. Empty means os.TempDir() at
	// the time New is called ($TMPDIR, else /tmp). Files are created
	// with mode 0600 by os.CreateTemp and unlinked at once, so no other
	// user can open them, and nothing is left behind whatever happens to
	// the request or the process; the space is freed when the request
	// ends. It must be an existing directory. Where /tmp is a tmpfs, the
	// files are in memory after all: choose a directory on disk. A
	// directory writable by other users without the sticky bit is
	// reported by Warnings (they could replace it or fill it).
	BodyTempDir string

	// StripRequestHeaders names request headers removed before the request
	// is sent upstream, in addition to the built-in list (identity headers
	// such as X-Auth-Request-User, X-Forwarded-User and Remote-User,
	// client-address headers such as X-Client-IP and True-Client-IP, and
	// forwarding headers such as X-Forwarded-Prefix; see
	// DefaultStripRequestHeaders). Matching ignores case and treats '_'
	// as '-', because WSGI and CGI servers map both X-Remote-User and
	// X_Remote_User to HTTP_X_REMOTE_USER. An entry ending in '*' is a
	// prefix: "X-Internal-*" removes X-Internal-Role, x_internal_id and
	// every other header beginning with X-Internal-. Identity headers
	// rampart sets itself are supplied through WithUpstreamHeaders and are
	// not affected.
	StripRequestHeaders []string

	// RemoveResponseHeaders names response headers removed from upstream
	// responses, in addition to the built-in list of fingerprinting
	// headers (Server, X-Powered-By, X-AspNet-Version, ...; see
	// DefaultRemoveResponseHeaders). Matching ignores case; an entry
	// ending in '*' is a prefix, as in StripRequestHeaders.
	RemoveResponseHeaders []string

	// TLSClientConfig configures TLS to an https upstream. Nil means the
	// system roots and the upstream's host name as the server name. A
	// config with InsecureSkipVerify set is reported by Warnings.
	TLSClientConfig *tls.Config

	// Logger receives one record per failed proxied request (upstream,
	// error, request id, client address). Nil means slog.Default().
	Logger *slog.Logger

	// SecLog receives upstream_unavailable security events when the
	// upstream cannot be reached or times out, and upstream_debug_page
	// events when a debug page is replaced (see InterceptErrors), each at
	// most a few per second (the count of suppressed events is reported
	// with the next one). Nil means a seclog.Logger writing to
	// slog.Default().
	SecLog *seclog.Logger

	// OnResult, when set, is called once for each request the proxy
	// forwards or refuses for its body, with how it ended (see Result):
	// metrics count upstream errors and time the upstream this way. It
	// runs in the request's goroutine before the response header is
	// written, so it must be quick; an upgrade (WebSocket) is reported
	// with status 101 when the client's connection is taken over. Requests
	// refused before that (CONNECT, a malformed Upgrade) are not reported.
	OnResult func(r *http.Request, res Result)
}

// Result is how one proxied request ended, as OnResult sees it.
type Result struct {
	// Failed is set when the proxy answered instead of the upstream
	// (Reason says why); otherwise the upstream answered with Status.
	Failed bool
	Reason Reason
	// Status is the status the client is sent.
	Status int
	// Duration is the time from the moment the request was ready to go
	// upstream (its body buffered) to the upstream's response header, or
	// to the failure; zero for a request refused before that.
	Duration time.Duration
}

// Validate reports what is wrong with o, and what is valid but weakens a
// defence, by Go field path ("Upstream", "BodyTempDir",
// "StripRequestHeaders[2]"). New refuses o on any error; the warnings are
// for `rampart config check`.
func (o *Options) Validate() field.Errors {
	var errs field.Errors
	o.validateUpstream(&errs)
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"DialTimeout", o.DialTimeout},
		{"TLSHandshakeTimeout", o.TLSHandshakeTimeout},
		{"ResponseHeaderTimeout", o.ResponseHeaderTimeout},
		{"IdleConnTimeout", o.IdleConnTimeout},
		{"UpgradeIdleTimeout", o.UpgradeIdleTimeout},
	} {
		if d.d < 0 {
			errs.Errorf(d.name, "remove it for the default", "must not be negative")
		}
	}
	if o.MaxIdleConns < 0 {
		errs.Errorf("MaxIdleConns", "use a positive number; the default (0) is 256", "must not be negative")
	}
	switch o.InterceptErrors {
	case InterceptDebugPages, InterceptAll:
	case InsecureInterceptOff:
		errs.Warnf("InterceptErrors", `use the default, which replaces stack traces and debug pages, and turn debug mode off in the application (Flask: DEBUG = False)`,
			"off: stack traces and debug pages of an application in debug mode reach clients, with its source code, settings and secrets")
	default:
		errs.Errorf("InterceptErrors", "", "unknown mode %d", int(o.InterceptErrors))
	}
	if o.InsecureNoRedirectRewrite {
		errs.Warnf("InsecureNoRedirectRewrite", "remove it: only URLs naming the application's own address are rewritten",
			"redirects to the application's own address (http://127.0.0.1:5000/...) reach clients as the application sent them, disclosing it")
	}
	if tc := o.TLSClientConfig; tc != nil && tc.InsecureSkipVerify {
		errs.Warnf("TLSClientConfig.InsecureSkipVerify", "trust the CA that signs the application's certificate instead",
			"the upstream's certificate is not verified: anyone on the path to it can read and change the traffic")
	}
	o.validateBodies(&errs)
	for _, l := range []struct {
		name  string
		names []string
	}{{"StripRequestHeaders", o.StripRequestHeaders}, {"RemoveResponseHeaders", o.RemoveResponseHeaders}} {
		for i, name := range l.names {
			if msg := CheckHeaderPattern(name); msg != "" {
				errs.Errorf(field.Index(l.name, i), "write a header name such as X-Tenant, or a prefix ending in '*' such as X-Internal-*", "%q %s", name, msg)
			}
		}
	}
	return errs
}

func (o *Options) validateUpstream(errs *field.Errors) {
	const hint = "write a URL such as http://127.0.0.1:5000"
	u := o.Upstream
	switch {
	case u == nil:
		errs.Errorf("Upstream", hint, "is required: the application rampart protects")
	case u.Scheme != "http" && u.Scheme != "https":
		errs.Errorf("Upstream", hint, "scheme %q: must be http or https", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		errs.Errorf("Upstream", hint, "has no host")
	case u.User != nil:
		errs.Errorf("Upstream", "remove user:password@ from the URL", "holds credentials, which would end up in logs")
	case u.Opaque != "":
		errs.Errorf("Upstream", hint, "must be an absolute URL")
	case u.Fragment != "":
		errs.Errorf("Upstream", "remove the fragment", "must not have a fragment")
	case u.Scheme == "http" && !safe.Loopback(u.Hostname()):
		errs.Warnf("Upstream", "bind the application to 127.0.0.1, or use https:// to reach it",
			"traffic to %s crosses the network unencrypted: requests, cookies and identity headers", u.Host)
	}
	if u != nil && u.Scheme == "http" && o.TLSClientConfig != nil && !o.TLSClientConfig.InsecureSkipVerify {
		// The operator believes the upstream's certificate is checked;
		// over http:// there is no certificate at all.
		errs.Warnf("TLSClientConfig", "use an https:// upstream URL, or remove the TLS settings",
			"has no effect: the upstream URL is http://, so the traffic is not encrypted")
	}
}

func (o *Options) validateBodies(errs *field.Errors) {
	for _, b := range []struct {
		name string
		n    int64
		def  string
	}{
		{"MaxBodyBytes", o.MaxBodyBytes, "10m"},
		{"BodyMemoryBytes", o.BodyMemoryBytes, "64k"},
		{"BodyMemoryBudget", o.BodyMemoryBudget, "32m"},
		{"BodyTempBudget", o.BodyTempBudget, "1g"},
	} {
		if b.n < 0 {
			errs.Errorf(b.name, "remove it for the default ("+b.def+")", "must not be negative")
		}
	}
	maxBody := orDefault(o.MaxBodyBytes, DefaultMaxBodyBytes)
	memBytes := orDefault(o.BodyMemoryBytes, DefaultBodyMemoryBytes)
	memBudget := orDefault(o.BodyMemoryBudget, DefaultBodyMemoryBudget)
	tempBudget := orDefault(o.BodyTempBudget, DefaultBodyTempBudget)
	if tempBudget < maxBody {
		errs.Warnf("BodyTempBudget", "make it at least the largest body",
			"%d bytes is less than the largest body allowed (%d): bodies larger than it always get 503", tempBudget, maxBody)
	} else if share := tempBudget / ClientBudgetShare; maxBody > share {
		// One client may always hold one body of the largest size, so
		// here its share is more than the usual fraction.
		path := "BodyTempBudget"
		if o.BodyTempBudget == 0 {
			path = "MaxBodyBytes"
		}
		errs.Warnf(path, fmt.Sprintf("raise the temporary-file budget to %d × the largest body (%d bytes), or lower the largest body", ClientBudgetShare, ClientBudgetShare*maxBody),
			"one client may hold the largest body (%d bytes) of the %d bytes of temporary files, more than 1/%d: fewer clients sending large bodies at once can make the others' bodies get 503",
			maxBody, tempBudget, ClientBudgetShare)
	}
	if memBudget < memBytes {
		errs.Warnf("BodyMemoryBudget", "make it at least the memory part of one body, or lower that",
			"%d bytes is less than the memory part of one body (%d): bodies larger than the budget always go to disk", memBudget, memBytes)
	}
	if dir := o.BodyTempDir; dir != "" {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs.Errorf("BodyTempDir", "create it (mkdir -m 700 "+dir+") or leave it empty for the system temporary directory", "%q does not exist", dir)
		case err != nil:
			errs.Errorf("BodyTempDir", "check the path and its permissions", "%q: %v", dir, errors.Unwrap(err))
		case !st.IsDir():
			errs.Errorf("BodyTempDir", "point it at a directory", "%q is not a directory", dir)
		case st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
			errs.Warnf("BodyTempDir", "chmod 700 "+dir+" (or chmod +t it, as /tmp is)",
				"%q is writable by other users and has no sticky bit: they can replace it or fill it", dir)
		}
	}
	if o.InsecureStreamRequestBodies {
		errs.Warnf("InsecureStreamRequestBodies", "remove it unless the application serves slow uploads with async workers",
			"request bodies are streamed to the application as clients send them: a few clients sending slowly can hold every worker of a gunicorn or uWSGI application")
	}
	for i, path := range o.InsecureStreamRequestBodyPaths {
		p := field.Index("InsecureStreamRequestBodyPaths", i)
		if _, err := reqpath.ParsePrefix(path); err != nil {
			errs.Errorf(p, "write a path such as /upload", "%v", err)
			continue
		}
		errs.Warnf(p, "keep only the endpoints that must see uploads as they arrive, served by async workers",
			"request bodies under %q are streamed to the application as clients send them: a few clients sending slowly there can hold every worker", path)
	}
}

// CheckHeaderPattern says why name cannot be an entry of
// StripRequestHeaders or RemoveResponseHeaders, or returns "". An entry is
// a header name, or a prefix followed by '*' ("X-SSL-Client-*"). A '*'
// anywhere else, or alone (which would remove every header), is refused:
// '*' is a legal header name byte, but a name holding one is far more
// likely a mistyped pattern than a header.
func CheckHeaderPattern(name string) string {
	pre, prefix := strings.CutSuffix(name, "*")
	switch {
	case name == "":
		return "is empty"
	case prefix && pre == "":
		return "would match every header: name the headers, or a prefix such as X-Internal-*"
	case strings.Contains(pre, "*"):
		return "has a '*' that is not at the end; only a trailing '*' (a prefix) is supported"
	case !safe.Token(pre):
		return "is not a valid header name"
	}
	return ""
}
