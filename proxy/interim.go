package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// interimWriter carries the upstream's 1xx interim responses (103 Early
// Hints, 102 Processing) to the client without what ModifyResponse would
// have removed from a final response, and without losing the headers
// rampart's outer stages had set. It also rewrites upstream URLs in the
// headers of every response, interim or final (see redirectRewriter): it
// is the one place that sees both and knows the client's origin.
//
// httputil.ReverseProxy forwards a 1xx by adding the upstream's 1xx header
// fields into the ResponseWriter's header map, writing the 1xx, and then
// clearing the whole map. ModifyResponse never sees a 1xx, so an upstream
// could fingerprint itself (Server: Werkzeug/2.2.2) in a 103 that rampart
// passed on as is; and the clearing erased what the outer stages had put in
// the map before the proxy ran (X-Request-ID, RateLimit fields), so the
// final response lost them. interimWriter removes the fingerprinting
// headers before a 1xx is written and restores the outer stages' headers
// after it.
type interimWriter struct {
	http.ResponseWriter
	remove headerSet
	// urls rewrites upstream URLs in Location, Content-Location and
	// Refresh of every response written, interim or final, for a client
	// that connected over TLS (or not) and asked for host. Nil: off.
	urls *redirectRewriter
	tls  bool
	host string
	// outer is a shallow copy of the header map as the outer stages
	// left it, taken at the first Header call (ReverseProxy's first touch
	// of the map, before any upstream header is in it). The value slices
	// are shared: clearing the map does not touch them, and an append
	// through the map never changes the elements they already hold.
	// The outer stages usually leave one or two fields (X-Request-ID),
	// so the copy lives in small, inside this writer's own allocation:
	// taken on every request, it costs no map and no allocation.
	outer    []headerField
	small    [4]headerField
	copied   bool
	restored bool // false after a 1xx, until outer is put back
	// lazy: the copy is taken only by keepOuter, before a 1xx's fields
	// go into the map, not at the first Header call. The direct path
	// (direct.go) writes the map itself and calls keepOuter; most
	// responses have no 1xx, and the copy, a walk of the map, is saved.
	lazy bool

	// onResult, when not nil, is told the final status and the time
	// since start, once (Options.OnResult); reported is set when it has
	// been, or when handleError reported a failure instead.
	onResult func(*http.Request, Result)
	req      *http.Request
	start    time.Time
	reported bool
}

type headerField struct {
	key  string
	vals []string
}

func (w *interimWriter) Header() http.Header {
	h := w.ResponseWriter.Header()
	if !w.copied {
		if w.lazy {
			return h
		}
		w.copyOuter(h)
	}
	if !w.restored {
		// ReverseProxy has cleared the map after the 1xx.
		w.restored = true
		for _, f := range w.outer {
			h[f.key] = f.vals[:len(f.vals):len(f.vals)]
		}
	}
	return h
}

// copyOuter takes outer from h, the map as the outer stages left it.
func (w *interimWriter) copyOuter(h http.Header) {
	w.copied = true
	w.outer = w.small[:0]
	for k, v := range h {
		w.outer = append(w.outer, headerField{k, v})
	}
	w.restored = true
}

// keepOuter takes the lazy copy of outer, before a 1xx's fields go into
// the map: once only, the map then being as the outer stages left it.
func (w *interimWriter) keepOuter() {
	if !w.copied {
		w.copyOuter(w.ResponseWriter.Header())
	}
}

func (w *interimWriter) WriteHeader(code int) {
	if w.urls != nil {
		w.urls.rewriteHeaders(w.Header(), w.tls, w.host)
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.remove.removeFrom(w.Header())
		w.ResponseWriter.WriteHeader(code)
		w.restored = false
		return
	}
	if w.onResult != nil && !w.reported {
		w.reported = true
		w.onResult(w.req, Result{Status: code, Duration: time.Since(w.start)})
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (Flush, Hijack for upgrades) reach
// the underlying writer.
func (w *interimWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack is how ReverseProxy takes the client's connection after an
// upstream's 101 Switching Protocols (a WebSocket): it writes the 101
// itself, never through WriteHeader, so the result is reported here, once
// the connection is taken. A failed hijack is reported by handleError.
func (w *interimWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.onResult != nil && !w.reported {
		w.reported = true
		w.onResult(w.req, Result{Status: http.StatusSwitchingProtocols, Duration: time.Since(w.start)})
	}
	return c, brw, err
}

// trailerFilter removes fingerprinting headers from a response's trailers.
// The trailer values of a chunked or HTTP/2 response only exist once its
// body has been read, after ModifyResponse has run, and ReverseProxy sends
// whatever they are then, announced or not; the filter runs when the body
// ends, which is before ReverseProxy reads them.
type trailerFilter struct {
	io.ReadCloser
	res    *http.Response
	remove headerSet
}

func (b *trailerFilter) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.remove.removeFrom(b.res.Trailer)
	}
	return n, err
}

func (b *trailerFilter) Close() error {
	err := b.ReadCloser.Close()
	b.remove.removeFrom(b.res.Trailer)
	return err
}
