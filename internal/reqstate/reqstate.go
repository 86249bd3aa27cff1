// Package reqstate carries, in one object per request, what the observing
// middleware record about it: the request id (requestid), the client
// address (clientip) and the access-log entry (accesslog).
//
// A context value each would cost three copies of the http.Request and
// three context values a request. With a State, the first of them to run
// copies the request once; the others record their field in the same
// State.
//
// A field is written once, by the middleware that owns it, before the
// request is passed on. A middleware that finds its field already set (the
// same middleware twice in a chain, or NewContext called on a request that
// has one) records its value in a copy of the State, carried by a copy of
// the request, so the handlers outside it still see the outer value, as
// with one context value per middleware. The one difference: a handler
// outside a middleware sees, once the request has passed that middleware,
// the value it recorded; with separate context values it never did.
package reqstate

import (
	"context"
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
}

type key struct{}

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

func derive(ctx context.Context, s *State) (*State, context.Context) {
	n := new(State)
	if s != nil {
		*n = *s
	}
	return n, context.WithValue(ctx, key{}, n)
}
