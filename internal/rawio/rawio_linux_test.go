package rawio

import (
	"io"
	"testing"
)

func TestWrap_LinuxTCPConnIsRaw(t *testing.T) {
	tc, peer, c := pair(t, Wrap)
	rc, ok := c.(*Conn)
	if !ok || rc.TCPConn != tc {
		t.Fatalf("Wrap(*net.TCPConn) = %T, want a *Conn around it", c)
	}
	go io.Copy(peer, peer)
	buf := make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() {
		c.Write(buf)
		io.ReadFull(c, buf)
	}); n != 0 {
		t.Errorf("a Write and a Read: %v allocations, want 0", n)
	}
}
