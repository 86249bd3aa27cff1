package tlsconf

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/rampart-dev/rampart/internal/tlsconf/pebbletest"
)

func TestNewACME_EmptyHostListRefused(t *testing.T) {
	_, err := NewACME(nil, t.TempDir(), ACMEOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "hosts:") {
		t.Fatalf("err = %v", err)
	}
	_, err = New(Options{ACME: &ACMEOptions{}, StateDir: t.TempDir()})
	if err == nil || !strings.HasPrefix(err.Error(), "Hosts: ACME needs at least one host name") {
		t.Fatalf("New: err = %v", err)
	}
}

func TestNewACME_BadSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		o     ACMEOptions
		want  string
	}{
		{"SingleLabelHost", []string{"intranet"}, ACMEOptions{}, "hosts:"},
		{"WildcardHost", []string{"*.rampart.test"}, ACMEOptions{}, "hosts:"},
		{"HostWithPort", []string{"rampart.test:443"}, ACMEOptions{}, "hosts:"},
		{"IPHost", []string{"192.0.2.1"}, ACMEOptions{}, "hosts:"},
		{"PlainHTTPDirectory", []string{"a.rampart.test"}, ACMEOptions{DirectoryURL: "http://ca.example/dir"}, "tls.acme.directory_url"},
		{"EmailHeaderInjection", []string{"a.rampart.test"}, ACMEOptions{Email: "a@b.example\r\nX: y"}, "tls.acme.email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewACME(tc.hosts, t.TempDir(), tc.o)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// TestNewACME_UnlistedHostRefused: a client naming any other host in its
// SNI must not make the server ask the CA for a certificate.
func TestNewACME_UnlistedHostRefused(t *testing.T) {
	m, err := NewACME([]string{"app.rampart.test"}, t.TempDir(), ACMEOptions{DirectoryURL: "https://127.0.0.1:1/dir"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"evil.example", "APP.rampart.test.evil.example", "sub.app.rampart.test"} {
		if err := m.HostPolicy(context.Background(), h); err == nil {
			t.Errorf("HostPolicy accepted %q", h)
		}
	}
	if err := m.HostPolicy(context.Background(), "app.rampart.test"); err != nil {
		t.Errorf("HostPolicy refused the configured host: %v", err)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.example"}); err == nil {
		t.Error("GetCertificate served an unlisted host")
	}
}

// TestACME_Pebble obtains a real certificate from Pebble, Let's Encrypt's
// test CA, running in this process on loopback, through autocert and the
// TLS configuration New builds, then completes a verified TLS handshake
// with it. Validation is real: Pebble resolves the name through a tiny DNS
// server below (every name → 127.0.0.1) and performs the TLS-ALPN-01
// challenge against the listener under test. Only Pebble's random
// validation delay is switched off (PEBBLE_VA_NOSLEEP).
func TestACME_Pebble(t *testing.T) {
	if testing.Short() {
		t.Skip("ACME round trip skipped in -short mode")
	}
	const host = "app.rampart.test"

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpLn.Close()
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := func(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
	pebble := pebbletest.Start(t, port(httpLn), port(tlsLn))

	state := t.TempDir()
	slogger, logs := testLogger()
	s, err := New(Options{
		ACME: &ACMEOptions{
			Email:        "ops@rampart.test",
			DirectoryURL: pebble.DirectoryURL,
			HTTPClient:   pebble.Client,
		},
		Hosts:    []string{host},
		StateDir: state,
		Logger:   slogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Count the CA's TLS-ALPN-01 validation handshakes, to show the
	// challenge really went through this listener.
	var challenges atomic.Int32
	cfg := s.TLSConfig().Clone()
	getCert := cfg.GetCertificate
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == "acme-tls/1" {
			challenges.Add(1)
		}
		return getCert(hello)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig: cfg,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(tlsLn, "", "")
	defer srv.Close()

	roots := pebble.Roots
	dialer := &net.Dialer{Timeout: 2 * time.Minute}
	conn, err := tls.DialWithDialer(dialer, "tcp", tlsLn.Addr().String(), &tls.Config{
		ServerName: host,
		RootCAs:    roots,
		NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		t.Fatalf("handshake with ACME certificate: %v\nrampart log:\n%s", err, logs)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != host {
		t.Errorf("certificate names = %v", leaf.DNSNames)
	}
	if challenges.Load() == 0 {
		t.Error("no TLS-ALPN-01 validation reached the listener")
	}

	// The certificate is cached on disk for the next run.
	dir := filepath.Join(state, ACMEDir)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("acme dir: %v %v", fi, err)
	}
	cached, err := autocert.DirCache(dir).Get(context.Background(), host)
	if err != nil || len(cached) == 0 {
		t.Errorf("certificate not cached: %v", err)
	}

	// Session tickets under the ACME certificate follow the same key
	// rotation as under files (TestAttack_StolenTicketKeyOutlivesRotation).
	checkTicketKeyLifetime(t, s, &tls.Config{ServerName: host, RootCAs: roots})

	// A name outside the whitelist gets no certificate.
	_, err = tls.DialWithDialer(dialer, "tcp", tlsLn.Addr().String(), &tls.Config{ServerName: "evil.rampart.test", RootCAs: roots})
	if err == nil {
		t.Error("handshake for an unlisted host succeeded")
	}
}
