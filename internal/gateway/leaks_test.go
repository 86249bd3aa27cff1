package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// An application redirecting to its own address (an absolute URL built
// from its bind address or a configured base URL, or from the Host it
// received under preserve_host: false) sends the client to https://app.test
// through the gateway, never to 127.0.0.1:PORT.
func TestAttack_UpstreamRedirectDisclosesInternalAddress(t *testing.T) {
	var self string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, self+"/login?next=%2Fadmin", http.StatusFound)
	}))
	defer up.Close()
	self = up.URL
	h := start(t, up.URL, "")
	resp, _ := h.get("/admin", nil)
	if loc := resp.Header.Get("Location"); loc != "https://app.test/login?next=%2Fadmin" {
		t.Errorf("Location %q, want https://app.test/login?next=%%2Fadmin", loc)
	}
}

// An application left in debug mode (here Django's DEBUG = True page, as
// captured from Django) fails: through the whole gateway the client gets
// the generic 500 with every security header and the request id the
// access log records, and nothing of the page; the security log records
// upstream_debug_page.
func TestAttack_UpstreamDebugPageReachesClient(t *testing.T) {
	raw, err := os.ReadFile("../../proxy/testdata/debugpages/django3_technical500.http")
	if err != nil {
		t.Fatal(err)
	}
	_, page, _ := strings.Cut(string(raw), "\r\n\r\n")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, page)
	}))
	defer up.Close()
	h := start(t, up.URL, "")
	resp, body := h.get("/boom", nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	assertSecurityHeadersOnce(t, "replaced 500", resp.Header)
	id := resp.Header.Get("X-Request-Id")
	if id == "" || !strings.Contains(body, id) {
		t.Errorf("request id %q not on the page: %s", id, body)
	}
	for _, m := range []string{"Django", "Traceback", "SECRET_KEY", "ZeroDivisionError", "/tmp/", "NOARCHIVE"} {
		if strings.Contains(body, m) {
			t.Errorf("%q reached the client", m)
		}
	}
	if log := h.errlog.String(); !strings.Contains(log, `"event.action":"upstream_debug_page"`) || !strings.Contains(log, `"request_id":"`+id+`"`) {
		t.Errorf("no security event with the request id: %s", log)
	}
}
