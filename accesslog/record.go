package accesslog

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/rampart-dev/rampart/internal/reqstate"
)

// entry is the per-request state: the attributes later stages add.
type entry struct {
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
	if len(attrs) == 0 {
		return
	}
	s := reqstate.From(r.Context())
	if s == nil {
		return
	}
	e, _ := s.Access.(*entry)
	if e == nil {
		return
	}
	e.mu.Lock()
	e.extra = append(e.extra, attrs...)
	e.mu.Unlock()
}

// accessFree is reqstate.Take's test for the entry.
func accessFree(s *reqstate.State) bool { return s.Access == nil }
