package listen

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-dev/rampart/internal/tlsconf"
)

// dualCertConfig serves an ECDSA certificate to clients that accept one and
// an RSA certificate otherwise, so that both ECDHE_ECDSA and ECDHE_RSA
// suites are reachable and a refusal comes from the suite policy, not from
// the certificate type.
func dualCertConfig(t testing.TB) (*tls.Config, *tls.Config) {
	dualOnce.Do(func() { dualEC, dualRSA = newTestCert(t, false), newTestCert(t, true) })
	ec, rs := dualEC, dualRSA
	get := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.SupportsCertificate(&ec.tls) == nil {
			return &ec.tls, nil
		}
		return &rs.tls, nil
	}
	return tlsconf.ServerConfig(get), &tls.Config{RootCAs: rootsOf(ec, rs), ServerName: "localhost"}
}

var (
	dualOnce        sync.Once
	dualEC, dualRSA testCert
)

func handshake(addr string, client *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

func TestTLS_DowngradeToTLS10And11Refused(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{})
	permissive := cfg.Clone()
	permissive.MinVersion = tls.VersionTLS10
	permissive.CipherSuites = nil
	ctlAddr, _ := startServer(t, okHandler(), permissive, Options{})
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c := client.Clone()
		c.MinVersion, c.MaxVersion = v, v
		if _, err := handshake(ctlAddr, c); err != nil {
			t.Fatalf("control: client cannot speak %s: %v", tls.VersionName(v), err)
		}
		if st, err := handshake(addr, c); err == nil {
			t.Errorf("%s accepted (suite %s)", tls.VersionName(v), tls.CipherSuiteName(st.CipherSuite))
		}
	}
}

// TestTLS_CBCAndRSAKeyExchangeSuitesRefused tries every TLS 1.2 suite Go
// can speak that is not in the policy, one handshake each. A control
// handshake against a permissive server proves the client really offers it.
func TestTLS_CBCAndRSAKeyExchangeSuitesRefused(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{})
	permissive := cfg.Clone()
	permissive.CipherSuites = nil
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		permissive.CipherSuites = append(permissive.CipherSuites, s.ID)
	}
	ctlAddr, _ := startServer(t, okHandler(), permissive, Options{})
	allowed := tlsconf.CipherSuites()
	tested := 0
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(allowed, s.ID) || !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			c := client.Clone()
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{s.ID}
			if _, err := handshake(ctlAddr, c); err != nil {
				t.Skipf("Go's client cannot negotiate %s even with a permissive server: %v", s.Name, err)
			}
			tested++
			if st, err := handshake(addr, c); err == nil {
				t.Errorf("%s accepted (negotiated %s)", s.Name, tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
	if tested < 8 {
		t.Errorf("only %d refused suites exercised", tested)
	}
}

func TestTLS_AEADSuitesAccepted(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{})
	for _, id := range tlsconf.CipherSuites() {
		c := client.Clone()
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{id}
		st, err := handshake(addr, c)
		if err != nil {
			t.Errorf("%s refused: %v", tls.CipherSuiteName(id), err)
			continue
		}
		if st.CipherSuite != id || st.Version != tls.VersionTLS12 {
			t.Errorf("%s: negotiated %s %s", tls.CipherSuiteName(id), tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		}
	}
}

func TestTLS13_PostQuantumGroupNegotiated(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{})
	st, err := handshake(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 {
		t.Errorf("negotiated %s with %v, want TLS 1.3 with X25519MLKEM768", tls.VersionName(st.Version), st.CurveID)
	}
}

func TestHTTP2_NegotiatedViaALPN(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{})
	c := client.Clone()
	c.NextProtos = []string{"h2", "http/1.1"}
	st, err := handshake(addr, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN = %q, want h2", st.NegotiatedProtocol)
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: client, Protocols: &protos}}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "ok" {
		t.Errorf("got %s %q", resp.Proto, body)
	}
}

// TestHTTP2_NoCleartextUpgrade: the plain listener speaks HTTP/1.1 only;
// an h2c prior-knowledge preface is not served as HTTP/2.
func TestHTTP2_NoCleartextUpgrade(t *testing.T) {
	addr, _ := startServer(t, okHandler(), nil, Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 ") {
		t.Errorf("h2c preface answered with %q", b)
	}
}
