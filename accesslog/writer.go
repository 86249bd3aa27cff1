package accesslog

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// responseWriter records the final status and the body bytes written.
// It has Unwrap, so http.ResponseController reaches the server's writer
// for deadlines and full duplex; Flush and Hijack are implemented here
// because the record needs to know about them.
type responseWriter struct {
	w           http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	hijacked    bool
}

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

// WriteHeader passes informational responses (100 Continue, 103 Early
// Hints) through without taking them for the final status, as net/http
// does; 101 Switching Protocols is final.
func (rw *responseWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		rw.w.WriteHeader(code)
		return
	}
	if !rw.wroteHeader {
		rw.wroteHeader = true
		rw.status = code
	}
	rw.w.WriteHeader(code)
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.wroteHeader = true
		rw.status = http.StatusOK
	}
	n, err := rw.w.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy's sendfile path (http.ServeContent) while still
// counting bytes: io.Copy uses the underlying writer's ReaderFrom.
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !rw.wroteHeader {
		rw.wroteHeader = true
		rw.status = http.StatusOK
	}
	n, err := io.Copy(rw.w, src)
	rw.bytes += n
	return n, err
}

// FlushError is what http.ResponseController.Flush calls.
func (rw *responseWriter) FlushError() error {
	if !rw.wroteHeader {
		rw.wroteHeader = true
		rw.status = http.StatusOK
	}
	return http.NewResponseController(rw.w).Flush()
}

// Flush implements http.Flusher for handlers that type-assert it.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// Hijack hands the connection over (WebSocket, CONNECT); the request is
// then logged with status 101 unless a final status was already written.
// Bytes exchanged on a hijacked connection are not counted.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.hijacked = true
		if !rw.wroteHeader {
			rw.wroteHeader = true
			rw.status = http.StatusSwitchingProtocols
		}
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController find the server's writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }
