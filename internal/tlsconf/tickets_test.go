package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// ticketServer serves cfg on loopback: each connection completes the
// handshake, gets "ok" and is closed. It serves a clone of cfg, as
// net/http's ServeTLS does.
func ticketServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg = cfg.Clone()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() == nil {
					io.WriteString(tc, "ok")
				}
				tc.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// resumes connects to addr with client (and its session cache), reads
// to the end so that a TLS 1.3 ticket sent after the handshake is
// stored, and reports whether the session was resumed.
func resumes(t *testing.T, addr string, client *tls.Config) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "ok" {
		t.Fatalf("read %q, %v", b, err)
	}
	return c.ConnectionState().DidResume
}

// checkTicketKeyLifetime: a ticket sealed before one rotation still
// resumes (the previous key is kept); one sealed two rotations ago does
// not (its key is gone), over TLS 1.2 and TLS 1.3.
func checkTicketKeyLifetime(t *testing.T, s *Server, client *tls.Config) {
	t.Helper()
	addr := ticketServer(t, s.TLSConfig())
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		name := tls.VersionName(v)
		fresh := func() *tls.Config {
			c := client.Clone()
			c.MinVersion, c.MaxVersion = v, v
			c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			return c
		}
		control := fresh()
		if resumes(t, addr, control) || !resumes(t, addr, control) {
			t.Fatalf("%s: no resumption without a rotation; the test proves nothing", name)
		}
		oneAgo, twoAgo := fresh(), fresh()
		resumes(t, addr, twoAgo) // a ticket under key 0
		s.tickets.rotate()
		resumes(t, addr, oneAgo) // a ticket under key 1
		s.tickets.rotate()
		if !resumes(t, addr, oneAgo) {
			t.Errorf("%s: a ticket sealed before one rotation did not resume", name)
		}
		if resumes(t, addr, twoAgo) {
			t.Errorf("%s: a ticket sealed two rotations ago still resumed: its key outlived two rotation periods", name)
		}
	}
}

// TestAttack_StolenTicketKeyOutlivesRotation, for certificate files and
// the development certificate (the ACME case is in TestACME_Pebble): a
// session ticket key stops opening tickets after two rotations, so a key
// taken from the process exposes at most the sessions of the last
// 2 × TicketKeyRotation (24 hours), not crypto/tls's default 7 days.
func TestAttack_StolenTicketKeyOutlivesRotation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair(t, certFile, keyFile, "app.rampart.test", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	files, err := New(Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := New(Options{StateDir: t.TempDir(), Hosts: []string{"app.rampart.test"}, InsecureDevCertificate: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    *Server
	}{{"files", files}, {"development certificate", dev}} {
		t.Run(tc.name, func(t *testing.T) {
			leaf, err := tc.s.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: "app.rampart.test"})
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(leaf.Leaf)
			checkTicketKeyLifetime(t, tc.s, &tls.Config{ServerName: "app.rampart.test", RootCAs: roots})
		})
	}
}

// TestServer_RunRotatesTicketKeysUntilStopped: Run replaces the ticket
// key every rotation period, and stops doing so (and returns) when its
// context ends.
func TestServer_RunRotatesTicketKeysUntilStopped(t *testing.T) {
	s, err := New(Options{StateDir: t.TempDir(), InsecureDevCertificate: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.rotation != TicketKeyRotation || TicketKeyRotation > 12*time.Hour {
		t.Fatalf("rotation every %v: keys would live more than 24 hours", s.rotation)
	}
	s.rotation = time.Millisecond
	first := s.tickets.current()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	guard := time.Now().Add(10 * time.Second)
	for s.tickets.current() == first {
		if time.Now().After(guard) {
			t.Fatal("the ticket key was never rotated")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	stopped := s.tickets.current()
	time.Sleep(20 * time.Millisecond) // many periods: a leaked rotation would show
	if s.tickets.current() != stopped {
		t.Error("the ticket key kept rotating after Run returned")
	}
}
