package gateway

import (
	"net/http"
	"net/http/httptest"
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
