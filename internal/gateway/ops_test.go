package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"
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
