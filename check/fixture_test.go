package check

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// notAfter is fixed so golden reports do not change with the date.
var notAfter = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

type testPKI struct {
	pool    *x509.CertPool
	ecdsa   tls.Certificate
	rsa     tls.Certificate
	caCert  *x509.Certificate
	caKey   crypto.Signer
	initErr error
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

// loadPKI makes a test CA and two leaves for 127.0.0.1 and localhost: an
// ECDSA one (AEAD-only servers) and an RSA one (servers offering the
// ECDHE-RSA CBC suites and RSA key exchange, as the seed's nginx does).
func loadPKI(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			pki.initErr = err
			return
		}
		ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rampart test CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
		if err != nil {
			pki.initErr = err
			return
		}
		pki.caCert, _ = x509.ParseCertificate(der)
		pki.caKey = caKey
		pki.pool = x509.NewCertPool()
		pki.pool.AddCert(pki.caCert)
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pki.ecdsa = leaf(ek, 2)
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			pki.initErr = err
			return
		}
		pki.rsa = leaf(rk, 3)
	})
	if pki.initErr != nil {
		t.Fatal(pki.initErr)
	}
	return pki
}

func leaf(k crypto.Signer, serial int64) tls.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.caCert, k.Public(), pki.caKey)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// fixture is an HTTPS server and its plain-HTTP redirect server.
type fixture struct {
	tls, http *httptest.Server
	tlsURL    *url.URL
}

// start runs app over TLS with cfg, and redirect (given the TLS port) on
// plain HTTP. Both listen on 127.0.0.1 only.
func start(t testing.TB, cfg *tls.Config, app http.Handler, redirect func(tlsPort string) http.Handler) *fixture {
	t.Helper()
	ts := httptest.NewUnstartedServer(app)
	ts.TLS = cfg
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // failed probe handshakes are expected
	ts.StartTLS()
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	hs := httptest.NewServer(redirect(u.Port()))
	t.Cleanup(hs.Close)
	return &fixture{tls: ts, http: hs, tlsURL: u}
}

// strongHeaders are what rampart's gateway sends by default, written by hand.
func strongApp(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "__Host-session", Value: "x", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte("<!doctype html><html><head><title>ok</title><script src=\"/app.js\"></script></head><body>ok</body></html>"))
}

func strongFixture(t testing.TB) *fixture {
	p := loadPKI(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{p.ecdsa}, MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}
	return start(t, cfg, http.HandlerFunc(strongApp), func(port string) http.Handler {
		// Redirect to the configured host, whatever Host says.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://127.0.0.1:"+port+r.URL.RequestURI(), http.StatusMovedPermanently)
		})
	})
}

// seedApp reproduces the seed checklist followed literally: Flask-Talisman
// sets its headers, nginx add_header sets the same ones again plus
// X-XSS-Protection, and nginx's own Server header carries its version.
func seedApp(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Flask-Talisman.
	h.Add("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
	h.Add("Strict-Transport-Security", "max-age=31556926; includeSubDomains")
	h.Add("X-Frame-Options", "SAMEORIGIN")
	h.Add("X-Content-Type-Options", "nosniff")
	h.Add("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Add("Set-Cookie", "session=eyJjc3JmX3Rva2VuIjoiIn0; Secure; HttpOnly; Path=/; SameSite=Lax")
	h.Add("Set-Cookie", "access_token_cookie=eyJhbGciOiJIUzI1NiJ9; Secure; HttpOnly; Path=/; SameSite=Strict")
	// nginx add_header, on top.
	h.Add("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload")
	h.Add("X-Content-Type-Options", "nosniff")
	h.Add("X-Frame-Options", "SAMEORIGIN")
	h.Add("X-XSS-Protection", "1; mode=block")
	h.Set("Server", "nginx/1.22.1")
	if r.Method == http.MethodTrace { // nginx refuses TRACE
		http.Error(w, "405 Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte("<!doctype html><html><body>seed</body></html>"))
}

func seedFixture(t *testing.T) *fixture {
	p := loadPKI(t)
	// ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers
	// "EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH": AES256+EECDH
	// brings the ECDHE-RSA AES-256 CBC suites in.
	cfg := &tls.Config{Certificates: []tls.Certificate{p.rsa}, MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}}
	return start(t, cfg, http.HandlerFunc(seedApp), func(port string) http.Handler {
		// return 301 https://$host$request_uri; ($host without its port;
		// the test adds the HTTPS port back).
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			w.Header().Set("Server", "nginx/1.22.1")
			http.Redirect(w, r, "https://"+host+":"+port+r.URL.RequestURI(), http.StatusMovedPermanently)
		})
	})
}

// badApp has every defect the audit knows.
func badApp(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Server", "Werkzeug/2.2.2 Python/3.11.2")
	h.Set("X-Powered-By", "Flask")
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	switch {
	case r.Method == http.MethodTrace:
		h.Set("Content-Type", "message/http")
		r.Write(w)
		return
	case r.URL.Path == "/.env":
		w.Write([]byte("SECRET_KEY=dev\nDATABASE_URL=postgres://app:app@db/app\n"))
		return
	case r.URL.Path == "/.git/HEAD":
		w.Write([]byte("ref: refs/heads/main\n"))
		return
	case r.URL.Path == "/console":
		w.Write([]byte("<!doctype html><title>Console // Werkzeug Debugger</title>"))
		return
	case r.URL.Path == "/server-status":
		// A catch-all page: must not be reported as an Apache status page.
	}
	h.Add("Set-Cookie", "sessionid=abc123; Path=/")
	h.Add("Set-Cookie", "csrftoken=xyz; Path=/")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte("<!doctype html><html><body><script src=\"http://cdn.example.com/jquery.js\"></script></body></html>"))
}

func badFixture(t *testing.T) *fixture {
	p := loadPKI(t)
	var all []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		all = append(all, s.ID)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{p.rsa}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: all}
	return start(t, cfg, http.HandlerFunc(badApp), func(string) http.Handler {
		return http.HandlerFunc(badApp) // plain HTTP serves the app: no redirect
	})
}

type x509Certificate = x509.Certificate

func parseLeaf(c tls.Certificate) (*x509.Certificate, error) {
	return x509.ParseCertificate(c.Certificate[0])
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
