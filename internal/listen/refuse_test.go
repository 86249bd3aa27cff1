package listen

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// A peer the Refuse hook refuses (a banned client) cannot even complete a
// TLS handshake, while another loopback address (127.0.0.2) is served.
func TestRefuse_BeforeTLSHandshake(t *testing.T) {
	cfg, client := dualCertConfig(t)
	banned := netip.MustParseAddr("127.0.0.1")
	var asked atomic.Int32
	addr, _ := startServer(t, okHandler(), cfg, Options{Refuse: func(a netip.Addr) bool {
		asked.Add(1)
		return a == banned
	}})
	dial := func(from string) error {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := tls.DialWithDialer(d, "tcp", addr, client)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	}
	if err := dial("127.0.0.2"); err != nil {
		t.Fatalf("control: a peer that is not refused, from 127.0.0.2: %v", err)
	}
	if err := dial("127.0.0.1"); err == nil {
		t.Fatal("the refused peer completed a TLS handshake")
	}
	if asked.Load() < 2 {
		t.Fatalf("Refuse asked %d times", asked.Load())
	}
}

// The hook runs before the per-client cap and before the exemption of
// trusted proxies, and a refused connection takes no slot.
func TestRefuse_TakesNoSlot(t *testing.T) {
	ln, src, _ := newTestCap(1, func(netip.Addr) bool { return true })
	ln.refuse = func(a netip.Addr) bool { return a == netip.MustParseAddr("198.51.100.9") }
	refused := connFrom("::ffff:198.51.100.9")
	if got := acceptNext(t, ln, src, refused); got != nil {
		t.Fatal("refused peer accepted (mapped address not unmapped?)")
	}
	if refused.closed.Load() != 1 || ln.refused.Load() != 1 || ln.clients() != 0 {
		t.Fatalf("closed %d, refused %d, clients %d", refused.closed.Load(), ln.refused.Load(), ln.clients())
	}
	if got := acceptNext(t, ln, src, connFrom("198.51.100.10")); got == nil {
		t.Fatal("another peer refused")
	}
}
