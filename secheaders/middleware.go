package secheaders

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/reqpath"
)

// Handler returns next wrapped by the policy.
//
// The headers are written when the response is committed, by a
// ResponseWriter wrapper: at WriteHeader, at the first Write or Flush, or,
// when next returns without writing anything (an implicit 200), just after
// it returns. Committing there, and not before calling next, is what lets
// the policy replace the headers a reverse proxy copied from the upstream
// (httputil.ReverseProxy adds them with Header.Add into the same map just
// before WriteHeader) and cover the error pages of later stages.
//
// The route is chosen on the canonical path (reqpath.FromRequest); a path
// that has none (ambiguous, and no reqpath.Policy handler in front) gets
// the policy's own headers, not a route's.
//
// When CSP.Report is enabled, the collector is not served here: mount
// Collector at ReportPath behind the host check and a rate limit, so that
// reports count against a client like any other request (rampart's gateway
// does).
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := next
		set := m.base
		if len(m.routes) > 0 {
			if p, err := reqpath.FromRequest(r); err == nil {
				set = m.setFor(p)
			}
		}
		var nonce string
		if m.nonce.enabled {
			nonce = newNonce()
			// Replace, never append to, what the client sent: the
			// application must only ever see our nonce.
			if r.Header == nil {
				r.Header = http.Header{}
			}
			r.Header[m.nonce.header] = []string{nonce}
			var st *reqstate.State
			st, r = reqstate.Take(r, nonceFree)
			st.Nonce = nonce
		}
		sw := &writer{ResponseWriter: w, m: m, set: set, tls: r.TLS != nil, nonce: nonce, head: r.Method == http.MethodHead}
		defer func() {
			// A panic going through (http.ErrAbortHandler): stop the
			// HTML rewriter, whose goroutine would otherwise wait on
			// the body forever.
			if sw.inj != nil {
				sw.inj.abort()
			}
		}()
		h.ServeHTTP(sw, r)
		sw.finish()
	})
}

// setFor returns the header set of the longest route prefix matching the
// canonical path p.
func (m *Middleware) setFor(p string) *headerSet {
	for _, rt := range m.routes {
		if rt.prefix.Match(p) {
			return rt.set
		}
	}
	return m.base
}

// Header returns the headers the policy adds to a response for the
// escaped path p (over TLS when tls is set), as they would be sent with no
// application headers and nonce as the nonce. For tests and `rampart
// check`.
func (m *Middleware) Header(p string, tls bool, nonce string) http.Header {
	h := http.Header{}
	set := m.base
	if c, err := reqpath.Canonical(p); err == nil {
		set = m.setFor(c)
	}
	m.apply(h, set, tls, nonce)
	return h
}

// apply writes the header set into h, resolving each header against the
// application's value by its mode.
func (m *Middleware) apply(h http.Header, set *headerSet, tls bool, nonce string) {
	for i := range set.fixed {
		applyFixed(h, &set.fixed[i])
	}
	if tls {
		applyFixed(h, &set.hsts)
	}
	if c := &set.csp; c.name != "" {
		var ours string
		var oursVal []string
		if c.static != nil {
			oursVal = c.static
			ours = c.static[0]
		} else {
			ours = strings.Join(c.segments, nonce)
			oursVal = []string{ours}
		}
		switch old := h[c.name]; {
		case len(old) == 0 || c.mode == ModeOverride:
			h[c.name] = oursVal
		case c.mode == ModeKeep:
			h[c.name] = dedupe(old)
		case c.mode == ModeMerge:
			h[c.name] = []string{mergeCSP(ours, old)}
		}
	}
	if m.cookies != nil {
		if sc := h["Set-Cookie"]; len(sc) > 0 {
			hardenCookies(sc, m.cookies, tls)
		}
	}
}

func applyFixed(h http.Header, f *fixedHeader) {
	switch {
	case f.val == nil && !f.del:
		return
	case f.mode == ModeKeep && len(h[f.name]) > 0:
		h[f.name] = dedupe(h[f.name])
	case f.del:
		delete(h, f.name)
	case f.dict && len(h[f.name]) > 0:
		h[f.name] = []string{mergeDict(f.val[0], h[f.name])}
	default:
		h[f.name] = f.val
	}
}

// dedupe removes repeated values (an application behind another proxy that
// adds the same header twice).
func dedupe(vals []string) []string {
	if len(vals) < 2 {
		return vals
	}
	out := vals[:0:0]
	for _, v := range vals {
		dup := false
		for _, o := range out {
			if o == v {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// mergeCSP returns the policy list "ours, theirs..." with identical policies
// once. Each policy of a list is enforced (CSP3 §3.1), so the result allows
// only what every policy allows.
func mergeCSP(ours string, theirs []string) string {
	seen := []string{ours}
	for _, field := range theirs {
		for pol := range strings.SplitSeq(field, ",") {
			pol = strings.TrimSpace(pol)
			if pol == "" || !validFieldValue(pol) {
				continue
			}
			dup := false
			for _, s := range seen {
				if s == pol {
					dup = true
					break
				}
			}
			if !dup {
				seen = append(seen, pol)
			}
		}
	}
	return strings.Join(seen, ", ")
}

// writer applies the policy when the response is committed.
type writer struct {
	http.ResponseWriter
	m        *Middleware
	set      *headerSet
	tls      bool
	head     bool
	nonce    string
	wrote    bool // headers committed
	hijacked bool
	inj      *injector // HTML nonce injection, when active
}

func (w *writer) commit(code int) {
	w.wrote = true
	h := w.ResponseWriter.Header()
	w.m.apply(h, w.set, w.tls, w.nonce)
	if w.m.nonce.inject && !w.head {
		w.inj = newInjector(w.ResponseWriter, h, code, w.nonce)
	}
}

func (w *writer) WriteHeader(code int) {
	if !w.wrote {
		// 1xx responses (103 Early Hints) are interim: the final
		// response still follows and is the one to protect.
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			w.ResponseWriter.WriteHeader(code)
			return
		}
		w.commit(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.inj != nil {
		return w.inj.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Flush commits the headers before flushing, so a handler that flushes
// before writing (server-sent events) still gets them.
func (w *writer) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController calls.
func (w *writer) FlushError() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.inj != nil {
		if err := w.inj.flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (WebSocket); no header is written.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish commits an implicit 200 (the handler wrote nothing) and ends HTML
// nonce injection.
func (w *writer) finish() {
	if w.hijacked {
		return
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.inj != nil {
		w.inj.close()
	}
}

// mergeDict adds the members of the application's structured-field
// dictionaries (Reporting-Endpoints: its own NEL or deprecation endpoints) to
// ours, dropping any member that reuses our key, so neither side loses its
// endpoints and the header is sent once.
func mergeDict(ours string, theirs []string) string {
	key, _, _ := strings.Cut(ours, "=")
	out := ours
	var kept []string // members added, to send a repeated one once
	for _, field := range theirs {
		for member := range strings.SplitSeq(field, ",") {
			member = strings.TrimSpace(member)
			k, _, _ := strings.Cut(member, "=")
			if member == "" || strings.TrimSpace(k) == key || !validFieldValue(member) || slices.Contains(kept, member) {
				continue
			}
			kept = append(kept, member)
			out += ", " + member
		}
	}
	return out
}
