// Package pebbletest runs Pebble, Let's Encrypt's test ACME server, inside a
// test process on loopback, with a small DNS responder that resolves every
// name to 127.0.0.1, so that Pebble's challenge validations (HTTP-01 and
// TLS-ALPN-01) reach the listeners under test. It is for tests only.
package pebbletest

import (
	"crypto/x509"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"golang.org/x/net/dns/dnsmessage"
)

// CA is a running Pebble instance.
type CA struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// Client trusts the directory's TLS certificate.
	Client *http.Client
	// Roots holds the root of the certificates Pebble issues.
	Roots *x509.CertPool
}

// Start runs Pebble until the end of t. Its validator connects to
// 127.0.0.1:httpPort for HTTP-01 and 127.0.0.1:tlsPort for TLS-ALPN-01.
// Validation is real; only Pebble's random validation delay and its
// deliberate bad-nonce injection are switched off (PEBBLE_VA_NOSLEEP=1,
// PEBBLE_WFE_NONCEREJECT=0), which is why t must not be parallel.
func Start(t *testing.T, httpPort, tlsPort int) *CA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	dnsAddr := startDNS(t)
	logger := log.New(testWriter{t}, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &CA{DirectoryURL: srv.URL + "/dir", Client: srv.Client(), Roots: roots}
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
