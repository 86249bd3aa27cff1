package flask_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// The application must run under Debian's interpreter: the default python3
// on a developer machine may be another install that cannot see Debian's
// python3-flask and gunicorn packages.
const python = "/usr/bin/python3"

const host = "app.test"

func requireFlask(t *testing.T) {
	t.Helper()
	// jwt is python3-jwt (PyJWT); its EdDSA needs python3-cryptography.
	if err := exec.Command(python, "-c", "import flask, gunicorn, jwt, cryptography.hazmat.primitives.asymmetric.ed25519").Run(); err != nil {
		testenv.Missing(t, "python3-flask, python3-jwt, python3-cryptography and gunicorn",
			"apt-get install python3-flask python3-jwt python3-cryptography gunicorn")
	}
}

// appDir is the directory holding app.py (the test's working directory).
func appDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// appEnv returns the environment for the application: the test's own minus
// any SECRET_KEY and RAMPART_ variable, plus extra.
func appEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECRET_KEY=") && !strings.HasPrefix(kv, "RAMPART_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "PYTHONDONTWRITEBYTECODE=1"), extra...)
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// start runs cmd until the test ends, logging its output if the test fails.
func start(t *testing.T, name string, cmd *exec.Cmd) *testenv.Buffer {
	t.Helper()
	out := new(testenv.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return out
}

// waitFor calls try until it succeeds, failing the test after a generous
// deadline (this bounds a hang; it does not measure speed).
func waitFor(t *testing.T, what string, try func() error) {
	t.Helper()
	waitForWithin(t, 60*time.Second, what, try)
}

func waitForWithin(t *testing.T, limit time.Duration, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startApp runs the Flask app under gunicorn and returns its address. It
// verifies identities against the JWKS file jwksFile (which rampart
// writes when it starts) for audience.
func startApp(t *testing.T, jwksFile, audience string) (string, *testenv.Buffer) {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(python, "-m", "gunicorn", "--chdir", appDir(t), "--bind", addr, "--workers", "2", "app:app")
	cmd.Env = appEnv("SECRET_KEY="+randomKey(t), "RAMPART_AUTH_JWKS_FILE="+jwksFile, "RAMPART_AUTH_ASSERTION_AUDIENCE="+audience)
	out := start(t, "gunicorn", cmd)
	waitFor(t, "gunicorn did not start", func() error {
		resp, err := http.Get("http://" + addr + "/api/hello")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET /api/hello: %s", resp.Status)
		}
		return nil
	})
	return addr, out
}

var (
	buildOnce   sync.Once
	buildDir    string // removed by TestMain
	rampartPath string
	buildErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildRampart compiles cmd/rampart from this module, once per test binary.
func buildRampart(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "rampart", "main.go")); err != nil {
		t.Skipf("skipping: the rampart command is not in this tree (%v)", err)
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rampart-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		rampartPath = filepath.Join(dir, "rampart")
		cmd := exec.Command("go", "build", "-o", rampartPath, "./cmd/rampart")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/rampart: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return rampartPath
}

type gateway struct {
	httpsPort, httpPort string
	client              *http.Client // HTTPS to app.test, dialing the gateway on loopback
	roots               *x509.CertPool
	log                 *testenv.Buffer
}

// base is the public URL of the gateway.
func (g *gateway) base() string { return "https://" + host + ":" + g.httpsPort }

// startGateway runs `rampart serve` in front of upstream with a certificate
// for app.test issued by a CA that only the returned client trusts.
func startGateway(t *testing.T, upstream string, extraArgs ...string) *gateway {
	t.Helper()
	return startGatewayIn(t, t.TempDir(), nil, upstream, extraArgs...)
}

// startGatewayIn is startGateway running in dir (relative paths of its
// configuration are relative to dir; its state directory is dir/state),
// with env added to its environment.
func startGatewayIn(t *testing.T, dir string, env []string, upstream string, extraArgs ...string) *gateway {
	t.Helper()
	bin := buildRampart(t)
	certFile, keyFile, roots := testenv.WriteCert(t, dir, host)
	g := &gateway{httpsPort: freePort(t), httpPort: freePort(t)}
	cmd := exec.Command(bin, "serve",
		"--listen", "127.0.0.1:"+g.httpsPort,
		"--http-listen", "127.0.0.1:"+g.httpPort,
		"--admin-listen", "127.0.0.1:0",
		"--upstream", "http://"+upstream,
		"--host", host,
		"--cert", certFile,
		"--key", keyFile,
		"--state-dir", filepath.Join(dir, "state"),
	)
	cmd.Args = append(cmd.Args, extraArgs...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	g.log = start(t, "rampart", cmd)
	g.client = tlsClient("127.0.0.1:"+g.httpsPort, roots)
	g.roots = roots
	waitFor(t, "rampart did not start", func() error {
		resp, err := g.client.Get(g.base() + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return g
}

// logRecord is one JSON line of rampart's output (access log, security
// events, errors).
type logRecord map[string]any

// records parses rampart's complete output lines so far. bad holds the
// lines that are not a JSON object: such a line means a record was split or
// forged.
func (g *gateway) records() (recs []logRecord, bad []string) {
	lines := strings.Split(g.log.String(), "\n")
	for _, line := range lines[:len(lines)-1] { // the last one may be partial
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			bad = append(bad, line)
			continue
		}
		recs = append(recs, r)
	}
	return recs, bad
}

// waitRecord waits for a record matching match (records are written after
// the response is sent) and returns it.
func (g *gateway) waitRecord(t *testing.T, match func(logRecord) bool) logRecord {
	t.Helper()
	var found logRecord
	waitForWithin(t, 10*time.Second, "no matching log record", func() error {
		recs, _ := g.records()
		for _, r := range recs {
			if match(r) {
				found = r
				return nil
			}
		}
		return errors.New("not yet written")
	})
	return found
}

func tlsClient(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			// Whatever the URL says, connect to the gateway on loopback;
			// TLS still verifies the certificate for app.test (SNI).
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, c *http.Client, method, rawURL string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, rawURL, err)
	}
	return resp, b
}

// checkHeaders verifies that the gateway's security headers are present
// exactly once (the seed sent them twice, from Talisman and from nginx), that
// no header at all is repeated, and that no Server header leaks.
func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, h := range []string{"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options"} {
		if n := len(resp.Header.Values(h)); n != 1 {
			t.Errorf("%s present %d times, want exactly once", h, n)
		}
	}
	for k, vs := range resp.Header {
		if len(vs) > 1 && k != "Set-Cookie" && k != "Vary" {
			t.Errorf("header %s sent %d times: %q", k, len(vs), vs)
		}
	}
	if s, ok := resp.Header["Server"]; ok {
		t.Errorf("Server header leaked: %q", s)
	}
}

// TestApp_MissingSecretKey checks that the application refuses to start
// without a SECRET_KEY, instead of running with None as the seed did.
func TestApp_MissingSecretKey(t *testing.T) {
	requireFlask(t)
	for name, env := range map[string][]string{
		"missing": nil,
		"empty":   {"SECRET_KEY="},
		"short":   {"SECRET_KEY=changeme"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(python, "-c", "import app")
			// Run from an empty directory so that a developer's .env
			// beside app.py cannot supply the key.
			cmd.Dir = t.TempDir()
			cmd.Env = appEnv(append(env, "PYTHONPATH="+appDir(t))...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("app started with SECRET_KEY %s:\n%s", name, out)
			}
			if !strings.Contains(string(out), "SECRET_KEY") || !strings.Contains(string(out), "refusing to start") {
				t.Errorf("error does not explain the SECRET_KEY problem:\n%s", out)
			}
		})
	}
}

// TestApp_MissingJWKSFile checks that the application refuses to start when
// it is not told where rampart's public keys are: it could verify no user,
// and every page that needs one would answer 401.
func TestApp_MissingJWKSFile(t *testing.T) {
	requireFlask(t)
	cmd := exec.Command(python, "-c", "import app")
	cmd.Dir = t.TempDir()
	cmd.Env = appEnv("PYTHONPATH="+appDir(t), "SECRET_KEY="+randomKey(t))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("app started without RAMPART_AUTH_JWKS_FILE:\n%s", out)
	}
	if !strings.Contains(string(out), "RAMPART_AUTH_JWKS_FILE") || !strings.Contains(string(out), "refusing to start") {
		t.Errorf("error does not explain the missing JWKS file:\n%s", out)
	}
}

// TestFlaskBehindRampart runs the example application under gunicorn behind a
// real rampart, configured by the example's rampart.yaml (login at the
// gateway), and checks, over real TLS, each defect of the seed's setup and
// the login that replaces Flask-WTF and flask-jwt-extended.
func TestFlaskBehindRampart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	requireFlask(t)
	buildRampart(t) // before starting gunicorn: skips if the command is absent
	ex := startExample(t)
	g, app := ex.g, ex.app

	t.Run("HomePage", func(t *testing.T) {
		resp, body := do(t, g.client, "GET", g.base()+"/", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET / = %s", resp.Status)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type = %q, want text/html", ct)
		}
		if !bytes.Contains(body, []byte(`action="/submit"`)) {
			t.Errorf("home page has no form posting to /submit:\n%s", body)
		}
		checkHeaders(t, resp)
	})

	t.Run("HTTP2", func(t *testing.T) {
		resp, _ := do(t, g.client, "GET", g.base()+"/", nil, nil)
		if resp.ProtoMajor != 2 {
			t.Errorf("served over %s, want HTTP/2 (the seed's `listen 443 ssl http2`)", resp.Proto)
		}
	})

	t.Run("XForwardedForSpoofing", func(t *testing.T) {
		// A client claiming to be someone else through forwarding headers:
		// the gateway must replace them, so the app sees the TCP peer,
		// https and the real host.
		resp, body := do(t, g.client, "GET", g.base()+"/api/hello", nil, http.Header{
			"X-Forwarded-For":   {"203.0.113.7"},
			"X-Real-Ip":         {"203.0.113.8"},
			"X-Forwarded-Proto": {"http"},
			"X-Forwarded-Host":  {"evil.example"},
			"Forwarded":         {"for=203.0.113.9;proto=http;host=evil.example"},
		})
		if resp.StatusCode != 200 {
			t.Fatalf("GET /api/hello = %s\n%s", resp.Status, body)
		}
		checkHeaders(t, resp)
		var got struct {
			RemoteAddr  string `json:"remote_addr"`
			Scheme      string `json:"scheme"`
			Host        string `json:"host"`
			RequestID   string `json:"request_id"`
			ExternalURL string `json:"external_url"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("GET /api/hello: %v\n%s", err, body)
		}
		if got.RemoteAddr != "127.0.0.1" {
			t.Errorf("app saw client %q, want 127.0.0.1 (the real peer, not a spoofed header)", got.RemoteAddr)
		}
		if got.Scheme != "https" {
			t.Errorf("app saw scheme %q, want https", got.Scheme)
		}
		if want := host + ":" + g.httpsPort; got.Host != want {
			t.Errorf("app saw host %q, want %q", got.Host, want)
		}
		if want := g.base() + "/api/hello"; got.ExternalURL != want {
			t.Errorf("app builds external URLs as %q, want %q", got.ExternalURL, want)
		}
		if got.RequestID == "" {
			t.Error("app saw no X-Request-ID")
		} else if id := resp.Header.Get("X-Request-Id"); id != "" && id != got.RequestID {
			t.Errorf("response X-Request-ID %q differs from the one the app saw %q", id, got.RequestID)
		}
	})

	t.Run("ProxyAddressLogged", func(t *testing.T) {
		// The access log must name the client, not a spoofed header and
		// not the proxy in front of the app.
		ua := "e2e-client-address-" + randomKey(t)[:8]
		do(t, g.client, "GET", g.base()+"/api/hello", nil, http.Header{
			"User-Agent":      {ua},
			"X-Forwarded-For": {"203.0.113.7"},
		})
		rec := g.waitRecord(t, func(r logRecord) bool { return r["msg"] == "http_request" && r["user_agent"] == ua })
		if rec["client_ip"] != "127.0.0.1" {
			t.Errorf("access log client_ip = %v, want 127.0.0.1: %v", rec["client_ip"], rec)
		}
	})

	t.Run("LogInjection", func(t *testing.T) {
		// An encoded newline in the path must not start a forged record.
		ua := "e2e-log-injection-" + randomKey(t)[:8]
		forged := `/x%0a{"msg":"http_request","client_ip":"198.51.100.66","path":"/admin"}`
		forged = strings.NewReplacer(`{`, "%7B", `}`, "%7D", `"`, "%22").Replace(forged)
		do(t, g.client, "GET", g.base()+forged, nil, http.Header{"User-Agent": {ua}})
		g.waitRecord(t, func(r logRecord) bool { return r["msg"] == "http_request" && r["user_agent"] == ua })
		recs, bad := g.records()
		for _, r := range recs {
			if r["client_ip"] == "198.51.100.66" {
				t.Errorf("forged log record: %v", r)
			}
		}
		for _, line := range bad {
			t.Errorf("rampart output line is not a JSON record: %q", line)
		}
	})

	t.Run("RedirectLoop", func(t *testing.T) {
		// Post/Redirect/Get: the app's absolute redirect must point at the
		// public https URL. Behind the seed's proxy (no X-Forwarded-Proto)
		// Talisman saw http and redirected to https forever.
		// As a browser posts the form of its own page: same origin, no
		// token (rampart's origin check replaces Flask-WTF's).
		form := url.Values{"message": {"hello"}}
		resp, body := do(t, g.client, "POST", g.base()+"/submit", strings.NewReader(form.Encode()), http.Header{
			"Content-Type":   {"application/x-www-form-urlencoded"},
			"Origin":         {g.base()},
			"Referer":        {g.base() + "/"},
			"Sec-Fetch-Site": {"same-origin"},
		})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /submit = %s, want 303\n%s", resp.Status, body)
		}
		loc := resp.Header.Get("Location")
		if want := g.base() + "/thanks?n=5"; loc != want {
			t.Fatalf("POST /submit redirects to %q, want %q", loc, want)
		}
		resp, body = do(t, g.client, "GET", loc, nil, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Received 5 characters")) {
			t.Errorf("GET %s = %s\n%s", loc, resp.Status, body)
		}
	})

	t.Run("CrossSitePostRefused", func(t *testing.T) {
		// A page on another site posting the form, with the signed-in
		// user's cookies: rampart refuses it (the app has no CSRFProtect
		// any more), before the app sees it.
		form := url.Values{"message": {"cross-site"}}
		ids := map[any]bool{}
		for name, h := range map[string]http.Header{
			"fetch metadata": {"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
			"origin only":    {"Origin": {"https://evil.example"}},
			"null origin":    {"Origin": {"null"}},
			"sibling site":   {"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://other." + host}},
		} {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, body := do(t, ex.alice, "POST", g.base()+"/submit", strings.NewReader(form.Encode()), h)
			ids[resp.Header.Get("X-Request-Id")] = true
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: cross-site POST /submit = %s, want 403 from rampart\n%s", name, resp.Status, body)
			}
			checkHeaders(t, resp)
		}
		// In the security log (sampled: at least the first of them).
		g.waitRecord(t, func(r logRecord) bool { return r["event.action"] == "malicious_csrf" && ids[r["http.request.id"]] })
		// None reached the application: it would have logged the form.
		if strings.Contains(ex.appLog.String(), "(10 characters)") {
			t.Errorf("a cross-site POST reached the application:\n%s", ex.appLog)
		}
	})

	t.Run("SlowEndpoint", func(t *testing.T) {
		resp, body := do(t, g.client, "GET", g.base()+"/api/slow?ms=50", nil, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"slept_ms":50`)) {
			t.Errorf("GET /api/slow = %s\n%s", resp.Status, body)
		}
	})

	t.Run("LoginRequired", func(t *testing.T) {
		// No session: a page load goes to the login page (through the
		// refresh endpoint, which has no refresh cookie to use), a script
		// gets 401. Neither reaches the app.
		resp, _ := do(t, g.client, "GET", g.base()+"/account", nil, http.Header{
			"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"none"},
		})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.well-known/rampart/") ||
			!strings.Contains(loc, "return=%2Faccount") {
			t.Errorf("GET /account without a session, navigating = %s to %q, want 303 to rampart's login with return=/account", resp.Status, loc)
		}
		resp, body := do(t, g.client, "GET", g.base()+"/account", nil, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("GET /account without a session from a script = %s %q, want 401 problem+json\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
		}
		checkHeaders(t, resp)
		// The login page is rampart's, with the same headers.
		resp, body = do(t, g.client, "GET", g.base()+"/.well-known/rampart/login?return=/account", nil, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`name="password"`)) {
			t.Errorf("GET the login page = %s\n%s", resp.Status, body)
		}
		checkHeaders(t, resp)
	})

	t.Run("SignInAndAccount", func(t *testing.T) {
		// The account page shows the user the app verified from the
		// assertion: name and roles.
		resp, body := do(t, ex.alice, "GET", g.base()+"/account", nil, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<strong id="user">alice</strong>`)) ||
			!bytes.Contains(body, []byte(`<span id="roles">admin</span>`)) {
			t.Fatalf("GET /account signed in as alice = %s\n%s", resp.Status, body)
		}
		checkHeaders(t, resp)
		// role:admin on /admin: alice has it, bob does not (rampart's 403).
		if resp, body := do(t, ex.alice, "GET", g.base()+"/admin", nil, nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte("Administration")) {
			t.Errorf("GET /admin as alice (admin) = %s\n%s", resp.Status, body)
		}
		resp, body = do(t, ex.bob, "GET", g.base()+"/account", nil, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<strong id="user">bob</strong>`)) || !bytes.Contains(body, []byte(`<span id="roles">none</span>`)) {
			t.Errorf("GET /account as bob = %s\n%s", resp.Status, body)
		}
		if resp, body := do(t, ex.bob, "GET", g.base()+"/admin", nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /admin as bob (no role) = %s, want 403\n%s", resp.Status, body)
		}
		// The public API names the signed-in user too.
		_, body = do(t, ex.alice, "GET", g.base()+"/api/hello", nil, nil)
		if !bytes.Contains(body, []byte(`"user":"alice"`)) {
			t.Errorf("GET /api/hello as alice: %s", body)
		}
	})

	t.Run("WrongPasswordRefused", func(t *testing.T) {
		c := newBrowser(g)
		resp, body := signIn(t, g, c, "alice", "not the password at all", "e2e-wrong-password")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong password = %s, want 401\n%s", resp.Status, body)
		}
		if sessionCookie(c, g) != "" {
			t.Error("a wrong password got a session cookie")
		}
		id := resp.Header.Get("X-Request-Id")
		g.waitRecord(t, func(r logRecord) bool { return r["event.action"] == "authn_login_fail" && r["http.request.id"] == id })
	})

	t.Run("IdentityHeadersStripped", func(t *testing.T) {
		// A client sending rampart's identity headers itself: with no
		// session they never reach the app (which would answer 401 to an
		// identity that does not verify, instead of user null)...
		forged := http.Header{
			"X-Rampart-User":      {"alice"},
			"X-Rampart-Roles":     {"admin"},
			"X-Rampart-Assertion": {forgeAssertion(t, ex.jwks, "alice", []string{"admin"})},
		}
		resp, body := do(t, g.client, "GET", g.base()+"/api/hello", nil, forged)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"user":null`)) {
			t.Errorf("GET /api/hello with client-sent identity headers = %s, want 200 and no user\n%s", resp.Status, body)
		}
		// ... and with bob's session, they are replaced by bob's: no
		// admin page, and the account page says bob.
		if resp, body := do(t, ex.bob, "GET", g.base()+"/admin", nil, forged); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /admin as bob claiming alice's identity = %s, want 403\n%s", resp.Status, body)
		}
		resp, body = do(t, ex.bob, "GET", g.base()+"/account", nil, forged)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<strong id="user">bob</strong>`)) {
			t.Errorf("GET /account as bob claiming alice's identity = %s\n%s", resp.Status, body)
		}
		// Spelled with underscores or in another case, the same.
		resp, body = do(t, g.client, "GET", g.base()+"/api/hello", nil, http.Header{"X_rampart_user": {"alice"}, "x-rampart-assertion": {"x"}})
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"user":null`)) {
			t.Errorf("GET /api/hello with respelled identity headers = %s\n%s", resp.Status, body)
		}
	})

	t.Run("ForgedAssertionStraightToApp", func(t *testing.T) {
		// Someone reaching gunicorn on its port, around rampart, with a
		// made-up identity: the app verifies the assertion itself.
		direct := &http.Client{Timeout: 20 * time.Second}
		account := "http://" + app + "/account"
		get := func(h http.Header) (*http.Response, []byte) { return do(t, direct, "GET", account, nil, h) }
		identity := func(user, roles, assertion string) http.Header {
			h := http.Header{"X-Rampart-User": {user}, "X-Rampart-Assertion": {assertion}}
			if roles != "" {
				h.Set("X-Rampart-Roles", roles)
			}
			return h
		}
		// The control: an assertion signed with the gateway's key is
		// accepted, so each refusal below is for the one thing it changes.
		gw := ex.signer(t, time.Now())
		good := assert(t, gw, "alice", []string{"admin"}, exampleAudience)
		if resp, body := get(identity("alice", "admin", good)); resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<strong id="user">alice</strong>`)) {
			t.Fatalf("a valid assertion sent straight to the app = %s\n%s", resp.Status, body)
		}
		kid := jwksKid(t, ex.jwks)
		for name, h := range map[string]http.Header{
			"user header alone":                    {"X-Rampart-User": {"alice"}, "X-Rampart-Roles": {"admin"}},
			"garbage assertion":                    identity("alice", "admin", "not.a.jwt"),
			"alg none":                             identity("alice", "admin", rawJWT(t, map[string]any{"alg": "none", "kid": kid, "typ": "rampart+assertion"}, assertionClaims("alice", []string{"admin"}, exampleAudience, time.Now()), nil)),
			"HS256 keyed with the public key":      identity("alice", "admin", hs256WithPublicKey(t, ex.jwks, kid, assertionClaims("alice", []string{"admin"}, exampleAudience, time.Now()))),
			"signed by another key, gateway's kid": identity("alice", "admin", forgeAssertion(t, ex.jwks, "alice", []string{"admin"})),
			"the session cookie's access token":    identity("alice", "admin", ex.aliceAccess),
			"another user's name in the header":    identity("bob", "admin", good),
			"other roles in the header":            identity("alice", "admin,ops", good),
			"assertion for another audience":       identity("alice", "admin", assert(t, gw, "alice", []string{"admin"}, "rampart-upstream")),
			"expired assertion":                    identity("alice", "admin", assert(t, ex.signer(t, time.Now().Add(-5*time.Minute)), "alice", []string{"admin"}, exampleAudience)),
			"two assertions":                       {"X-Rampart-User": {"alice"}, "X-Rampart-Roles": {"admin"}, "X-Rampart-Assertion": {good, good}},
			"oversized":                            identity("alice", "admin", good+strings.Repeat("A", 4096)),
		} {
			resp, body := get(h)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: GET /account straight to the app = %s, want 401\n%s", name, resp.Status, body)
			}
		}
		// A forged identity is refused on public pages too, not ignored.
		resp, _ := do(t, direct, "GET", "http://"+app+"/api/hello", nil, identity("alice", "admin", forgeAssertion(t, ex.jwks, "alice", []string{"admin"})))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a forged identity on /api/hello straight to the app = %s, want 401", resp.Status)
		}
		// The app logs why, never the token.
		if log := ex.appLog.String(); !strings.Contains(log, "identity refused") || strings.Contains(log, good[:40]) {
			t.Errorf("the app's log of refusals:\n%s", log)
		}
	})

	t.Run("LogoutRefusesTheOldCookie", func(t *testing.T) {
		old := sessionCookie(ex.alice, g)
		if old == "" {
			t.Fatal("no session cookie before logout")
		}
		resp, body := do(t, ex.alice, "POST", g.base()+"/.well-known/rampart/logout", strings.NewReader(""), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {g.base()}, "Sec-Fetch-Site": {"same-origin"},
		})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST logout = %s, want 303\n%s", resp.Status, body)
		}
		if sessionCookie(ex.alice, g) != "" {
			t.Error("the session cookie was not cleared by logout")
		}
		// The old cookie, replayed (a copy stolen before the logout), is
		// refused at once, not when it expires.
		resp, body = do(t, g.client, "GET", g.base()+"/account", nil, http.Header{
			"Cookie": {"__Host-rampart-session=" + old}, "Accept": {"application/json"},
		})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /account with the cookie of a logged-out session = %s, want 401\n%s", resp.Status, body)
		}
		// bob's session is not affected.
		if resp, _ := do(t, ex.bob, "GET", g.base()+"/account", nil, nil); resp.StatusCode != 200 {
			t.Errorf("GET /account as bob after alice's logout = %s", resp.Status)
		}
	})

	t.Run("CBCSuites", func(t *testing.T) {
		// The seed's "AES256+EECDH" let TLS 1.2 clients negotiate CBC.
		_, err := tls.Dial("tcp", "127.0.0.1:"+g.httpsPort, &tls.Config{
			RootCAs:    g.roots,
			ServerName: host,
			MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			},
		})
		if err == nil {
			t.Error("a TLS 1.2 client offering only CBC suites completed the handshake")
		}
	})

	t.Run("ProtocolDowngrade", func(t *testing.T) {
		_, err := tls.Dial("tcp", "127.0.0.1:"+g.httpsPort, &tls.Config{
			RootCAs:    g.roots,
			ServerName: host,
			MinVersion: tls.VersionTLS10,
			MaxVersion: tls.VersionTLS11,
		})
		if err == nil {
			t.Error("a TLS 1.1 client completed the handshake")
		}
	})

	plain := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	plainURL := "http://127.0.0.1:" + g.httpPort

	t.Run("HTTPRedirectsToHTTPS", func(t *testing.T) {
		resp, _ := do(t, plain, "GET", plainURL+"/some/path?q=1", nil, http.Header{"Host": {host}})
		if resp.StatusCode != http.StatusMovedPermanently {
			t.Fatalf("GET http://%s/some/path = %s, want 301", host, resp.Status)
		}
		if want := g.base() + "/some/path?q=1"; resp.Header.Get("Location") != want {
			t.Errorf("Location = %q, want %q", resp.Header.Get("Location"), want)
		}
	})

	t.Run("HostHeaderInjection", func(t *testing.T) {
		// The seed's `return 301 https://$host$request_uri` sends any
		// client to any host: an open redirect.
		resp, _ := do(t, plain, "GET", plainURL+"/account", nil, http.Header{"Host": {"evil.example"}})
		if resp.StatusCode != http.StatusMisdirectedRequest && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Host: evil.example on the HTTP listener = %s, want 421 or 400", resp.Status)
		}
		if loc := resp.Header.Get("Location"); strings.Contains(loc, "evil.example") {
			t.Errorf("redirected to the attacker's host: %q", loc)
		}
	})

	t.Run("HostHeaderInjectionTLS", func(t *testing.T) {
		// A valid TLS connection for app.test asking for another host must
		// not reach the application.
		resp, body := do(t, g.client, "GET", g.base()+"/api/hello", nil, http.Header{"Host": {"evil.example"}})
		if resp.StatusCode != http.StatusMisdirectedRequest && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Host: evil.example over TLS = %s, want 421 or 400\n%s", resp.Status, body)
		}
	})

	t.Run("OutputIsJSON", func(t *testing.T) {
		// After everything above (refused handshakes, refused hosts,
		// hostile paths), every line rampart wrote is still one JSON
		// record: nothing (net/http's own error log included) writes raw
		// text that a log pipeline would mis-parse.
		recs, bad := g.records()
		for _, line := range bad {
			t.Errorf("rampart output line is not a JSON record: %q", line)
		}
		if len(recs) == 0 {
			t.Error("rampart wrote no records")
		}
	})
}

// TestFlaskBehindRampart_HeadersOnErrorPages checks that a 502 (the
// application is down) still carries the security headers. The seed's
// add_header lines, without `always`, skipped every error page.
func TestFlaskBehindRampart_HeadersOnErrorPages(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	// Nothing listens on this port: the upstream is down.
	g := startGateway(t, "127.0.0.1:"+freePort(t))
	resp, body := do(t, g.client, "GET", g.base()+"/", nil, nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("GET / with the app down = %s, want 502\n%s", resp.Status, body)
	}
	checkHeaders(t, resp)
	if bytes.Contains(body, []byte("127.0.0.1")) || bytes.Contains(body, []byte("connection refused")) {
		t.Errorf("error page leaks upstream details:\n%s", body)
	}
}

// seedRateLimit is the seed's `limit_req zone=api_limit burst=20 nodelay` on
// /api/ at 10r/s, in rampart's configuration.
const seedRateLimit = `ratelimit:
  zones:
    api_limit: {key: client_ip, rate: 10r/s, size: 10m}
  rules:
    - prefix: /api/
      limits:
        - {zone: api_limit, burst: 20, nodelay: true}
`

// TestFlaskBehindRampart_RateLimitStatus floods /api/ past the seed's limit
// and checks the answer: 429 with Retry-After and the security headers. The
// seed's nginx answered 503, which says "server broken" to every client and
// monitor.
func TestFlaskBehindRampart_RateLimitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	requireFlask(t)
	buildRampart(t)
	// No auth here: the app is given a JWKS file that no rampart writes.
	app, _ := startApp(t, filepath.Join(t.TempDir(), "jwks.json"), exampleAudience)
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(conf, []byte(seedRateLimit), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, app, "--config", conf)
	for i := 0; i < 200; i++ {
		resp, body := do(t, g.client, "GET", g.base()+"/api/hello", nil, nil)
		switch resp.StatusCode {
		case http.StatusOK:
			continue
		case http.StatusTooManyRequests:
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			checkHeaders(t, resp)
			if bytes.Contains(body, []byte("gunicorn")) {
				t.Errorf("429 page leaks the upstream:\n%s", body)
			}
			// The limit is per path prefix: the home page is not limited.
			if resp, _ := do(t, g.client, "GET", g.base()+"/", nil, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("GET / after /api/ was limited = %s, want 200", resp.Status)
			}
			return
		default:
			t.Fatalf("request %d to /api/hello = %s, want 200 or 429\n%s", i, resp.Status, body)
		}
	}
	t.Error("200 quick requests to /api/ were never limited (the seed allows 10r/s, burst 20)")
}
