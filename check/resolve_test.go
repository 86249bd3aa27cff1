package check

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseResolve(t *testing.T) {
	for in, want := range map[string]string{
		"app.example:443:127.0.0.1":      "app.example:443:127.0.0.1",
		"APP.Example.:8443:[::1]":        "app.example:8443:[::1]",
		"app.example:443:::1":            "app.example:443:[::1]",
		"app.example:80:::ffff:10.0.0.1": "app.example:80:10.0.0.1",
	} {
		r, err := ParseResolve(in)
		if err != nil || r.String() != want {
			t.Errorf("%q: got %v, %v; want %s", in, r, err, want)
		}
	}
	for in, why := range map[string]string{
		"app.example":                     "want HOST:PORT:ADDR",
		"app.example:443":                 "want HOST:PORT:ADDR",
		":443:127.0.0.1":                  "HOST must be a name",
		"[::1]:443:127.0.0.1":             "HOST must be a name",
		"*.example:443:127.0.0.1":         "wildcards",
		"+app.example:443:127.0.0.1":      "wildcards",
		"app.example:0:127.0.0.1":         "PORT \"0\" is not a number from 1 to 65535",
		"app.example:65536:127.0.0.1":     "PORT",
		"app.example:https:127.0.0.1":     "PORT",
		"app.example:443:localhost":       "ADDR \"localhost\" is not an IP address",
		"app.example:443:":                "ADDR",
		"app.example:443:1.2.3.4,5.6.7.8": "one ADDR per entry",
		"app.example:443:[fe80::1%eth0]":  "ADDR",
	} {
		if _, err := ParseResolve(in); err == nil || !strings.Contains(err.Error(), why) || !strings.HasPrefix(err.Error(), "--resolve ") {
			t.Errorf("%q: got %v, want an error with %q", in, err, why)
		}
	}
}

// noNames is a DialContext that refuses any address that is not an IP
// literal, so a name can never reach the system resolver (and the network).
func noNames(t *testing.T, dialed *[]string, mu *sync.Mutex) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		mu.Lock()
		*dialed = append(*dialed, addr)
		mu.Unlock()
		if _, err := netip.ParseAddr(host); err != nil {
			t.Errorf("dial to a name: %s", addr)
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// nameLeaf is a certificate for name from the test CA.
func nameLeaf(t *testing.T, name string) tls.Certificate {
	p := loadPKI(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, k.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// --resolve sends every probe (TLS handshakes, the page, CORS, the plain
// HTTP redirect and Host reflection, TRACE and exposed files) to the chosen
// address, with the name in SNI and Host, and never asks DNS: the name is
// under .invalid and the dialer refuses names.
func TestRun_ResolveSendsEveryProbeToTheChosenAddress(t *testing.T) {
	const name = "app.rampart.invalid"
	var mu sync.Mutex
	var snis, hosts, paths []string
	record := func(dst *[]string, v string) {
		mu.Lock()
		*dst = append(*dst, v)
		mu.Unlock()
	}
	cert := nameLeaf(t, name)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(&hosts, r.Host)
		record(&paths, r.Method+" "+r.URL.Path)
		strongApp(w, r)
	}))
	ts.TLS = &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		record(&snis, h.ServerName)
		return &cert, nil
	}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	_, tlsPort, _ := net.SplitHostPort(ts.Listener.Addr().String())
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(&hosts, r.Host)
		http.Redirect(w, r, "https://"+name+":"+tlsPort+"/", http.StatusMovedPermanently)
	}))
	defer hs.Close()
	_, httpPort, _ := net.SplitHostPort(hs.Listener.Addr().String())

	var dialed []string
	// One entry, for the HTTPS port: the redirect probe on the other port
	// goes to the same address.
	r, err := ParseResolve(name + ":" + tlsPort + ":127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), "https://"+name+":"+tlsPort+"/", Options{RootCAs: loadPKI(t).pool,
		HTTPURL: "http://" + name + ":" + httpPort + "/", Resolve: []Resolve{r}, DialContext: noNames(t, &dialed, &mu)})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if rep.TLS.Certificate == nil || !rep.TLS.Certificate.HostnameOK || !rep.TLS.Certificate.ChainValid {
		t.Errorf("certificate for %s not verified under its name: %+v", name, rep.TLS.Certificate)
	}
	if rep.Redirect.Status != http.StatusMovedPermanently {
		t.Errorf("redirect probe did not reach the plain-HTTP server: %+v", rep.Redirect)
	}
	if len(snis) < 10 {
		t.Errorf("only %d handshakes reached the server", len(snis))
	}
	for _, s := range snis {
		if s != name {
			t.Errorf("SNI %q, want %s", s, name)
		}
	}
	for _, h := range hosts {
		if h != name+":"+tlsPort && h != name+":"+httpPort && h != foreignHost {
			t.Errorf("Host %q", h)
		}
	}
	for _, want := range []string{"GET /", "TRACE /", "GET /.git/HEAD", "GET /.env", "GET /server-status", "GET /console"} {
		found := false
		for _, p := range paths {
			found = found || p == want
		}
		if !found {
			t.Errorf("probe %q never reached the server; saw %v", want, paths)
		}
	}
	for _, d := range dialed {
		if d != "127.0.0.1:"+tlsPort && d != "127.0.0.1:"+httpPort {
			t.Errorf("dialed %s", d)
		}
	}
}

// A --resolve entry that no probe uses is a typo that would send the audit
// to the server DNS points at: refused.
func TestRun_ResolveForAnotherNameIsRefused(t *testing.T) {
	r, _ := ParseResolve("www.app.rampart.invalid:443:127.0.0.1")
	_, err := Run(context.Background(), "https://app.rampart.invalid/", Options{Resolve: []Resolve{r},
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			t.Error("dialed despite a --resolve for another name")
			return nil, errors.New("no")
		}})
	if err == nil || !strings.Contains(err.Error(), "www.app.rampart.invalid is neither the target's host nor --http-url's") {
		t.Errorf("got %v", err)
	}
}

// Each way a target can be unreachable gets its own message and hint,
// where one "is the server speaking TLS?" used to serve them all.
func TestRun_FailureHints(t *testing.T) {
	quiet := func(s *httptest.Server) *httptest.Server { s.Config.ErrorLog = log.New(io.Discard, "", 0); return s }

	// Refused: a port that was free a moment ago.
	refused := freeLoopback(t)
	// Timeout: a listener that accepts and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	var held []net.Conn
	var hmu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			hmu.Lock()
			held = append(held, c)
			hmu.Unlock()
		}
	}()
	defer func() {
		hmu.Lock()
		for _, c := range held {
			c.Close()
		}
		hmu.Unlock()
	}()
	// Not TLS: a plain-HTTP server on the HTTPS target's port.
	plain := quiet(httptest.NewServer(http.NotFoundHandler()))
	defer plain.Close()
	// Handshake refused: the server reads the ClientHello and answers
	// with a fatal handshake_failure alert, as one sharing no version or
	// suite with the client, or with no certificate for the name, does.
	refuse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer refuse.Close()
	go func() {
		for {
			c, err := refuse.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Read(make([]byte, 4096))
			c.Write([]byte{21, 3, 3, 0, 2, 2, 40}) // alert, TLS 1.2, fatal handshake_failure
			c.Close()
		}
	}()
	// DNS: the dialer says what the resolver would, without asking it.
	nxdomain := func(_ context.Context, _, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}

	cases := []struct {
		name, target string
		o            Options
		kind         Failure
		msg, hint    string
	}{
		{"refused", "https://" + refused + "/", Options{}, FailRefused, "nothing listens on " + refused, "start the server"},
		{"dns", "https://app.rampart.invalid/", Options{DialContext: nxdomain}, FailDNS, "app.rampart.invalid does not resolve",
			"--resolve app.rampart.invalid:443:ADDR"},
		{"timeout", "https://" + hang.Addr().String() + "/", Options{Timeout: 300 * time.Millisecond}, FailTimeout,
			"no answer from " + hang.Addr().String() + " within 300ms (handshake)", "--timeout"},
		{"not tls", strings.Replace(plain.URL, "http://", "https://", 1) + "/", Options{}, FailNotTLS, "does not speak TLS", "--http-url"},
		{"handshake", "https://" + refuse.Addr().String() + "/", Options{}, FailHandshake, "TLS handshake with " + refuse.Addr().String() + " failed", "(the name sent in SNI)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.HTTPURL = "http://" + refused + "/"
			_, err := Run(context.Background(), c.target, c.o)
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RunError", err)
			}
			if re.Kind != c.kind || !strings.Contains(re.Msg, c.msg) || !strings.Contains(re.Hint, c.hint) {
				t.Errorf("got %s: %q, hint %q; want %s: %q, hint with %q", re.Kind, re.Msg, re.Hint, c.kind, c.msg, c.hint)
			}
			if c.kind != FailNotTLS && c.kind != FailHandshake && strings.Contains(re.Hint, "TLS") {
				t.Errorf("a %s failure hints at TLS: %q", c.kind, re.Hint)
			}
		})
	}
	// With --resolve, the message names both the name and the address.
	r, _ := ParseResolve("app.rampart.invalid:" + strings.Split(refused, ":")[1] + ":127.0.0.1")
	_, err = Run(context.Background(), "https://app.rampart.invalid:"+strings.Split(refused, ":")[1]+"/", Options{Resolve: []Resolve{r}})
	if err == nil || !strings.Contains(err.Error(), "nothing listens on app.rampart.invalid:"+strings.Split(refused, ":")[1]+" ("+refused+" by --resolve)") {
		t.Errorf("refused through --resolve: %v", err)
	}
}
