package flask_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFlaskPathConfusion sends, through rampart, every spelling of a path
// that path-confusion attacks use, to a Flask application (under gunicorn,
// Werkzeug's router) with an /api/ view, an /admin view, an /embed view and
// a catch-all. rampart limits /api/, gives /admin/ strict headers and
// /embed/ relaxed ones. Whatever the spelling, either rampart refuses it
// (400, never forwarded) or the rules it applied are those of the view
// Flask served: a request Flask serves as the api view was under the /api/
// limit, one served as admin got admin's headers, and only the embed view
// got embed's.
func TestFlaskPathConfusion(t *testing.T) {
	requireFlask(t)
	app := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(python, "-m", "gunicorn", "--chdir", filepath.Join(appDir(t), "testdata"), "--bind", app, "--workers", "1", "routes:app")
	cmd.Env = appEnv()
	start(t, "gunicorn", cmd)
	waitFor(t, "gunicorn did not start", func() error {
		resp, err := http.Get("http://" + app + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	cfg := filepath.Join(t.TempDir(), "rampart.yaml")
	os.WriteFile(cfg, []byte(`headers:
  routes:
    - prefix: /embed/
      csp: {frame-ancestors: "*"}
      frame_options: "off"
    - prefix: /admin/
      frame_options: DENY
ratelimit:
  zones:
    api: {key: client_ip, rate: 1r/m}
  rules:
    - prefix: /api/
      limits: [{zone: api, burst: 1000, nodelay: true}]
`), 0o600)
	g := startGateway(t, app, "--config", cfg)

	for _, path := range []string{
		"/api/x", "/admin", "/admin/x", "/embed/x", "/apiary", "/other", "/api", "/%61pi/x", "/api//x",
		// Encoded slashes and dot segments: Werkzeug decodes %2F and
		// does not resolve "..".
		"/api/..%2fx", "/api/..%2Fadmin", "/x/..%2fapi/y", "/admin/..%2fembed/x", "/api%2fx", "/embed%2f..%2fadmin",
		"/api/../admin", "/embed/../admin/x", "/api/%2e%2e/admin", "/x/.%2e/api/y", "/./api/x",
		// Case.
		"/API/x", "/Api/x", "/ADMIN", "/Admin/x", "/EMBED/x", "/Embed/x",
		// Semicolons (Tomcat's "..;").
		"/api;x/y", "/api/..;/admin", "/embed;x/y", "/admin;x",
		// Backslashes, plain and encoded.
		"/api\\x", "/embed\\..\\admin", "/x/..%5capi/y",
		// Overlong UTF-8 and double encoding.
		"/api/%c0%af../admin", "/%c0%ae%c0%ae/api/x", "/embed/%c0%ae%c0%ae/admin", "/api/%252e%252e/admin",
		// Control characters.
		"/api/x%00", "/admin%0a",
	} {
		status, header, body := rawGet(t, g, path)
		if status == http.StatusBadRequest {
			if strings.Contains(body, `"view"`) {
				t.Errorf("%s: a 400 from the application, not from rampart: %s", path, body)
			}
			continue // refused by rampart, never forwarded
		}
		if status/100 == 3 {
			continue // Werkzeug redirected to its canonical URL: no page served
		}
		var got struct{ View, Path string }
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.View == "" {
			t.Errorf("%s: status %d, body %q", path, status, body)
			continue
		}
		id := header.Get("X-Request-Id")
		rec := g.waitRecord(t, func(r logRecord) bool { return r["msg"] == "http_request" && r["request_id"] == id })
		_, limited := rec["ratelimit"]
		relaxed := strings.Contains(header.Get("Content-Security-Policy"), "frame-ancestors *")
		strict := header.Get("X-Frame-Options") == "DENY"
		switch {
		case got.View == "api" && !limited:
			t.Errorf("%s: Flask served the api view (%q) outside the /api/ rate limit", path, got.Path)
		case got.View == "admin" && (!strict || relaxed):
			t.Errorf("%s: Flask served the admin view (%q) without admin's headers (XFO %q, CSP %q)",
				path, got.Path, header.Get("X-Frame-Options"), header.Get("Content-Security-Policy"))
		case got.View != "embed" && relaxed:
			t.Errorf("%s: Flask served the %s view (%q) with embed's relaxed headers", path, got.View, got.Path)
		case got.View == "embed" && !relaxed:
			t.Errorf("%s: Flask served the embed view (%q) without its route", path, got.Path)
		}
	}
}

// rawGet sends path exactly as written, over TLS to the gateway, as an
// attacker's client would (Go's client would clean some of it).
func rawGet(t *testing.T, g *gateway, path string) (int, http.Header, string) {
	t.Helper()
	c, err := tls.Dial("tcp", "127.0.0.1:"+g.httpsPort, &tls.Config{RootCAs: g.roots, ServerName: host, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+host+":"+g.httpsPort+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
