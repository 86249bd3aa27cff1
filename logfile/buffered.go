package logfile

import (
	"io"
	"os"
	"sync"
	"time"
)

// Bounds and defaults of a log stream's buffer (Options.BufferSize and
// Options.FlushInterval).
const (
	// MaxBufferSize bounds Options.BufferSize: a larger buffer would only
	// hold lines back longer.
	MaxBufferSize = 1 << 20
	// DefaultFlushInterval is how long a line may wait in the buffer when
	// Options.FlushInterval is zero.
	DefaultFlushInterval = 100 * time.Millisecond
	// MaxFlushInterval bounds Options.FlushInterval, and so the lines a
	// process killed outright (SIGKILL, the OOM killer) takes with it.
	MaxFlushInterval = 10 * time.Second
)

// Buffered gathers whole lines in memory and writes them to the stream
// beneath in one write: when the next line would not fit, when the
// oldest line has waited the flush interval, and on Flush, Rotate and
// Close. A line that does not fit in the buffer at all is written on its
// own. Lines are never split nor reordered. It is nginx's access_log
// buffer= and flush=: one system call per buffer rather than one per
// request.
//
// Buffered is safe for concurrent use. Write reports the error of an
// earlier write to the stream, if any, since the timer's write has no
// caller to report it to.
type Buffered struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer
	armed    bool // the timer will flush what the buffer holds
	closed   bool
	err      error // the last failed write's, reported once
}

// NewBuffered returns a buffer of size bytes in front of w, written out
// at the latest interval after a line enters it (DefaultFlushInterval when
// interval is zero). Close flushes it, then closes w if w is an io.Closer.
func NewBuffered(w io.Writer, size int, interval time.Duration) *Buffered {
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	b := &Buffered{w: w, buf: make([]byte, 0, size), interval: interval}
	b.timer = time.AfterFunc(time.Hour, b.tick)
	b.timer.Stop()
	return b
}

// Write adds p, one whole line or several, to the buffer.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, os.ErrClosed
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		b.flushLocked()
	}
	if len(p) > cap(b.buf) {
		if _, err := b.w.Write(p); err != nil {
			b.err = err
		}
	} else {
		b.buf = append(b.buf, p...)
		if !b.armed {
			b.armed = true
			b.timer.Reset(b.interval)
		}
	}
	return len(p), b.takeErr()
}

func (b *Buffered) tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	b.flushLocked()
}

func (b *Buffered) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil {
		b.err = err
	}
	b.buf = b.buf[:0]
}

// takeErr returns the last failed write's error, once.
func (b *Buffered) takeErr() error {
	err := b.err
	b.err = nil
	return err
}

// Flush writes out what the buffer holds now.
func (b *Buffered) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.takeErr()
}

// Rotate flushes the buffer into the current file, then rotates the
// stream beneath if it can be (a lumberjack.Logger).
func (b *Buffered) Rotate() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	err := b.takeErr()
	if r, ok := b.w.(interface{ Rotate() error }); ok {
		if rerr := r.Rotate(); rerr != nil {
			return rerr
		}
	}
	return err
}

// Close flushes the buffer and closes the stream beneath when it is an
// io.Closer. Later writes fail with os.ErrClosed.
func (b *Buffered) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.timer.Stop()
	b.flushLocked()
	err := b.takeErr()
	if c, ok := b.w.(io.Closer); ok {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}
