package listen

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// withDeadlines applies the body-read and per-write timeouts described on
// Options.ReadTimeout and Options.WriteTimeout, through
// http.ResponseController so it works for HTTP/1 connections and HTTP/2
// streams alike, for the requests net/http's servers serve. The lane's
// requests have no body, and the lane renews their write deadline itself
// (laneConn.renewWrite).
func withDeadlines(h http.Handler, readTimeout, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		var done atomic.Bool
		now := time.Now()
		pw := &progressWriter{ResponseWriter: w, rc: rc, d: writeTimeout, done: &done, set: now}
		body := r.Body != nil && r.Body != http.NoBody
		if r.ProtoMajor == 2 {
			// An HTTP/2 stream's deadlines are set only if it is still
			// being served after half the shorter timeout (see lazy).
			pw.lazy = &lazy{}
			if body {
				pw.lazy.readDue = now.Add(readTimeout)
			}
			pw.lazy.timer = time.AfterFunc(min(readTimeout, writeTimeout)/2, pw.arm)
			defer pw.finish()
		} else {
			// Always set the write deadline first: with http.Server's own
			// WriteTimeout unset, the connection would otherwise keep the
			// deadline left by the previous request.
			defer done.Store(true)
			rc.SetWriteDeadline(now.Add(writeTimeout))
			if body {
				rc.SetReadDeadline(now.Add(readTimeout))
			}
		}
		w = pw
		if body {
			r.Body = &deadlineBody{ReadCloser: r.Body, w: pw}
		}
		h.ServeHTTP(w, r)
	})
}

// progressWriter renews the write deadline before a write or flush once
// an eighth of the timeout has passed since it was last set, so every
// write starts with at least seven eighths of the timeout ahead of it.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	d    time.Duration
	done *atomic.Bool
	lazy *lazy     // HTTP/2 only
	set  time.Time // when the deadline was last set; lazy and not armed: when the last write began
}

// lazy holds an HTTP/2 stream's deadlines until they are needed.
//
// Over HTTP/2 each deadline set or lifted is a message to the connection's
// goroutine, which starts or stops a timer for the stream, and every
// request has a body to Go's HTTP/2 server, even a GET: a write deadline,
// a read deadline and the read deadline's lifting were three messages per
// request, most of what the listener cost per request over HTTP/2
// (bench/README.md, "On a quieter day"). So a
// stream starts with neither deadline. Until its timer fires, half the
// shorter timeout after the request began, a write only notes when it
// began (progressWriter.set) and a body read to its end only forgets its
// due time. If the handler is still running then, arm sends the deadlines
// the stream would have had: the write's start plus WriteTimeout, the
// request's start plus ReadTimeout for a body not yet read. From there on
// they are renewed and lifted as for HTTP/1. A write or body that stalls
// from the start is cut at the same moment as with deadlines set up front;
// an answer written within the first half never sends one.
type lazy struct {
	timer   *time.Timer
	mu      sync.Mutex // guards what follows, and done's change
	armed   bool
	readDue time.Time // zero: no body, or read to its end
}

func (p *progressWriter) renew() {
	if l := p.lazy; l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.armed {
			p.set = time.Now()
			return
		}
	}
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

// arm sets an HTTP/2 stream's deadlines, on its timer's goroutine, unless
// the handler has returned.
func (p *progressWriter) arm() {
	l := p.lazy
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.done.Load() || l.armed {
		return
	}
	l.armed = true
	p.rc.SetWriteDeadline(p.set.Add(p.d))
	if !l.readDue.IsZero() {
		p.rc.SetReadDeadline(l.readDue)
	}
}

// liftRead is deadlineBody.lift for an HTTP/2 stream.
func (p *progressWriter) liftRead() {
	l := p.lazy
	l.mu.Lock()
	defer l.mu.Unlock()
	if !p.done.Load() && l.armed && !l.readDue.IsZero() {
		p.rc.SetReadDeadline(time.Time{})
	}
	l.readDue = time.Time{}
}

// finish ends an HTTP/2 stream's handler: no deadline is set after it.
func (p *progressWriter) finish() {
	l := p.lazy
	l.mu.Lock()
	p.done.Store(true)
	l.mu.Unlock()
	l.timer.Stop()
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
	w      *progressWriter // the response's: its controller, done and (HTTP/2) lazy deadlines
	lifted atomic.Bool
}

func (b *deadlineBody) lift() {
	if b.w.done.Load() || !b.lifted.CompareAndSwap(false, true) {
		return
	}
	if b.w.lazy != nil {
		b.w.liftRead()
		return
	}
	b.w.rc.SetReadDeadline(time.Time{})
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
