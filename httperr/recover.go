package httperr

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// Recover turns a panic in next into a generic 500 response and one error
// log record carrying the panic value and stack. The client never sees
// either. http.ErrAbortHandler is re-raised: it is how handlers (and
// httputil.ReverseProxy) ask net/http to abort a response mid-stream.
//
// requestID, when not nil, supplies the id shown on the error page and
// logged with the stack, so the two can be matched. logger nil means
// slog.Default().
func Recover(logger *slog.Logger, requestID func(*http.Request) string) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tw := &trackingWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				id := ""
				if requestID != nil {
					id = requestID(r)
				}
				logger.ErrorContext(r.Context(), "panic serving request",
					"panic", fmt.Sprint(v),
					"stack", string(debug.Stack()),
					"request_id", id,
					"method", r.Method,
				)
				if tw.wroteHeader {
					// Too late for a clean error page: abort the
					// response so the client sees a broken transfer
					// rather than a truncated success.
					panic(http.ErrAbortHandler)
				}
				Write(w, r, http.StatusInternalServerError, "", id)
			}()
			next.ServeHTTP(tw, r)
		})
	}
}

type trackingWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (t *trackingWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		t.wroteHeader = true
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wroteHeader = true
	return t.ResponseWriter.Write(b)
}

// Flush commits the response like a Write does: a handler streaming
// (server-sent events) may flush before writing a byte, and a panic after
// that must abort the response, not append an error page to it.
func (t *trackingWriter) Flush() { _ = t.FlushError() }

// FlushError is what http.ResponseController calls.
func (t *trackingWriter) FlushError() error {
	err := http.NewResponseController(t.ResponseWriter).Flush()
	if err == nil {
		t.wroteHeader = true
	}
	return err
}

// Unwrap lets http.ResponseController reach Hijack and deadlines.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
