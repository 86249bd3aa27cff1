package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn is a *net.TCPConn whose Read and Write are raw system calls. Its
// other methods are the TCPConn's: deadlines, Close, CloseWrite,
// SetLinger, SyscallConn, and ReadFrom and WriteTo, which copy through the
// TCPConn's own calls (splice, sendfile, or its Read and Write).
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn

	// The state of the call in progress, one read and one write at a
	// time: the callbacks are method values made once, so that a call
	// allocates nothing.
	rmu   sync.Mutex
	rbuf  []byte
	rn    int
	rerr  syscall.Errno
	readF func(uintptr) bool

	wmu    sync.Mutex
	wbuf   []byte
	wn     int
	werr   error // a syscall.Errno, or io.ErrUnexpectedEOF for a write of nothing
	writeF func(uintptr) bool
}

// Wrap returns c as a *Conn when it is a *net.TCPConn, or c itself.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	rw := &Conn{TCPConn: tc, rc: rc}
	rw.readF = rw.read
	rw.writeF = rw.write
	return rw
}

// Read reads as (*net.TCPConn).Read does: up to len(b) bytes once some
// are there, io.EOF at the end of the stream, a *net.OpError otherwise.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return c.TCPConn.Read(b)
	}
	if len(b) > maxRaw {
		b = b[:maxRaw]
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerr = b, 0, 0
	err := c.rc.Read(c.readF)
	n, errno := c.rn, c.rerr
	c.rbuf = nil
	c.rmu.Unlock()
	switch {
	case err != nil:
		return n, renamed(err, "read")
	case errno != 0:
		return n, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is the raw read: false, to wait for the poller, when there is
// nothing to read yet.
func (c *Conn) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, c.rbuf)
		switch e {
		case 0:
			c.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rerr = e
		return true
	}
}

// Write writes all of b, as (*net.TCPConn).Write does, waiting for the
// poller whenever the socket's buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for written < len(b) {
		p := b[written:]
		if len(p) > maxRaw {
			p = p[:maxRaw]
		}
		c.wbuf, c.wn, c.werr = p, 0, nil
		err := c.rc.Write(c.writeF)
		written += c.wn
		werr := c.werr
		c.wbuf, c.werr = nil, nil
		switch {
		case err != nil:
			return written, renamed(err, "write")
		case werr == io.ErrUnexpectedEOF:
			return written, werr
		case werr != nil:
			return written, c.opError("write", werr.(syscall.Errno))
		}
	}
	return written, nil
}

// write is the raw write of wbuf: false, to wait for the poller, when the
// socket's buffer is full before all of it went.
func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		p := c.wbuf[c.wn:]
		n, e := sysWrite(fd, p)
		switch e {
		case 0:
			if n == 0 {
				// What internal/poll answers to a write of nothing,
				// rather than trying again forever.
				c.werr = io.ErrUnexpectedEOF
				return true
			}
			c.wn += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// opError is the error (*net.TCPConn) gives for a failed system call.
func (c *Conn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

// renamed gives a syscall.RawConn error (a closed connection, a deadline)
// the operation's name, as (*net.TCPConn) names it: "read", not
// "raw-read".
func renamed(err error, op string) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
	}
	return err
}
