package proxy

import (
	"io"
	"math"
	"sync"
	"time"
)

// idleConn closes an upgraded (101 Switching Protocols) connection to the
// upstream after a period without a byte in either direction.
//
// After a 101 httputil.ReverseProxy splices the client and upstream
// connections until one side closes, and net/http clears the client
// connection's deadlines: nothing else bounds a WebSocket whose client
// opens it and never speaks. Each one holds two connections and two
// goroutines in rampart and a connection in the application for as long as
// the application tolerates it, and a client within its rate limit can
// open them far faster than anything closes them until rampart runs out of
// file descriptors. ReverseProxy copies both directions through the
// upstream side (reads for upstream→client, writes for client→upstream),
// so wrapping it sees all traffic; WebSocket pings count as traffic, so a
// live connection is never cut.
type idleConn struct {
	io.ReadWriteCloser
	d     time.Duration
	timer *time.Timer
	once  sync.Once
}

func newIdleConn(rwc io.ReadWriteCloser, d time.Duration) *idleConn {
	c := &idleConn{ReadWriteCloser: rwc, d: d}
	// Armed only once c.timer is set: Close, run by the timer, reads it.
	c.timer = time.AfterFunc(math.MaxInt64, func() { c.Close() })
	c.timer.Reset(d)
	return c
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if n > 0 {
		c.timer.Reset(c.d)
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(p)
	if n > 0 {
		c.timer.Reset(c.d)
	}
	return n, err
}

// Close closes the upstream connection; ReverseProxy then closes the
// client's.
func (c *idleConn) Close() error {
	var err error
	c.once.Do(func() {
		c.timer.Stop()
		err = c.ReadWriteCloser.Close()
	})
	return err
}
