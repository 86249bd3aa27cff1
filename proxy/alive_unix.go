//go:build unix

package proxy

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether the upstream has not closed c while it idled: a
// non-blocking peek (one recv syscall, MSG_PEEK|MSG_DONTWAIT) finds no end
// of stream and no error. A request that cannot be sent twice (a POST)
// only goes out on a connection known alive: an application server closes
// idle connections after a few seconds (gunicorn: 2), and a POST written
// to one of those would fail with nothing to retry it on.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			// Bytes before any request: the upstream is not speaking
			// HTTP as it should; the connection is not reusable.
			ok = false
		case rerr == nil:
			ok = false // orderly shutdown: end of stream
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK):
			// Nothing to read: alive.
		case errors.Is(rerr, syscall.EINTR):
			return false // try again
		default:
			ok = false
		}
		return true
	})
	return ok && err == nil
}

// isConnReset reports whether err is a connection reset or a broken pipe.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
