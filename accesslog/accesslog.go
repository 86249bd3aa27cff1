package accesslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
)

// Message is the "msg" of every access-log record, so access lines can be
// told apart when they share a stream with other logs.
const Message = "http_request"

// Bounds on logged values, in bytes. A value over its bound is cut on a
// rune boundary and ends with "…" (safe.CutMark), within the bound. They keep a line well under the
// 16 KB to 64 KB line limits of common log shippers, past which a line is
// split and its tail could pass for a record of its own.
const (
	maxHost      = 256
	maxPath      = 2048
	maxQuery     = 2048
	maxUserAgent = 512
	maxReferer   = 1024

	maxRefererInput = 8192 // longer Referers are logged as "REDACTED…"

	maxAttr = 512 // a string added with AddAttrs
)

// Options configures the access log. The zero value logs to standard
// output with every query value redacted.
type Options struct {
	// Writer receives one JSON line per request. Default os.Stdout. Use
	// logfile.Open for a rotated file. Writes are serialised, one Write per
	// line.
	Writer io.Writer

	// KeepQueryParams names the query parameters (of the request and of
	// the Referer) whose values are logged as sent. Default none: every
	// value is logged as REDACTED, names are kept. Names are matched
	// exactly, case-sensitively, after percent-decoding.
	KeepQueryParams []string
}

// secretLooking are substrings of parameter names that usually carry a
// secret; keeping them draws a warning.
var secretLooking = []string{"token", "secret", "pass", "key", "auth", "code", "session", "sig", "jwt", "otp", "nonce", "state"}

// Logger is the access-log middleware. It is immutable and safe for
// concurrent use.
type Logger struct {
	w    io.Writer
	mu   *sync.Mutex // one Write per line, lines never interleaved
	keep []string
}

// Validate reports what is wrong with o, and what is valid but risky, by
// Go field path ("KeepQueryParams[1]"). New refuses o on any error.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	for i, k := range o.KeepQueryParams {
		path := field.Index("KeepQueryParams", i)
		if k == "" || strings.ContainsAny(k, "&;=") {
			errs.Errorf(path, "write a parameter name such as page", "%q is not a parameter name", k)
			continue
		}
		lk := strings.ToLower(k)
		for _, s := range secretLooking {
			if strings.Contains(lk, s) {
				errs.Warnf(path, "remove it: the access log must not hold credentials", "%q looks like it may carry a secret, which would then be written to the access log", k)
				break
			}
		}
	}
	return errs
}

// New validates o and returns the middleware.
func New(o Options) (*Logger, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	w := o.Writer
	if w == nil {
		w = os.Stdout
	}
	return &Logger{w: w, mu: new(sync.Mutex), keep: append([]string(nil), o.KeepQueryParams...)}, nil
}

// replaceAttr writes the time in UTC with exactly millisecond precision
// and drops the level, which is always INFO.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) != 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if a.Value.Kind() == slog.KindTime {
			var buf [32]byte
			b := a.Value.Time().UTC().AppendFormat(buf[:0], "2006-01-02T15:04:05.000Z07:00")
			return slog.String(slog.TimeKey, string(b))
		}
	case slog.LevelKey:
		if a.Value.Kind() == slog.KindAny {
			if _, ok := a.Value.Any().(slog.Level); ok {
				return slog.Attr{}
			}
		}
	}
	return a
}

// Handler logs each request after next has served it. The record is also
// written when next panics (with "aborted":true; status is what was sent,
// 0 if nothing was), so a request that killed its connection still leaves
// a trace; the panic continues unchanged.
func (l *Logger) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		e := new(entry)
		var s *reqstate.State
		s, r = reqstate.Take(r, accessFree)
		s.Access = e
		w, resp := reqstate.Record(r, w)
		done := false
		defer func() { l.log(r, e, resp, start, !done) }()
		next.ServeHTTP(w, r)
		done = true
	})
}

func (l *Logger) log(r *http.Request, e *entry, resp *reqstate.Response, start time.Time, aborted bool) {
	ctx := r.Context()
	dur := time.Since(start)
	status := resp.Status
	if status == 0 && !aborted {
		status = http.StatusOK // what net/http sends when the handler wrote nothing
	}
	client := ""
	if a := clientip.FromRequest(r); a.IsValid() {
		client = a.String()
	}
	referer := ""
	if v := r.Header.Get("Referer"); len(v) > maxRefererInput {
		// Cutting before redaction could cut inside userinfo and leave
		// a password without its '@'; a Referer this long is noise.
		referer = Redacted + "…"
	} else if v != "" {
		referer = safe.Clean(RedactURL(v, l.keep), maxReferer)
	}
	query := ""
	path := ""
	if r.URL != nil {
		path = safe.Clean(r.URL.EscapedPath(), maxPath)
		if q := r.URL.RawQuery; q != "" {
			// Cutting the raw query first bounds the work and is safe: a
			// cut value stays redacted, a cut name loses its value.
			cut := len(q) > maxQuery
			if cut {
				q = q[:maxQuery]
			}
			query = safe.Clean(RedactQuery(q, l.keep), maxQuery)
			if cut && !strings.HasSuffix(query, safe.CutMark) {
				// Mark the cut, within the bound like any other.
				query = safe.Clean(query, maxQuery-len(safe.CutMark))
				if !strings.HasSuffix(query, safe.CutMark) {
					query += safe.CutMark
				}
			}
		}
	}
	ln := line{
		start: start,
		strs1: [7]recField{
			{"request_id", safe.Clean(requestid.FromContext(ctx), requestid.MaxLen)},
			{"client_ip", client},
			{"method", safe.Clean(r.Method, 32)},
			{"host", safe.Clean(r.Host, maxHost)},
			{"path", path},
			{"query", query},
			{"proto", safe.Clean(r.Proto, 16)},
		},
		status:     status,
		bytes:      resp.Bytes,
		durationUS: microseconds(dur),
		strs2: [3]recField{
			{"user_agent", safe.Clean(r.Header.Get("User-Agent"), maxUserAgent)},
			{"referer", referer},
			{"tls_version", tlsVersion(r.TLS)},
		},
		aborted: aborted,
	}
	e.mu.Lock()
	ln.extra = e.extra
	e.mu.Unlock()
	cleanAttrs(ln.extra)
	bp := linePool.Get().(*[]byte)
	buf := l.encode((*bp)[:0], &ln)
	// A failed write (disk full) cannot be reported anywhere better than
	// the log that failed; the request is not affected.
	l.mu.Lock()
	_, _ = l.w.Write(buf)
	l.mu.Unlock()
	if cap(buf) <= maxPooledLine {
		*bp = buf
		linePool.Put(bp)
	}
}

// encode appends the record: by hand when every added attribute is of a
// kind appendLine writes, through the slog handler otherwise.
func (l *Logger) encode(buf []byte, ln *line) []byte {
	simple := true
	for _, a := range ln.extra {
		if !simpleAttr(a) {
			simple = false
			break
		}
	}
	if simple {
		return appendLine(buf, ln)
	}
	rec := slog.NewRecord(ln.start, slog.LevelInfo, Message, 0)
	for _, f := range ln.strs1 {
		rec.AddAttrs(slog.String(f.key, f.str))
	}
	rec.AddAttrs(
		slog.Int("status", ln.status),
		slog.Int64("bytes", ln.bytes),
		slog.Float64("duration_ms", float64(ln.durationUS)/1e3),
	)
	for _, f := range ln.strs2 {
		rec.AddAttrs(slog.String(f.key, f.str))
	}
	if ln.aborted {
		rec.AddAttrs(slog.Bool("aborted", true))
	}
	rec.AddAttrs(ln.extra...)
	b := bytes.NewBuffer(buf)
	_ = slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: replaceAttr}).Handle(context.Background(), rec)
	return b.Bytes()
}

// cleanAttrs clips and cleans, in place, the string values added with
// AddAttrs, as the fixed fields are: a later stage may add a value that
// came from the client (a user name from an identity header), and neither
// its length nor its bidi overrides may reach the line. The request is
// over, so the slice is no longer shared.
func cleanAttrs(attrs []slog.Attr) {
	for i, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			if v := a.Value.String(); len(v) > 0 {
				if c := safe.Clean(v, maxAttr); c != v {
					attrs[i].Value = slog.StringValue(c)
				}
			}
		}
	}
}

func tlsVersion(cs *tls.ConnectionState) string {
	if cs == nil {
		return ""
	}
	switch cs.Version {
	case tls.VersionTLS13:
		return "TLS1.3"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS10:
		return "TLS1.0"
	}
	return "unknown"
}
