package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/dns/dnsmessage"
)

func TestNewACME_EmptyHostListRefused(t *testing.T) {
	_, err := NewACME(nil, t.TempDir(), ACMEOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "hosts:") {
		t.Fatalf("err = %v", err)
	}
	_, err = New(Options{ACME: &ACMEOptions{}, StateDir: t.TempDir()})
	if err == nil || !strings.HasPrefix(err.Error(), "hosts:") {
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
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	const host = "app.rampart.test"

	dnsAddr := startDNS(t)
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

	logger := log.New(testWriter{t}, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, port(httpLn), port(tlsLn), false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	acmeSrv := httptest.NewTLSServer(front.Handler())
	defer acmeSrv.Close()

	state := t.TempDir()
	slogger, logs := testLogger()
	s, err := New(Options{
		ACME: &ACMEOptions{
			Email:        "ops@rampart.test",
			DirectoryURL: acmeSrv.URL + "/dir",
			HTTPClient:   acmeSrv.Client(),
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
		ErrorLog:  log.New(testWriter{t}, "https ", 0),
	}
	go srv.ServeTLS(tlsLn, "", "")
	defer srv.Close()

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
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

	// A name outside the whitelist gets no certificate.
	_, err = tls.DialWithDialer(dialer, "tcp", tlsLn.Addr().String(), &tls.Config{ServerName: "evil.rampart.test", RootCAs: roots})
	if err == nil {
		t.Error("handshake for an unlisted host succeeded")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startDNS serves DNS over TCP on loopback, answering every A query with
// 127.0.0.1 and every other query with an empty answer, so that Pebble's
// validation of any test name reaches the listeners under test.
func startDNS(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveDNSConn(c)
		}
	}()
	return ln.Addr().String()
}

func serveDNSConn(c net.Conn) {
	defer c.Close()
	for {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		resp, err := dnsAnswer(msg)
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(l[:], uint16(len(resp)))
		if _, err := c.Write(append(l[:], resp...)); err != nil {
			return
		}
	}
}

func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
