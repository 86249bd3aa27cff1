package listen

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// withDeadlines applies the body-read and per-write timeouts described on
// Options.ReadTimeout and Options.WriteTimeout, through
// http.ResponseController so it works for HTTP/1 connections and HTTP/2
// streams alike.
func withDeadlines(h http.Handler, readTimeout, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		var done atomic.Bool
		defer done.Store(true)
		// Always set the write deadline first: with http.Server's own
		// WriteTimeout unset, the connection would otherwise keep the
		// deadline left by the previous request.
		now := time.Now()
		rc.SetWriteDeadline(now.Add(writeTimeout))
		w = &progressWriter{ResponseWriter: w, rc: rc, d: writeTimeout, done: &done, set: now}
		if r.Body != nil && r.Body != http.NoBody {
			rc.SetReadDeadline(time.Now().Add(readTimeout))
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, done: &done}
		}
		h.ServeHTTP(w, r)
	})
}

// progressWriter renews the write deadline before a write or flush once
// an eighth of the timeout has passed since it was last set, so every
// write starts with at least seven eighths of the timeout ahead of it.
// Not renewing more often matters for HTTP/2, where each deadline is a
// message to the connection's goroutine and a new timer: a small answer,
// written within microseconds of the request, sets its deadline once.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	d    time.Duration
	done *atomic.Bool
	set  time.Time // when the deadline was last set (monotonic)
}

func (p *progressWriter) renew() {
	if p.done.Load() {
		return
	}
	now := time.Now()
	if now.Sub(p.set) < p.d/8 {
		return
	}
	p.rc.SetWriteDeadline(now.Add(p.d))
	p.set = now
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.renew()
	return p.ResponseWriter.Write(b)
}

// Flush renews the deadline and flushes; the interface is kept so that
// streaming handlers that type-assert http.Flusher still work.
func (p *progressWriter) Flush() {
	p.renew()
	p.rc.Flush()
}

// FlushError is what http.ResponseController.Flush calls.
func (p *progressWriter) FlushError() error {
	p.renew()
	return p.rc.Flush()
}

// Hijack is kept for WebSocket libraries that type-assert http.Hijacker.
// net/http clears a hijacked connection's deadlines, so a WebSocket is not
// bound by WriteTimeout or ReadTimeout afterwards.
//
// io.ReaderFrom is deliberately not passed through: one ReadFrom call can
// send a whole file, and the per-write deadline would become a deadline on
// the whole download. io.Copy falls back to 32 KiB writes, each renewing it.
func (p *progressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return p.rc.Hijack()
}

// Unwrap lets http.ResponseController reach the connection (Hijack for
// WebSocket, deadlines, EnableFullDuplex).
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// deadlineBody lifts the read deadline once the body has been read to its
// end or closed, so that the deadline cannot fire later during net/http's
// background read and cancel a long response's context.
//
// Read and Close may run on different goroutines: http.Transport may close
// a request body from another goroutine while its write loop is still
// reading it, so lifted is atomic.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	done   *atomic.Bool
	lifted atomic.Bool
}

func (b *deadlineBody) lift() {
	if !b.done.Load() && b.lifted.CompareAndSwap(false, true) {
		b.rc.SetReadDeadline(time.Time{})
	}
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.lift()
	}
	return n, err
}

// Close closes the body, then lifts the deadline. Not the other way round:
// closing a server request body that was not read to its end makes net/http
// read and discard what is left of it (up to 256 KiB), and that read must
// still be bounded. With the deadline lifted first, a client that sent one
// byte of a declared body and then nothing held the handler, the upstream
// connection and the upstream's worker forever whenever the body was closed
// early, which the reverse proxy's transport does when reading it fails:
// the slow-body defence undone by its own cleanup.
func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.lift()
	return err
}
