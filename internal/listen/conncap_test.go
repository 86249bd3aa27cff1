package listen

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/seclog"
)

// fakeListener hands out queued connections, then net.ErrClosed.
type fakeListener struct {
	conns chan net.Conn
}

func newFakeListener(n int) *fakeListener { return &fakeListener{conns: make(chan net.Conn, n)} }

func (f *fakeListener) Accept() (net.Conn, error) {
	c, ok := <-f.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }

// fakeConn is a connection from a chosen peer address.
type fakeConn struct {
	net.Conn
	remote net.Addr
	closed atomic.Int32
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed.Add(1); return nil }

func connFrom(addr string) *fakeConn {
	return &fakeConn{remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 40000))}
}

func newTestCap(max int, exempt func(netip.Addr) bool) (*capListener, *fakeListener, *bytes.Buffer) {
	src := newFakeListener(1024)
	var buf bytes.Buffer
	log := seclog.New(slog.New(slog.NewJSONHandler(&syncWriter{w: &buf}, nil)))
	return LimitPerClient(src, max, exempt, log).(*capListener), src, &buf
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// acceptNext queues c and returns what Accept makes of it: the wrapped
// connection, or nil when it was refused (Accept then moves on to the
// sentinel queued behind it, which is returned to the caller's pool).
func acceptNext(t *testing.T, ln *capListener, src *fakeListener, c *fakeConn) net.Conn {
	t.Helper()
	sentinel := connFrom("192.0.2.254")
	src.conns <- c
	src.conns <- sentinel
	got, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got.RemoteAddr() == sentinel.remote {
		got.Close()
		return nil
	}
	// Consume the sentinel so the next call starts clean.
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return got
}

// One client cannot hold more than max connections: the next one is
// closed by Accept itself, and closing one of its connections frees a slot.
func TestConnCap_OneClientCannotHoldMoreThanMax(t *testing.T) {
	const max = 4
	ln, src, logBuf := newTestCap(max, nil)
	var held []net.Conn
	for i := range max {
		c := acceptNext(t, ln, src, connFrom("198.51.100.7"))
		if c == nil {
			t.Fatalf("connection %d of %d refused", i+1, max)
		}
		held = append(held, c)
	}
	over := connFrom("198.51.100.7")
	if c := acceptNext(t, ln, src, over); c != nil {
		t.Fatalf("connection %d accepted over a cap of %d", max+1, max)
	}
	if over.closed.Load() != 1 {
		t.Errorf("refused connection closed %d times, want 1", over.closed.Load())
	}
	if !strings.Contains(logBuf.String(), `"event.action":"excess_rate_limit_exceeded"`) ||
		!strings.Contains(logBuf.String(), `"client_ip":"198.51.100.7"`) {
		t.Errorf("refusal not logged as a security event: %s", logBuf)
	}
	// Another client is unaffected.
	if c := acceptNext(t, ln, src, connFrom("198.51.100.8")); c == nil {
		t.Fatal("another client refused")
	} else {
		c.Close()
	}
	// Close is idempotent: closing twice frees one slot, not two.
	held[0].Close()
	held[0].Close()
	c := acceptNext(t, ln, src, connFrom("198.51.100.7"))
	if c == nil {
		t.Fatal("slot not freed by Close")
	}
	held[0] = c
	if c := acceptNext(t, ln, src, connFrom("198.51.100.7")); c != nil {
		t.Fatal("double Close freed two slots")
	}
	for _, c := range held {
		c.Close()
	}
	if n := ln.clients(); n != 0 {
		t.Errorf("%d clients still tracked after every connection closed", n)
	}
}

// Refusals of one client are logged once per interval, not once per
// connection, so a flood of connections cannot flood the security log.
func TestConnCap_RefusalFloodLoggedOnce(t *testing.T) {
	ln, src, logBuf := newTestCap(1, nil)
	held := acceptNext(t, ln, src, connFrom("203.0.113.9"))
	for range 50 {
		if c := acceptNext(t, ln, src, connFrom("203.0.113.9")); c != nil {
			t.Fatal("accepted over the cap")
		}
	}
	held.Close()
	if n := strings.Count(logBuf.String(), "excess_rate_limit_exceeded"); n != 1 {
		t.Errorf("%d refusal events logged for one client's flood, want 1", n)
	}
}

// A trusted proxy (load balancer) carries many clients over one address:
// its connections are not counted.
func TestConnCap_TrustedProxyExempt(t *testing.T) {
	lb := netip.MustParsePrefix("10.0.0.0/24")
	ln, src, _ := newTestCap(2, lb.Contains)
	var held []net.Conn
	for i := range 10 {
		c := acceptNext(t, ln, src, connFrom("10.0.0.5"))
		if c == nil {
			t.Fatalf("trusted proxy connection %d refused", i+1)
		}
		held = append(held, c)
	}
	if n := ln.clients(); n != 0 {
		t.Errorf("trusted proxy tracked: %d clients", n)
	}
	// A peer outside the trusted range is still capped.
	for range 2 {
		held = append(held, acceptNext(t, ln, src, connFrom("10.0.1.5")))
	}
	if c := acceptNext(t, ln, src, connFrom("10.0.1.5")); c != nil {
		t.Error("untrusted peer beside a trusted range not capped")
	}
	for _, c := range held {
		c.Close()
	}
}

// An IPv6 client rotating its source address within its /64 is still one
// client; IPv4-mapped IPv6 peers are counted as their IPv4 address.
func TestConnCap_IPv6RotationWithinOne64Counted(t *testing.T) {
	ln, src, _ := newTestCap(3, nil)
	var held []net.Conn
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:aaaa::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"} {
		c := acceptNext(t, ln, src, connFrom(a))
		if c == nil {
			t.Fatalf("%s refused under the cap", a)
		}
		held = append(held, c)
	}
	if c := acceptNext(t, ln, src, connFrom("2001:db8:1:2:1234:5678:9abc:def0")); c != nil {
		t.Error("a fourth address in the same /64 was accepted over a cap of 3")
	}
	if c := acceptNext(t, ln, src, connFrom("2001:db8:1:3::1")); c == nil {
		t.Error("the neighbouring /64 was refused")
	} else {
		held = append(held, c)
	}
	for range 3 {
		held = append(held, acceptNext(t, ln, src, connFrom("192.0.2.44")))
	}
	if c := acceptNext(t, ln, src, connFrom("::ffff:192.0.2.44")); c != nil {
		t.Error("IPv4-mapped address counted apart from its IPv4 address")
	}
	for _, c := range held {
		c.Close()
	}
	if n := ln.clients(); n != 0 {
		t.Errorf("%d clients still tracked", n)
	}
}

// A client opening connections and failing the TLS handshake (a scanner,
// or an attacker sending garbage) frees its slot each time: the real
// server, real TLS, a cap of one.
func TestConnCap_FailedHandshakeFreesSlot(t *testing.T) {
	cert := newTestCert(t, false)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.tls}}
	addr, _ := startServer(t, okHandler(), cfg, Options{MaxConnsPerClient: 1})
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "\x16\x03\x01\x00\x05hello, not a ClientHello")
		// The server ends the connection; by then the slot is free.
		if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
			t.Fatalf("connection not ended by the server: %v", err)
		}
		c.Close()
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootsOf(cert)}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("slot not freed after failed handshakes: %v", err)
	}
	resp.Body.Close()
}

// Through the real server: with a cap of two, a third TLS connection from
// the same address is dropped before its handshake.
func TestConnCap_ServerRefusesBeforeHandshake(t *testing.T) {
	cert := newTestCert(t, false)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.tls}}
	var logBuf syncWriter
	logBuf.w = &bytes.Buffer{}
	sec := seclog.New(slog.New(slog.NewJSONHandler(&logBuf, nil)))
	addr, _ := startServer(t, okHandler(), cfg, Options{MaxConnsPerClient: 2, SecurityLog: sec})
	ccfg := &tls.Config{RootCAs: rootsOf(cert), ServerName: "127.0.0.1"}
	var held []*tls.Conn
	for range 2 {
		c, err := tls.Dial("tcp", addr, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The refusal is a reset right after accept; on a busy machine it can
	// reach the client before connect returns, which is a refusal too.
	raw, err := net.Dial("tcp", addr)
	if err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if err == nil {
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		c := tls.Client(raw, ccfg)
		if err := c.Handshake(); err == nil {
			t.Fatal("third connection completed a TLS handshake over a cap of 2")
		}
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	logBuf.mu.Lock()
	logged := logBuf.w.(*bytes.Buffer).String()
	logBuf.mu.Unlock()
	if !strings.Contains(logged, `"event.action":"excess_rate_limit_exceeded"`) || !strings.Contains(logged, `"max_conns_per_client":2`) {
		t.Errorf("refusal not in the security log: %s", logged)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// Many goroutines accepting and closing connections of a few clients at
// once, with connections closed twice concurrently: no client ever holds
// more than max, and nothing is left tracked at the end (run with -race).
func TestConnCap_ConcurrentAcceptCloseRace(t *testing.T) {
	const max, clients, perClient, workers = 3, 5, 200, 8
	ln, src, _ := newTestCap(max, nil)
	addrs := make([]string, clients)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String()
	}
	go func() {
		for i := range clients * perClient {
			src.conns <- connFrom(addrs[i%clients])
		}
		close(src.conns)
	}()
	var mu sync.Mutex
	held := map[string]int{}
	var over atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				a := c.RemoteAddr().String()
				mu.Lock()
				held[a]++
				if held[a] > max {
					over.Add(1)
				}
				mu.Unlock()
				runtime.Gosched()
				mu.Lock()
				held[a]--
				mu.Unlock()
				var cw sync.WaitGroup
				for range 2 {
					cw.Add(1)
					go func() { defer cw.Done(); c.Close() }()
				}
				cw.Wait()
			}
		}()
	}
	wg.Wait()
	if over.Load() > 0 {
		t.Errorf("a client held more than %d connections %d times", max, over.Load())
	}
	if n := ln.clients(); n != 0 {
		t.Errorf("%d clients still tracked after every connection closed", n)
	}
}

func TestOptions_MaxConnsPerClientValidated(t *testing.T) {
	for _, n := range []int{-1, MaxMaxConnsPerClient + 1} {
		_, err := NewServer(":0", okHandler(), nil, Options{MaxConnsPerClient: n})
		if err == nil || !strings.Contains(err.Error(), "MaxConnsPerClient: ") {
			t.Errorf("MaxConnsPerClient %d: err %v, want one naming MaxConnsPerClient", n, err)
		}
	}
	s, err := NewServer(":0", okHandler(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.limits.Load().max; got != DefaultMaxConnsPerClient {
		t.Errorf("default cap %d, want %d", got, DefaultMaxConnsPerClient)
	}
	for _, n := range []int{-1, MaxMaxConnsPerClient + 1} {
		if err := s.SetConnLimits(n, nil); err == nil {
			t.Errorf("SetConnLimits(%d) accepted", n)
		}
	}
	if got := s.limits.Load().max; got != DefaultMaxConnsPerClient {
		t.Errorf("a refused SetConnLimits changed the cap to %d", got)
	}
}

// A running server's cap and trusted proxies change for the connections
// accepted after SetConnLimits (a configuration reload): raising the cap
// lets a client over the old one in, a new trusted proxy is no longer
// counted, lowering the cap closes nothing but refuses the next.
func TestConnCap_SetConnLimitsOnARunningListener(t *testing.T) {
	s, err := NewServer(":0", okHandler(), nil, Options{MaxConnsPerClient: 2})
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeListener(1024)
	ln := s.limitConns(src).(*capListener)
	var held []net.Conn
	for range 2 {
		held = append(held, acceptNext(t, ln, src, connFrom("198.51.100.7")))
	}
	if c := acceptNext(t, ln, src, connFrom("198.51.100.7")); c != nil {
		t.Fatal("accepted over the cap of 2")
	}
	if err := s.SetConnLimits(3, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	c := acceptNext(t, ln, src, connFrom("198.51.100.7"))
	if c == nil {
		t.Fatal("the raised cap is not applied")
	}
	held = append(held, c)
	if c := acceptNext(t, ln, src, connFrom("198.51.100.7")); c != nil {
		t.Fatal("accepted over the raised cap of 3")
	}
	for i := range 5 {
		c := acceptNext(t, ln, src, connFrom("10.0.0.5"))
		if c == nil {
			t.Fatalf("connection %d of the new trusted proxy refused", i+1)
		}
		held = append(held, c)
	}
	if err := s.SetConnLimits(1, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range held[:3] {
		if c.(*capConn).Conn.(*fakeConn).closed.Load() != 0 {
			t.Fatal("lowering the cap closed an open connection")
		}
	}
	// The proxy's open connections were never counted; its new ones
	// are, against the new cap.
	if c := acceptNext(t, ln, src, connFrom("10.0.0.5")); c == nil {
		t.Error("a proxy no longer trusted refused under the cap")
	} else {
		held = append(held, c)
	}
	if c := acceptNext(t, ln, src, connFrom("10.0.0.5")); c != nil {
		t.Error("a proxy no longer trusted is still exempt")
	}
	for _, c := range held {
		c.Close()
	}
	if c := acceptNext(t, ln, src, connFrom("198.51.100.7")); c == nil {
		t.Error("a client under the lowered cap refused")
	} else {
		c.Close()
	}
	if c := acceptNext(t, ln, src, connFrom("10.0.0.5")); c == nil {
		t.Error("a client under the lowered cap refused")
	} else {
		c.Close()
	}
}

func BenchmarkConnCap_AcceptClose(b *testing.B) {
	src := newFakeListener(1)
	ln := LimitPerClient(src, 4, nil, nil)
	c := connFrom("2001:db8::1")
	b.ReportAllocs()
	for b.Loop() {
		src.conns <- c
		got, _ := ln.Accept()
		got.Close()
	}
}
