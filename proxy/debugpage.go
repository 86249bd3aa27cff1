package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// InterceptErrors says which upstream 5xx responses the proxy replaces with
// its own generic error page (httperr, same status, the request id), like
// nginx's proxy_intercept_errors.
type InterceptErrors int

const (
	// InterceptDebugPages (the default) replaces a 5xx whose body is a
	// stack trace or a framework's debug page: the Werkzeug debugger and
	// traceback, Django's technical 500 page (HTML and text), Rails'
	// exception page, Express's development error page, Go panic stacks,
	// and Python, Node, Java and PHP stack traces. Those pages show source
	// code, local variables, settings and environment (Django prints the
	// request's cookies and every setting whose name does not look
	// secret; the Werkzeug debugger carries the key to its console), so
	// an application left in debug mode hands them to anyone who can make
	// it fail. Every other 5xx passes unchanged.
	InterceptDebugPages InterceptErrors = iota
	// InterceptAll replaces every 5xx, whatever its body: the application's
	// own error pages are never shown (nginx proxy_intercept_errors on).
	InterceptAll
	// InsecureInterceptOff passes every 5xx as the application sent it,
	// debug pages included. Warnings reports it.
	InsecureInterceptOff
)

// String is the YAML value of m.
func (m InterceptErrors) String() string {
	switch m {
	case InterceptDebugPages:
		return "debug"
	case InterceptAll:
		return "all"
	case InsecureInterceptOff:
		return "off"
	}
	return fmt.Sprintf("InterceptErrors(%d)", int(m))
}

// DebugPeekBytes is how much of a 5xx body is read to decide whether it is
// a debug page, before anything of the response is sent to the client
// (after decompression, for gzip and deflate). The markers the detector
// looks for sit within the first 500 bytes of every page captured from the
// real frameworks (testdata/debugpages): Werkzeug's title at 91, Django's
// robots meta tag at 141, Express's first stack line at 120, a Go stack's
// goroutine header at 38-46, Rails' title at about 250. Some of them follow
// the exception message (Werkzeug's title, Express's <pre>), which can be
// long (a database error quoting its SQL); 16 KiB leaves room for a message
// 30 times longer than any in the captures. A 5xx body whose markers are
// further in is passed through.
const DebugPeekBytes = 16 << 10

// debugPattern recognises one kind of debug page. A page matches when
// every one of all is in it, or re matches; exception, when set, captures
// the exception's class name for the log.
type debugPattern struct {
	kind      string
	all       []string
	re        *regexp.Regexp
	exception *regexp.Regexp
}

// debugPatterns are tried in order; the first match names the page. Each
// marker is text the framework writes itself, never the application's, so
// an ordinary error page cannot match by accident; the generic stack-trace
// patterns need a whole frame line, not just a word such as "Traceback".
var debugPatterns = []debugPattern{
	{kind: "werkzeug_debugger", all: []string{"// Werkzeug Debugger</title>"},
		exception: regexp.MustCompile(`<title>([A-Za-z_][\w.]*)`)},
	{kind: "werkzeug_debugger", all: []string{"?__debugger__=yes&amp;cmd=resource"}},
	{kind: "django_technical_500", all: []string{`<meta name="robots" content="NONE,NOARCHIVE">`},
		re:        regexp.MustCompile(`<title>[^<]*\sat /`),
		exception: regexp.MustCompile(`<title>([A-Za-z_][\w.]*)`)},
	{kind: "django_technical_500", all: []string{"\nDjango Version: ", "\nPython Executable: "},
		exception: regexp.MustCompile(`^([A-Za-z_][\w.]*) at /`)},
	{kind: "rails_exception", all: []string{"<title>Action Controller: Exception caught</title>"},
		exception: regexp.MustCompile(`<h1>\s*([A-Z][\w:]*)`)},
	{kind: "express_stack", all: []string{"<br> &nbsp; &nbsp;at "},
		exception: regexp.MustCompile(`<pre>([A-Za-z_$][\w$.]*)[:<]`)},
	{kind: "go_panic", re: regexp.MustCompile(`goroutine \d+ \[[^\]\n]{1,64}\]:\n`)},
	{kind: "python_traceback", re: regexp.MustCompile(`Traceback \(most recent call last\):\s+File (?:"|&quot;|&#34;)`)},
	{kind: "node_stack", re: regexp.MustCompile(`\n {4}at [^\n]+:\d+:\d+\)?\n {4}at `)},
	{kind: "java_stack", re: regexp.MustCompile(`\n\s*at [\w$.<>]+\([\w$]+\.java:\d+\)`)},
	{kind: "php_stack", re: regexp.MustCompile(`Stack trace:(?:<br />)?\n#0 `)},
}

// detectDebugPage reports which kind of debug page b (the start of a
// decoded response body) is, and the exception class it names when one can
// be read safely, or "" when it is none.
func detectDebugPage(b []byte) (kind, exception string) {
	for _, p := range debugPatterns {
		if !matchAll(b, p.all) || (p.re != nil && !p.re.Match(b)) {
			continue
		}
		if p.exception != nil {
			if m := p.exception.FindSubmatch(b); m != nil && len(m[1]) <= 128 {
				exception = string(m[1])
			}
		}
		return p.kind, exception
	}
	return "", ""
}

func matchAll(b []byte, markers []string) bool {
	for _, m := range markers {
		if !bytes.Contains(b, []byte(m)) {
			return false
		}
	}
	return true
}

// decodePrefix returns the start of a body prefix raw decoded from its
// Content-Encoding, at most DebugPeekBytes of it, or false when it cannot
// be read. gzip and deflate (zlib, or raw deflate as some servers send
// it) are decoded: the stdlib has them, and they are what Django's
// GZipMiddleware, Rack::Deflater and Express's compression send first.
// Other codings (br, zstd, several at once) have no decoder here and are
// reported as uninspectable: the caller then replaces the response rather
// than pass a page it could not read. Decoding stops at DebugPeekBytes of
// output, so a small compressed prefix cannot expand without bound, and a
// prefix cut mid-stream decodes as far as it goes.
func decodePrefix(encoding string, raw []byte) ([]byte, bool) {
	var r io.Reader
	var err error
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return raw, true
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(raw))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			r, err = flate.NewReader(bytes.NewReader(raw)), nil
		}
	default:
		return nil, false
	}
	if err != nil {
		return nil, false
	}
	out, err := io.ReadAll(io.LimitReader(r, DebugPeekBytes))
	if len(out) == 0 && err != nil {
		return nil, false
	}
	return out, true
}

// interceptedError is returned by ModifyResponse for a 5xx the proxy
// replaces; handleError then writes the generic page in its place. The
// upstream's body and headers are discarded.
type interceptedError struct {
	status     int
	kind       string // the debug page detected; "" when none was
	exception  string // its exception class, when it could be read
	encoding   string // a Content-Encoding that could not be inspected
	retryAfter string
	ctype      string
}

func (e *interceptedError) Error() string {
	switch {
	case e.kind != "":
		return fmt.Sprintf("upstream %d response is a debug page (%s)", e.status, e.kind)
	case e.encoding != "":
		return fmt.Sprintf("upstream %d response in content coding %q cannot be inspected", e.status, e.encoding)
	}
	return fmt.Sprintf("upstream %d response replaced", e.status)
}

// inspectServerError decides whether the 5xx res is replaced: it returns an
// *interceptedError for one that is, and nil for one that passes, with
// res.Body then replaying every byte it read. A HEAD response has no body
// to leak and passes in InterceptDebugPages. Reading the body ends with
// the client's request: its error is returned for handleError to classify.
func (p *Proxy) inspectServerError(res *http.Response) error {
	ie := &interceptedError{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"),
		ctype: res.Header.Get("Content-Type")}
	if res.Body == nil || res.Body == http.NoBody || res.Request.Method == http.MethodHead {
		if p.intercept == InterceptAll {
			return ie
		}
		return nil
	}
	size := DebugPeekBytes
	if res.ContentLength >= 0 && res.ContentLength < DebugPeekBytes {
		size = int(res.ContentLength)
	}
	buf := make([]byte, size)
	n := 0
	var readErr error // the body's own error: io.EOF, or why it broke off
	for n < len(buf) && readErr == nil {
		var m int
		m, readErr = res.Body.Read(buf[n:])
		n += m
	}
	buf = buf[:n]
	if readErr != nil && readErr != io.EOF && res.Request.Context().Err() != nil {
		return readErr // the client went away
	}
	res.Body = &replayBody{buf: buf, err: readErr, rc: res.Body}
	encoding := strings.Join(res.Header.Values("Content-Encoding"), ", ")
	decoded, ok := decodePrefix(encoding, buf)
	if !ok {
		if p.intercept != InterceptAll {
			ie.encoding = encoding // replaced because it could not be read
		}
		return ie
	}
	ie.kind, ie.exception = detectDebugPage(decoded)
	if ie.kind == "" && p.intercept != InterceptAll {
		return nil
	}
	return ie
}

// replayBody is a response body whose start was read ahead: it returns
// buf, then the error the read-ahead ended with (io.EOF at the end of the
// body), or else the rest of rc.
type replayBody struct {
	buf []byte
	err error
	rc  io.ReadCloser
}

func (b *replayBody) Read(p []byte) (int, error) {
	if len(b.buf) > 0 {
		n := copy(p, b.buf)
		b.buf = b.buf[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rc.Read(p)
}

func (b *replayBody) Close() error { return b.rc.Close() }

// writeIntercepted answers a replaced 5xx: the generic page with the
// upstream's status and the request id, and a log record saying what was
// replaced. The body itself is never logged, not even an excerpt: a
// traceback quotes source lines, local variables, settings and request
// headers, which hold passwords, tokens and session cookies, and the log
// is read by more people, kept longer and shipped further than the
// application's own error log, which has the full trace already. The
// record names the kind of page and the exception's class, which is
// enough to find the failure there by time and request id.
func (p *Proxy) writeIntercepted(w http.ResponseWriter, r *http.Request, ie *interceptedError) {
	ctx := r.Context()
	id := requestid.FromRequest(r)
	attrs := []slog.Attr{
		slog.String("reason", "upstream_error_intercepted"),
		slog.String("upstream", p.upstreamLog),
		slog.String("request_id", id),
		slog.String("client_ip", clientAddr(r)),
		slog.String("method", r.Method),
		slog.String("path", safe.Clean(r.URL.Path, 1024)),
		slog.Int("status", ie.status),
		slog.String("content_type", safe.Clean(ie.ctype, 128)),
	}
	switch {
	case ie.kind != "":
		attrs = append(attrs, slog.String("detected", ie.kind))
		if ie.exception != "" {
			attrs = append(attrs, slog.String("exception", ie.exception))
		}
		p.logger.LogAttrs(ctx, slog.LevelError, "upstream debug page replaced: the application runs in debug mode", attrs...)
		if ok, suppressed := p.debugSampler.Allow("debug_page"); ok {
			p.seclog.Event(ctx, r, slog.LevelError, seclog.UpstreamDebugPage,
				"upstream debug page replaced",
				slog.String("upstream", p.upstreamLog),
				slog.String("detected", ie.kind),
				slog.Int("status", ie.status),
				slog.Int("suppressed", suppressed),
			)
		}
	case ie.encoding != "":
		attrs = append(attrs, slog.String("content_encoding", safe.Clean(ie.encoding, 128)))
		p.logger.LogAttrs(ctx, slog.LevelWarn, "upstream error page replaced: its content coding cannot be inspected for a debug page", attrs...)
	default:
		p.logger.LogAttrs(ctx, slog.LevelInfo, "upstream error page replaced", attrs...)
	}
	if validRetryAfter(ie.retryAfter) {
		// A 503's Retry-After tells clients and crawlers when to come
		// back; it says nothing about the application.
		w.Header().Set("Retry-After", ie.retryAfter)
	}
	httperr.Write(w, r, ie.status, "", id)
}

// validRetryAfter: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
func validRetryAfter(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	if strings.Trim(v, "0123456789") == "" {
		return true
	}
	_, err := http.ParseTime(v)
	return err == nil
}

// asIntercepted returns err as an *interceptedError, or nil.
func asIntercepted(err error) *interceptedError {
	var ie *interceptedError
	if errors.As(err, &ie) {
		return ie
	}
	return nil
}
