// Package reqstate carries, in one object per request, what the observing
// middleware record about it: the request id (requestid), the client
// address (clientip), the access-log entry (accesslog), and the response
// as the access log, the metrics and the dashboard see it.
//
// A context value each would cost three copies of the http.Request and
// three context values a request. With a State, the first of them to run
// copies the request once, into a context that is the State itself; the
// others record their field in the same State.
//
// A field is written once, by the middleware that owns it, before the
// request is passed on. A middleware that finds its field already set (the
// same middleware twice in a chain, or NewContext called on a request that
// has one) records its value in a copy of the State, carried by a copy of
// the request, so the handlers outside it still see the outer value, as
// with one context value per middleware. The one difference: a handler
// outside a middleware sees, once the request has passed that middleware,
// the value it recorded; with separate context values it never did.
//
// The observers of the response share one writer in the same way (Record):
// the first wraps the server's writer in the State's own recorder, and an
// observer handed that very writer reads the same record instead of adding
// a wrapper of its own. One handed any other writer (a middleware between
// them wrapped it) gets a recorder of its own, so each observer sees what
// was written through the writer it was given.
package reqstate

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
)

// State is what the observing middleware record about one request.
type State struct {
	// ID is the request id; "" until the requestid middleware (or
	// requestid.NewContext) sets it.
	ID string
	// Client is the resolved client address; the zero Addr until the
	// clientip middleware (or clientip.NewContext) sets it.
	Client netip.Addr
	// Access is the access-log entry (accesslog's own type); nil until
	// the access-log middleware sets it.
	Access any
	// App reports whether the request reached the application (set by
	// MarkApp, for the dashboard).
	App bool
	// Nonce is the CSP nonce of the response; "" until the secheaders
	// middleware sets it (with nonces on).
	Nonce string

	up   *State   // the State this one is a copy of
	rec  recorder // the shared writer, once Record has wrapped one
	resp Response // what rec saw
}

// ctx is a request's context carrying its State: one allocation for both.
type ctx struct {
	context.Context
	s State
}

type key struct{}

func (c *ctx) Value(k any) any {
	// A type assertion compares the type word only; k == key{} would
	// compare two interfaces through the runtime, on every lookup of
	// every key that passes through this context.
	if _, ok := k.(key); ok {
		return &c.s
	}
	return c.Context.Value(k)
}

// From returns the State carried by ctx, or nil.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(key{}).(*State)
	return s
}

// Take returns the State in which a middleware records its field, and the
// request to pass on. free reports whether the field is still unset in a
// State. When r carries a State whose field is free, Take returns it and
// r unchanged. Otherwise it returns a new State (a copy of r's, when r has
// one) and a shallow copy of r carrying it.
func Take(r *http.Request, free func(*State) bool) (*State, *http.Request) {
	s := From(r.Context())
	if s != nil && free(s) {
		return s, r
	}
	s, ctx := derive(r.Context(), s)
	return s, r.WithContext(ctx)
}

// With returns a copy of ctx carrying a new State, a copy of ctx's when it
// has one, for the caller to set its field in: the NewContext functions of
// the packages that record one.
func With(ctx context.Context) (*State, context.Context) {
	return derive(ctx, From(ctx))
}

// derive returns a new State carried by a context derived from parent: a
// copy of s's fields when s is not nil, but not of its writer, which
// belongs to the handlers outside.
func derive(parent context.Context, s *State) (*State, context.Context) {
	c := &ctx{Context: parent}
	if s != nil {
		c.s = State{ID: s.ID, Client: s.Client, Access: s.Access, App: s.App, Nonce: s.Nonce, up: s}
	}
	return &c.s, c
}

// MarkApp records that the request of ctx reached the application: App
// is set in its State and in every State that one was copied from. It
// does nothing when ctx carries no State.
func MarkApp(ctx context.Context) {
	for s := From(ctx); s != nil; s = s.up {
		s.App = true
	}
}

// Response is what an observer learns of the response written through
// the writer Record returned with it.
type Response struct {
	// Status is the final status: the first status of 200 or more, or
	// 101, passed to WriteHeader; 200 when the body or a flush comes
	// first; 101 when the connection is hijacked first; 0 until then.
	// Informational responses (100, 103) pass through unrecorded.
	Status int
	// Bytes counts the body bytes written (not those exchanged on a
	// hijacked connection).
	Bytes int64
}

// Record returns the writer an observing middleware passes on, in place of
// w, and the record of the response written through it.
//
// When r carries a State, the first writer wrapped is the State's own, and
// a later Record call given that very writer returns it again, with the
// same record: observers one inside the other share one wrapper. Any other
// writer is wrapped in a recorder of its own.
func Record(r *http.Request, w http.ResponseWriter) (http.ResponseWriter, *Response) {
	if s := From(r.Context()); s != nil {
		if s.rec.w == nil {
			s.rec = recorder{w: w, resp: &s.resp}
			return &s.rec, &s.resp
		}
		if w == http.ResponseWriter(&s.rec) {
			return w, &s.resp
		}
	}
	o := &struct {
		rec  recorder
		resp Response
	}{}
	o.rec = recorder{w: w, resp: &o.resp}
	return &o.rec, &o.resp
}

// recorder records the final status and the body bytes written. It has
// Unwrap, so http.ResponseController reaches the server's writer for
// deadlines and full duplex; Flush and Hijack are implemented here because
// the record needs to know about them.
type recorder struct {
	w    http.ResponseWriter
	resp *Response
}

func (rw *recorder) Header() http.Header { return rw.w.Header() }

// WriteHeader passes informational responses (100 Continue, 103 Early
// Hints) through without taking them for the final status, as net/http
// does; 101 Switching Protocols is final.
func (rw *recorder) WriteHeader(code int) {
	if rw.resp.Status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rw.resp.Status = code
	}
	rw.w.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.resp.Status == 0 {
		rw.resp.Status = http.StatusOK
	}
	n, err := rw.w.Write(p)
	rw.resp.Bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy's sendfile path (http.ServeContent) while still
// counting bytes: io.Copy uses the underlying writer's ReaderFrom.
func (rw *recorder) ReadFrom(src io.Reader) (int64, error) {
	if rw.resp.Status == 0 {
		rw.resp.Status = http.StatusOK
	}
	n, err := io.Copy(rw.w, src)
	rw.resp.Bytes += n
	return n, err
}

// FlushError is what http.ResponseController.Flush calls.
func (rw *recorder) FlushError() error {
	if rw.resp.Status == 0 {
		rw.resp.Status = http.StatusOK
	}
	return http.NewResponseController(rw.w).Flush()
}

// Flush implements http.Flusher for handlers that type-assert it.
func (rw *recorder) Flush() { _ = rw.FlushError() }

// Hijack hands the connection over (WebSocket, CONNECT); the response is
// then recorded as 101 unless a final status was already written.
func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil && rw.resp.Status == 0 {
		rw.resp.Status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController find the server's writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.w }
