package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// flaskApp starts testdata/proxyfix_app.py (Flask behind ProxyFix, HTTPS
// forced) and returns its base URL.
func flaskApp(t *testing.T) string {
	t.Helper()
	return pythonApp(t, "testdata/proxyfix_app.py")
}

// pythonApp starts a Python application that prints its port, then
// serves, and returns its base URL.
func pythonApp(t *testing.T, args ...string) string {
	t.Helper()
	py := testenv.LookPath(t, "python3", "apt-get install python3-flask")
	cmd := exec.Command(py, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Wait()
		if strings.Contains(stderr.String(), "ModuleNotFoundError") {
			testenv.Missing(t, "python3-flask", "apt-get install python3-flask")
		}
		t.Fatalf("flask app did not start: %v\n%s", err, stderr.String())
	}
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}

// TestFlask runs a real Flask application (ProxyFix, HTTPS forced) behind
// the proxy; it needs python3-flask.
func TestFlask(t *testing.T) {
	app := flaskApp(t)
	t.Run("ForceHTTPS_NoRedirectLoop", func(t *testing.T) { testFlaskForceHTTPSNoRedirectLoop(t, app) })
	t.Run("ForwardedProtoSpoofing", func(t *testing.T) { testFlaskForwardedProtoSpoofing(t, app) })
	t.Run("DebuggerPageLeak", testFlaskDebuggerPageLeak)
}

// DebuggerPageLeak: a real Flask application left in debug mode (the
// Werkzeug debugger, as flask run --debug serves it) fails on a request;
// through the proxy the client gets the generic page, not the debugger
// with its source, traceback and console key, whichever Host the
// application is sent (its own Host enables the console).
func testFlaskDebuggerPageLeak(t *testing.T) {
	app := pythonApp(t, "testdata/debugpages/capture/flask_app.py", "debugger")
	for _, send := range []bool{false, true} {
		p, errLog, _ := testProxy(t, app, Options{SendUpstreamHost: send})
		fe := front(t, withContext(p, "rid-flask", netip.Addr{}))
		res, err := fe.Client().Get(fe.URL + "/boom")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "rid-flask") {
			t.Errorf("SendUpstreamHost=%v: status %d body %q", send, res.StatusCode, body)
		}
		for _, m := range []string{"Werkzeug", "Traceback", "SECRET", "ZeroDivisionError", "flask_app.py", "return 1 / 0"} {
			if strings.Contains(string(body), m) {
				t.Errorf("SendUpstreamHost=%v: %q reached the client", send, m)
			}
		}
		if !strings.Contains(errLog.String(), `"detected":"werkzeug_debugger"`) {
			t.Errorf("SendUpstreamHost=%v: not logged: %s", send, errLog.String())
		}
	}
}

type flaskSeen struct {
	Scheme     string `json:"scheme"`
	RemoteAddr string `json:"remote_addr"`
	Host       string `json:"host"`
	User       string `json:"user"`
}

func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// ForceHTTPS_NoRedirectLoop: the seed guide's defect. A Flask app
// forcing HTTPS behind a TLS-terminating proxy that sends no
// X-Forwarded-Proto redirects every request to itself. Through rampart it
// sees https, the real client address and the client's host.
func testFlaskForceHTTPSNoRedirectLoop(t *testing.T, app string) {
	p, _, _ := testProxy(t, app, Options{})
	fe := newTLSFront(t, withContext(p, "", netip.MustParseAddr("203.0.113.7")))
	req := newRequest(t, "GET", fe.URL+"/", nil)
	req.Host = "app.example"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Remote-User", "admin")
	res, err := noRedirects(fe.Client()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d (Location %q): the application does not see HTTPS", res.StatusCode, res.Header.Get("Location"))
	}
	var s flaskSeen
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	want := flaskSeen{Scheme: "https", RemoteAddr: "203.0.113.7", Host: "app.example"}
	if s != want {
		t.Errorf("flask saw %+v, want %+v", s, want)
	}
}

// ForwardedProtoSpoofing: over plain HTTP, a client claiming
// https (in either header spelling, which WSGI merges) does not convince
// the application; it still redirects to HTTPS.
func testFlaskForwardedProtoSpoofing(t *testing.T, app string) {
	p, _, _ := testProxy(t, app, Options{})
	fe := front(t, p)
	req := newRequest(t, "GET", fe.URL+"/", nil)
	req.Host = "app.example"
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header["X_Forwarded_Proto"] = []string{"https"}
	res, err := noRedirects(fe.Client()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), "https://app.example/") {
		t.Errorf("status %d Location %q: the spoofed scheme was believed", res.StatusCode, res.Header.Get("Location"))
	}
}
