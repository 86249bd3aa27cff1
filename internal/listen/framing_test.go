package listen

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rampart-dev/rampart/safe"
)

// Host values that a split-host-port check accepts for a configured name
// but that an application would turn into a URL for another host.
func TestStrictFraming_HostPortInjection(t *testing.T) {
	for host, want := range map[string]bool{
		"":                         true,
		"app.example":              true,
		"APP.example.":             true,
		"app.example:8443":         true,
		"app.example:":             true,
		"127.0.0.1:443":            true,
		"[::1]:443":                true,
		"[::1]":                    true,
		"app.example:@evil.test":   false,
		"app.example:80@evil.test": false,
		"evil.test@app.example":    false,
		"app.example:evil":         false,
		"app.example:1:2":          false,
		"app.example:123456":       false,
		"[app.example]":            false,
		"[::1%eth0]":               false,
		"[::1]evil":                false,
		"[::1":                     false,
		"app.example/evil":         false,
		"app.example\\evil":        false,
		"app.example%2f":           false,
		"app example":              false,
	} {
		if got := validHost(host); got != want {
			t.Errorf("validHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// Requests whose framing net/http resolved but a proxy in front might not
// (Transfer-Encoding over HTTP/1.1, anything over HTTP/1.0) end their
// connection; others keep it.
func TestStrictFraming_CloseAfterAmbiguousFraming(t *testing.T) {
	h := strictFraming(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), http.HandlerFunc(plainRejection))
	for _, tc := range []struct {
		name      string
		minor     int
		te        []string
		wantClose bool
	}{
		{"HTTP/1.1 chunked", 1, []string{"chunked"}, true},
		{"HTTP/1.0", 0, nil, true},
		{"HTTP/1.1 plain", 1, nil, false},
	} {
		r := httptest.NewRequest("POST", "https://app.example/", nil)
		r.ProtoMinor, r.TransferEncoding = tc.minor, tc.te
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("Connection") == "close"; got != tc.wantClose {
			t.Errorf("%s: Connection close = %v, want %v", tc.name, got, tc.wantClose)
		}
	}
}

// A lower-case method slips past rules written for the upper-case one
// while frameworks that upper-case it serve it as such; a method with a
// space hides a request line.
func TestStrictFraming_MethodCaseAndSyntax(t *testing.T) {
	for m, want := range map[string]bool{
		"GET": true, "POST": true, "PROPFIND": true, "M-SEARCH": true,
		"post": false, "Post": false, "GET /admin": false, "": false, "G\u202eET": false,
	} {
		if got := safe.Method(m); got != want {
			t.Errorf("safe.Method(%q) = %v, want %v", m, got, want)
		}
	}
}
