package gateway

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/securitytxt"
)

// TestGateway_SecurityTxt: the file of security_txt: is served at its
// well-known path with the security headers, to anyone (even where auth
// would require a session), and never reaches the application.
func TestGateway_SecurityTxt(t *testing.T) {
	expires := time.Now().Add(180 * 24 * time.Hour).UTC().Format(time.RFC3339)
	h := start(t, upstream(t).URL, "security_txt: {contact: [\"mailto:security@app.test\"], expires: \""+expires+"\"}\n")
	resp, body := h.get("/.well-known/security.txt", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "Contact: mailto:security@app.test") || !strings.Contains(body, "Expires: "+expires) {
		t.Errorf("body:\n%s", body)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security.txt without the security headers: %v", resp.Header)
	}

	// A signed file is served byte for byte (and reads back as one).
	signed := "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nContact: mailto:security@app.test\nExpires: " + expires +
		"\n-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQ==\n-----END PGP SIGNATURE-----\n"
	path := filepath.Join(t.TempDir(), "security.txt")
	os.WriteFile(path, []byte(signed), 0o644)
	h = start(t, upstream(t).URL, "security_txt: {signed_file: "+path+"}\n")
	if resp, body := h.get("/.well-known/security.txt", nil); resp.StatusCode != 200 || body != signed {
		t.Errorf("signed file: %d\n%s", resp.StatusCode, body)
	}
	if p := securitytxt.Parse([]byte(signed)); !p.Signed || len(p.Problems) != 0 {
		t.Errorf("the signed file reads as %+v", p)
	}
}

// TestGateway_StartupAndShutdownEvents: the security log says when
// rampart started and stopped, for whoever watches it.
func TestGateway_StartupAndShutdownEvents(t *testing.T) {
	var h *harness
	t.Run("serve", func(t *testing.T) {
		h = start(t, upstream(t).URL, "")
		if resp, _ := h.get("/", nil); resp.StatusCode != http.StatusOK {
			t.Fatal(resp.Status)
		}
	})
	log := h.errlog.String()
	start := strings.Index(log, `"event.action":"sys_startup"`)
	stop := strings.Index(log, `"event.action":"sys_shutdown"`)
	if start < 0 || stop < start {
		t.Errorf("sys_startup then sys_shutdown expected:\n%s", log)
	}
}

// adminGet sends a GET to the gateway's admin listener.
func (h *harness) adminGet(path string) (*http.Response, string) {
	h.t.Helper()
	addr := h.gw.AdminAddr()
	if addr == nil {
		h.t.Fatal("no admin listener")
	}
	resp, err := http.Get("http://" + addr.String() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestAdmin_MetricsScrapedAndParsed: after traffic through the gateway
// (passed, rate-limited, refused by the host check, a probe) and a
// reload, /metrics on the admin listener parses with the Prometheus text
// parser and counts what happened, by configured route only: no label
// carries a path, a client or a user.
func TestAdmin_MetricsScrapedAndParsed(t *testing.T) {
	const limits = "ratelimit:\n  zones: {api: {rate: 1r/m}}\n  rules: [{prefix: /api/, limits: [{zone: api, burst: 1, nodelay: true}]}]\n"
	h := start(t, upstream(t).URL, limits)
	for _, p := range []string{"/api/a", "/api/b", "/api/c", "/secret-raw-path-x", "/.env"} {
		h.get(p, http.Header{"X-Forwarded-For": {"203.0.113.99"}})
	}
	h.rewrite(limits + "headers: {referrer_policy: origin}\n")
	if err := h.gw.ReloadConfig(context.Background(), h.src); err != nil {
		t.Fatal(err)
	}
	resp, body := h.adminGet("/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	sum := func(name string, match map[string]string) float64 {
		var n float64
		for _, m := range fams[name].GetMetric() {
			ok := true
			for k, v := range match {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				ok = ok && found
			}
			if ok {
				n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return n
	}
	for _, c := range []struct {
		name  string
		match map[string]string
		min   float64
	}{
		{"rampart_http_requests_total", map[string]string{"route": "/api", "code_class": "2xx"}, 2},
		{"rampart_http_requests_total", map[string]string{"route": "/api", "code_class": "4xx"}, 1},
		{"rampart_ratelimit_decisions_total", map[string]string{"zone": "api", "action": "reject"}, 1},
		{"rampart_security_events_total", map[string]string{"action": "excess_rate_limit_exceeded"}, 1},
		{"rampart_security_events_total", map[string]string{"action": "malicious_probe"}, 1},
		{"rampart_config_reloads_total", map[string]string{"outcome": "success"}, 1},
		{"rampart_build_info", nil, 1},
		{"rampart_tls_certificate_expiry_timestamp_seconds", map[string]string{"name": "app.test"}, 1},
	} {
		if got := sum(c.name, c.match); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.match, got, c.min)
		}
	}
	if _, ok := fams["rampart_http_request_duration_seconds"]; !ok {
		t.Error("no request duration histogram")
	}
	if n := len(fams["rampart_http1_lane_connections_total"].GetMetric()); n != 2 {
		t.Errorf("rampart_http1_lane_connections_total: %d series, want ended and handed_over", n)
	}
	for _, leak := range []string{"secret-raw-path-x", "203.0.113.99", "/.env"} {
		if strings.Contains(body, leak) {
			t.Errorf("a label carries %q", leak)
		}
	}
}

// TestAdmin_ReadyzFlipsWhenUpstreamStops: /readyz answers 200 while the
// application answers and 503, naming the upstream check, once it
// stops; /healthz stays 200 (the process is alive).
func TestAdmin_ReadyzFlipsWhenUpstreamStops(t *testing.T) {
	up := upstream(t)
	h := start(t, up.URL, "")
	if resp, body := h.adminGet("/readyz"); resp.StatusCode != 200 {
		t.Fatalf("/readyz with the upstream up: %d %s", resp.StatusCode, body)
	}
	up.Close()
	resp, body := h.adminGet("/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "upstream") {
		t.Errorf("/readyz with the upstream down: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "refused") {
		t.Errorf("/readyz tells the error itself: %s", body)
	}
	if resp, _ := h.adminGet("/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

// TestAdmin_DashboardAndBanAPI: the dashboard at the admin root shows the
// events and its strict policy; a ban made through the ban API closes the
// banned peer's next connection before TLS, and lifting it lets the peer
// back.
func TestAdmin_DashboardAndBanAPI(t *testing.T) {
	h := start(t, upstream(t).URL, "trusted_proxies: [127.0.0.1/32]\n")
	h.get("/.git/config", http.Header{"X-Forwarded-For": {"198.51.100.23"}})
	resp, body := h.adminGet("/")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("dashboard: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(body, "malicious_probe") || !strings.Contains(body, "198.51.100.23") || strings.Contains(body, "<script") {
		t.Errorf("dashboard without the probe event, or with a script")
	}

	api := "http://" + h.gw.AdminAddr().String() + ban.AdminPath
	req, _ := http.NewRequest("POST", api, strings.NewReader(`{"address":"127.0.0.2","for":"1h","reason":"test"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("ban API: %d %s", res.StatusCode, b)
	}
	if h.handshakeFrom("127.0.0.2") == nil {
		t.Error("a peer banned through the API completed a TLS handshake")
	}
	req, _ = http.NewRequest("DELETE", api+"?address=127.0.0.2", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("unban: %d", res.StatusCode)
	}
	if err := h.handshakeFrom("127.0.0.2"); err != nil {
		t.Errorf("after the ban was lifted: %v", err)
	}
}

// TestAdmin_ReadyzFlipsWhenRedisIsCut: with Redis configured, /readyz
// answers 503 naming redis once the link to it is cut, and 200 again
// once it is back.
func TestAdmin_ReadyzFlipsWhenRedisIsCut(t *testing.T) {
	c := newCluster(t)
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	in := c.start("redis://"+link.Addr+"/0", "")
	ready := func() (int, string) {
		resp, err := http.Get("http://" + in.gw.AdminAddr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("/readyz with Redis up: %d %s", code, body)
	}
	link.Down()
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "redis") {
		t.Errorf("/readyz with Redis cut: %d %s", code, body)
	}
	link.Up()
	within(t, 10*time.Second, "/readyz back to 200 with Redis back", func() bool {
		code, _ := ready()
		return code == 200
	})
}
