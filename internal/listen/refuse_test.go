package listen

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/seclog"
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

// With a Banner as the hook: an operator's ban of 127.0.0.1 stops its
// handshakes, logged as ban_refused; 127.0.0.2 is served; lifting the
// ban lets 127.0.0.1 in again.
func TestRefuse_BannerHook(t *testing.T) {
	cfg, client := dualCertConfig(t)
	var buf syncWriter
	buf.w = &bytes.Buffer{}
	b, err := ban.New(ban.Options{Log: seclog.New(slog.New(slog.NewJSONHandler(&buf, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr, _ := startServer(t, okHandler(), cfg, Options{Refuse: b.RefuseConn})
	get := func(from string) error {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := tls.DialWithDialer(d, "tcp", addr, client)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	}
	ctx := context.Background()
	if _, err := b.Ban(ctx, netip.MustParsePrefix("127.0.0.1/32"), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if err := get("127.0.0.1"); err == nil {
		t.Fatal("banned peer completed a handshake")
	}
	if err := get("127.0.0.2"); err != nil {
		t.Fatalf("another peer: %v", err)
	}
	buf.mu.Lock()
	logged := buf.w.(*bytes.Buffer).String()
	buf.mu.Unlock()
	if !strings.Contains(logged, `"event.action":"ban_refused"`) || !strings.Contains(logged, `"client_ip":"127.0.0.1"`) {
		t.Fatalf("no ban_refused event: %s", logged)
	}
	if s := b.Stats(); s.RefusedConns != 1 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := b.Unban(ctx, netip.MustParsePrefix("127.0.0.1/32")); err != nil {
		t.Fatal(err)
	}
	if err := get("127.0.0.1"); err != nil {
		t.Fatalf("after the unban: %v", err)
	}
}
