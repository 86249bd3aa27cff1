// Package requestid gives every request an identifier that appears in the
// access log, the security log, error pages and the upstream request, so one
// request can be followed across all of them.
package requestid

import (
	"context"
	"net/http"

	"github.com/rampart-dev/rampart/internal/reqstate"
)

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	s, ctx := reqstate.With(ctx)
	s.ID = id
	return ctx
}

// FromContext returns the request id stored by NewContext or the
// middleware, or "".
func FromContext(ctx context.Context) string {
	if s := reqstate.From(ctx); s != nil {
		return s.ID
	}
	return ""
}

// idFree is reqstate.Take's test for the id.
func idFree(s *reqstate.State) bool { return s.ID == "" }

// FromRequest is FromContext(r.Context()), in the shape httperr.Recover takes.
func FromRequest(r *http.Request) string { return FromContext(r.Context()) }
