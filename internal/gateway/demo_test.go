package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/demo"
	"github.com/rampart-dev/rampart/internal/testenv"
)

// The demo's zero configuration: development certificate cached in the
// state directory, nonces on, and the page's nonce'd script carrying the
// same nonce as the CSP.
func TestDemo_ZeroConfig(t *testing.T) {
	app := httptest.NewServer(demo.Handler())
	defer app.Close()
	state := t.TempDir()
	upstream := app.URL
	login, err := demo.Login(state, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, fs := config.Load(config.Source{Path: demo.ConfigName, Data: demo.Config, Flags: config.Flags{Upstream: &upstream, StateDir: &state},
		LookupEnv: login.LookupEnv})
	if plan == nil {
		t.Fatal(fs.Error())
	}
	if plan.TLSMode() != "development certificate" || plan.HTTPS != "127.0.0.1:8443" || plan.HTTP != "127.0.0.1:8080" {
		t.Fatalf("demo plan: %+v %q %q", plan.TLS, plan.HTTPS, plan.HTTP)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	gw, err := New(plan, Options{AdminListener: testenv.Listener(t), Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Stderr: io.Discard,
		HTTPSListener: ln, HTTPListener: httpLn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil {
		t.Fatalf("no nonce in CSP %q", csp)
	}
	page := strings.ReplaceAll(string(body), "&#43;", "+")
	if !strings.Contains(page, `<script nonce="`+m[1]+`">`) {
		t.Errorf("the page's script does not carry the CSP nonce %s:\n%s", m[1], page)
	}
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("demo app's fingerprint or weak headers leaked: %v", resp.Header)
	}
	cert := resp.TLS.PeerCertificates[0]
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Errorf("development certificate: %v", err)
	}

	// The demo's hosts include 127.0.0.1 and ::1, which the startup log
	// lists: the plain listener redirects them too, not a bare 400.
	_, httpsPort, _ := net.SplitHostPort(ln.Addr().String())
	_, httpPort, _ := net.SplitHostPort(httpLn.Addr().String())
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]string{
		"127.0.0.1": "https://127.0.0.1:" + httpsPort + "/x",
		"localhost": "https://localhost:" + httpsPort + "/x",
		"[::1]":     "https://[::1]:" + httpsPort + "/x",
	} {
		req, _ := http.NewRequest("GET", "http://"+httpLn.Addr().String()+"/x", nil)
		req.Host = host + ":" + httpPort
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("http://%s:%s/x: %d %q, want 301 %q", host, httpPort, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	// The demo user signs in with the printed password and reaches the
	// protected area; without a session a script gets 401.
	base := "https://localhost:" + httpsPort
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		}}
	browser := &http.Client{Jar: jar, Transport: tr}
	resp, err = browser.Get(base + "/private")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/private without a session: %d", resp.StatusCode)
	}
	form := url.Values{"username": {login.User}, "password": {login.Password}, "return": {"/private"}}
	req, _ := http.NewRequest("POST", base+"/.well-known/rampart/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/private" || !strings.Contains(string(body), "Signed in as <code>demo</code>") {
		t.Fatalf("after signing in: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
}
