package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/internal/rawio"
)

// upstreamPool is the HTTP/1.1 connection pool of the direct path (see
// direct.go): plain TCP connections to one upstream, each used by one
// request at a time, entirely in that request's goroutine. net/http's
// Transport gives every connection a reading and a writing goroutine and
// hands each request and response between them and the caller over
// channels; on a small proxied request those hand-offs and the request's
// copies cost more than rampart's own stages. The pool keeps the idle
// connections most recently used first, so a light load reuses a few warm
// ones and the others age out.
type upstreamPool struct {
	addr        string
	dialer      net.Dialer
	maxIdle     int
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   []*upstreamConn // oldest first
	closed bool
}

func newUpstreamPool(addr string, dialTimeout, idleTimeout time.Duration, maxIdle int) *upstreamPool {
	return &upstreamPool{
		addr:        addr,
		dialer:      net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		maxIdle:     maxIdle,
		idleTimeout: idleTimeout,
	}
}

// upstreamConn is one connection with its buffers. budget bounds what
// reading the response's header may take (MaxResponseHeaderBytes, as
// Transport's): below zero, reads are unbounded.
type upstreamConn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	budget    int64
	idleSince time.Time
	reused    bool
	deadline  time.Time // the one set on the connection; zero: none
	// interrupt makes a blocked read or write return at once: run when
	// the client of the request the connection serves leaves. gone
	// records that it ran, so that no later deadline undoes it; such a
	// connection is never reused.
	interrupt func()
	gone      atomic.Bool
	scratch   responseScratch // where its simple responses are parsed
}

// limit bounds the request's write and the wait for its response header:
// a deadline d ahead, at least 7/8 of it. The deadline of the connection's
// previous request is kept when it is still that far ahead, as a busy
// connection's: moving it costs two timer updates in the runtime, and
// most requests would only move it a few microseconds.
func (c *upstreamConn) limit(now time.Time, d time.Duration) error {
	if !c.deadline.IsZero() && c.deadline.Sub(now) >= d-d/8 {
		return nil
	}
	c.deadline = now.Add(d)
	return c.setDeadline(c.deadline)
}

// setDeadline sets t on the connection, unless interrupt ran: its
// deadline in the past stays. The flag is read after the deadline is set,
// so an interrupt that runs at the same time is never undone: either its
// own deadline comes last, or this reading sees its flag.
func (c *upstreamConn) setDeadline(t time.Time) error {
	err := c.SetDeadline(t)
	if c.gone.Load() {
		return c.SetDeadline(aLongTimeAgo)
	}
	return err
}

// unlimit lifts the header's deadline for the reading of res's body,
// which has no time limit (as Transport's), unless the body is already
// read into the connection's buffer: then no read reaches the connection
// before the next request's limit.
func (c *upstreamConn) unlimit(res *http.Response) error {
	if c.deadline.IsZero() {
		return nil
	}
	if fb, ok := res.Body.(*fixedBody); res.Body == http.NoBody || ok && fb.n <= int64(c.br.Buffered()) {
		return nil
	}
	c.deadline = time.Time{}
	return c.setDeadline(time.Time{})
}

// errHeaderTooLarge is a response header over maxResponseHeaderBytes.
var errHeaderTooLarge = errors.New("upstream response header over 1 MiB")

// maxResponseHeaderBytes bounds an upstream response's header, as
// Transport.MaxResponseHeaderBytes did.
const maxResponseHeaderBytes = 1 << 20

func (c *upstreamConn) Read(p []byte) (int, error) {
	if c.budget < 0 {
		return c.Conn.Read(p)
	}
	if c.budget == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.budget {
		p = p[:c.budget]
	}
	n, err := c.Conn.Read(p)
	c.budget -= int64(n)
	return n, err
}

const upstreamBufSize = 4 << 10

// get returns a connection: the most recently used idle one that has not
// idled too long (and, when check is set, that the upstream has not
// closed: see alive), or a new one.
func (p *upstreamPool) get(ctx context.Context, check bool) (*upstreamConn, error) {
	now := time.Now()
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if check && !c.deadline.IsZero() && !now.Before(c.deadline) {
			// An expired deadline fails alive's read: lifted.
			c.deadline = time.Time{}
			c.SetDeadline(time.Time{})
		}
		if now.Sub(c.idleSince) >= p.idleTimeout || check && !alive(c.Conn) {
			c.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	return p.dial(ctx)
}

func (p *upstreamPool) dial(ctx context.Context) (*upstreamConn, error) {
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	nc = rawio.Wrap(nc) // raw system calls for its reads and writes
	c := &upstreamConn{Conn: nc, budget: -1}
	c.interrupt = func() {
		c.gone.Store(true)
		nc.SetDeadline(aLongTimeAgo)
	}
	c.br = bufio.NewReaderSize(c, upstreamBufSize)
	c.bw = bufio.NewWriterSize(nc, upstreamBufSize)
	return c, nil
}

// put returns c to the pool for reuse, or closes it when the pool is full
// or closed. Connections idle past the timeout are closed on the way.
func (p *upstreamPool) put(c *upstreamConn) {
	now := time.Now()
	c.idleSince = now
	c.budget = -1
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return
	}
	var stale []*upstreamConn
	for len(p.idle) > 0 && now.Sub(p.idle[0].idleSince) >= p.idleTimeout {
		stale = append(stale, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
	}
	if len(p.idle) >= p.maxIdle {
		stale = append(stale, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
}

// closeIdle closes every idle connection; with final, the pool then
// closes the connections returned to it too.
func (p *upstreamPool) closeIdle(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if final {
		p.closed = true
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// drainedEOF reports whether err is what reading a response from a
// connection the upstream had closed while it idled gives: the request
// never reached the application.
func drainedEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err)
}
