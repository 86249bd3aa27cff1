package listen

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/internal/tlsconf/pebbletest"
)

// TestACME_HTTP01ThroughRedirectListener obtains a certificate from Pebble
// with the HTTP-01 challenge answered by the plain-HTTP redirect listener.
// Pebble's TLS-ALPN-01 attempt is pointed at a closed port, so autocert
// falls back to HTTP-01; Pebble then fetches
// http://app.rampart.test/.well-known/acme-challenge/<token> from the
// redirect listener for real.
func TestACME_HTTP01ThroughRedirectListener(t *testing.T) {
	if testing.Short() {
		t.Skip("ACME round trip skipped in -short mode")
	}
	const host = "app.rampart.test"
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	port := func(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
	httpLn, tlsLn, closed := listen(), listen(), listen()
	closed.Close()
	pebble := pebbletest.Start(t, port(httpLn), port(closed))

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := tlsconf.New(tlsconf.Options{
		ACME:     &tlsconf.ACMEOptions{DirectoryURL: pebble.DirectoryURL, HTTPClient: pebble.Client},
		Hosts:    []string{host},
		StateDir: t.TempDir(),
		Logger:   quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	var challenges atomic.Int32
	acme := s.ChallengeHandler()
	rd, err := NewRedirect(RedirectOptions{
		Hosts: []string{host},
		ACMEChallenge: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			challenges.Add(1)
			acme.ServeHTTP(w, r)
		}),
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewServer("", rd, nil, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	plain.Listener = httpLn
	secure, err := NewServer("", okHandler(), s.TLSConfig(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	secure.Listener = tlsLn
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, plain, secure) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	hc := &http.Client{
		Timeout: 2 * time.Minute, // guard only
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pebble.Roots, ServerName: host},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Get("https://" + tlsLn.Addr().String() + "/")
	if err != nil {
		t.Fatalf("HTTPS with an ACME certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || resp.TLS.PeerCertificates[0].DNSNames[0] != host {
		t.Errorf("got %q from %v", body, resp.TLS.PeerCertificates[0].DNSNames)
	}
	if challenges.Load() == 0 {
		t.Error("no HTTP-01 validation reached the redirect listener")
	}

	// Everything else on the plain listener is redirected.
	req, _ := http.NewRequest("GET", "http://"+httpLn.Addr().String()+"/x", nil)
	req.Host = host
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || !strings.HasPrefix(resp.Header.Get("Location"), "https://"+host+"/x") {
		t.Errorf("plain request: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
