// Package requestid gives every request an identifier that appears in the
// access log, the security log, error pages and the upstream request, so one
// request can be followed across all of them.
package requestid

import (
	"context"
	"net/http"
)

type ctxKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request id stored by NewContext, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// FromRequest is FromContext(r.Context()), in the shape httperr.Recover takes.
func FromRequest(r *http.Request) string { return FromContext(r.Context()) }
