package accesslog

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
)

type ctxKey struct{}

// entry is the per-request state: the response writer wrapper and the
// attributes later stages add. One allocation per request holds both.
type entry struct {
	rw    responseWriter
	mu    sync.Mutex // AddAttrs may be called from a goroutine of the handler
	extra []slog.Attr
}

// AddAttrs adds attributes to the access-log record of r, written when the
// request completes: the rate-limit decision, the authenticated user, a
// cache status. It is a no-op when no access-log middleware is in front
// (the library used alone), so stages can call it unconditionally.
//
// String values go through the same JSON escaping, clipping (512 bytes)
// and cleaning of deceptive characters as every other field, but nothing
// is redacted: never pass a secret (a token, a cookie, a password) or a
// whole header. Keys should not collide with the fixed
// fields; a duplicate key appears twice in the line.
func AddAttrs(r *http.Request, attrs ...slog.Attr) {
	e, _ := r.Context().Value(ctxKey{}).(*entry)
	if e == nil || len(attrs) == 0 {
		return
	}
	e.mu.Lock()
	e.extra = append(e.extra, attrs...)
	e.mu.Unlock()
}

func newContext(ctx context.Context, e *entry) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
}
