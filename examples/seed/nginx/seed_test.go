package nginx_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/examples/seed/nginx"
	"github.com/rampart-dev/rampart/internal/testenv"
)

// These tests run the seed's configuration in a real nginx and pin down the
// defects that rampart exists to remove. If one starts failing, the seed's
// behaviour (or nginx's) changed, and the comparison in seed.conf's comments
// must be revisited.

type seedServer struct {
	httpsAddr, httpAddr string
	client              *http.Client // HTTPS, trusts the test CA, dials httpsAddr
}

func startSeed(t *testing.T) *seedServer {
	t.Helper()
	bin := testenv.LookPath(t, "nginx", "apt-get install nginx")

	// The application behind nginx imitates the seed's Flask app with
	// Flask-Talisman: it sets its own security headers and a Server header.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			// Close the connection without answering: nginx returns 502.
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Server", "gunicorn")
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Real-IP-Seen", r.Header.Get("X-Real-IP"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<p>hello</p>")
	}))
	t.Cleanup(app.Close)

	dir := t.TempDir()
	certFile, keyFile, roots := testenv.WriteCert(t, dir, "app.test")
	p := nginx.Params{
		Prefix:     dir,
		HTTPSAddr:  freeAddr(t),
		HTTPAddr:   freeAddr(t),
		Upstream:   strings.TrimPrefix(app.URL, "http://"),
		ServerName: "app.test",
		CertFile:   certFile,
		KeyFile:    keyFile,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := nginx.Start(ctx, bin, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return &seedServer{
		httpsAddr: p.HTTPSAddr,
		httpAddr:  p.HTTPAddr,
		client:    tlsClient(p.HTTPSAddr, roots, nil),
	}
}

func tlsClient(addr string, roots *x509.CertPool, suites []uint16) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{
				RootCAs:      roots,
				ServerName:   "app.test",
				CipherSuites: suites,
			},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, c *http.Client, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if len(header) >= 2 && header[0] == "Host" {
		req.Host = header[1]
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestSeed(t *testing.T) {
	s := startSeed(t)

	t.Run("ServesTheAppOverHTTP2", func(t *testing.T) {
		resp := get(t, s.client, "https://app.test/")
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Errorf("GET / = %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
		}
	})

	t.Run("DuplicateSecurityHeaders", func(t *testing.T) {
		// Talisman in the app and add_header in nginx both set them.
		resp := get(t, s.client, "https://app.test/")
		for _, h := range []string{"Strict-Transport-Security", "X-Content-Type-Options"} {
			if n := len(resp.Header.Values(h)); n != 2 {
				t.Errorf("%s sent %d times; the seed sends it twice", h, n)
			}
		}
	})

	t.Run("ServerHeaderLeak", func(t *testing.T) {
		resp := get(t, s.client, "https://app.test/")
		if got := resp.Header.Get("Server"); !strings.HasPrefix(got, "nginx") {
			t.Errorf("Server = %q; the seed hides the app's but sends nginx's own", got)
		}
	})

	t.Run("HeadersMissingOnErrorPages", func(t *testing.T) {
		// add_header without `always` skips 4xx/5xx responses.
		resp := get(t, s.client, "https://app.test/broken")
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("GET /broken = %d, want 502", resp.StatusCode)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("502 page carries Strict-Transport-Security %q; the seed's does not", got)
		}
	})

	t.Run("APILocationDropsXRealIP", func(t *testing.T) {
		resp := get(t, s.client, "https://app.test/api/x")
		if got := resp.Header.Get("X-Real-IP-Seen"); got != "" {
			t.Errorf("app saw X-Real-IP %q on /api/; the seed's /api/ location sends none", got)
		}
		resp = get(t, s.client, "https://app.test/x")
		if got := resp.Header.Get("X-Real-IP-Seen"); got != "127.0.0.1" {
			t.Errorf("app saw X-Real-IP %q on /, want 127.0.0.1", got)
		}
	})

	t.Run("CBCSuitesOffered", func(t *testing.T) {
		// "AES256+EECDH" matches ECDHE-ECDSA-AES256-SHA, a CBC suite.
		c := tlsClient(s.httpsAddr, s.client.Transport.(*http.Transport).TLSClientConfig.RootCAs,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA})
		tr := c.Transport.(*http.Transport)
		tr.TLSClientConfig.MaxVersion = tls.VersionTLS12
		tr.ForceAttemptHTTP2 = false
		resp := get(t, c, "https://app.test/")
		if resp.TLS == nil || resp.TLS.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA {
			t.Errorf("CBC-only TLS 1.2 client was not served with a CBC suite")
		}
	})

	t.Run("RateLimitAnswers503", func(t *testing.T) {
		// burst=20 nodelay at 10r/s: a quick run of requests overflows it,
		// and nginx answers 503, not 429.
		for i := 0; i < 200; i++ {
			resp := get(t, s.client, "https://app.test/api/hello")
			if resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("request %d: 429; the seed answers 503", i)
			}
			if resp.StatusCode == http.StatusServiceUnavailable {
				return
			}
		}
		t.Error("200 requests to /api/ were never limited")
	})

	t.Run("OpenRedirect", func(t *testing.T) {
		plain := &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp := get(t, plain, "http://"+s.httpAddr+"/login?next=x", "Host", "evil.example")
		if got := resp.Header.Get("Location"); resp.StatusCode != 301 || got != "https://evil.example/login?next=x" {
			t.Errorf("Host: evil.example → %d %q; the seed redirects to https://evil.example/login?next=x", resp.StatusCode, got)
		}
	})
}
