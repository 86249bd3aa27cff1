package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxy_HTTPSUpstream: an https upstream is verified against the
// configured roots; one presenting a certificate nobody trusts (an
// impostor on the path) is a 502, not a silent success.
func TestProxy_HTTPSUpstream(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	t.Cleanup(up.Close)
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())

	trusted, _, _ := testProxy(t, up.URL, Options{TLSClientConfig: &tls.Config{RootCAs: roots}})
	fe := front(t, trusted)
	res, err := fe.Client().Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "secure" {
		t.Errorf("trusted upstream: %d %q", res.StatusCode, body)
	}

	untrusted, errLog, _ := testProxy(t, up.URL, Options{})
	fe2 := front(t, untrusted)
	res, err = fe2.Client().Get(fe2.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("untrusted certificate: status %d, want 502", res.StatusCode)
	}
	if strings.Contains(string(body), "certificate") || strings.Contains(string(body), "x509") {
		t.Errorf("TLS error leaked to the client: %s", body)
	}
	if !strings.Contains(errLog.String(), "certificate") {
		t.Errorf("TLS failure not logged:\n%s", errLog)
	}
}
