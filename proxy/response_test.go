package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestProxy_FingerprintHeadersRemoved: headers naming the server,
// framework and version never reach the client, whatever their case; the
// application's other headers do.
func TestProxy_FingerprintHeadersRemoved(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, n := range DefaultRemoveResponseHeaders() {
			h[n] = []string{"leak/1.0"}
		}
		h.Set("Server", "gunicorn")
		h.Set("X-Powered-By", "Flask/3.0")
		h["x-aspnet-version"] = []string{"4.0.30319"}
		h["X_Powered_By"] = []string{"PHP/8"} // not a match: responses are not merged by WSGI
		h.Set("X-Internal-Build", "abc123")
		h.Set("X-App", "kept")
		h.Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}))
	defer up.Close()
	p, _, _ := testProxy(t, up.URL, Options{RemoveResponseHeaders: []string{"x-internal-build"}})
	fe := front(t, p)
	res, err := fe.Client().Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for k, v := range res.Header {
		if v[0] == "leak/1.0" {
			t.Errorf("fingerprint header %s reached the client", k)
		}
	}
	for _, k := range []string{"Server", "X-Powered-By", "X-Aspnet-Version", "X-Internal-Build"} {
		if v := res.Header.Values(k); len(v) != 0 {
			t.Errorf("%s reached the client: %q", k, v)
		}
	}
	if res.Header.Get("X-App") != "kept" || res.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("application headers lost: %v", res.Header)
	}
}

// TestProxy_NoServerHeader: rampart adds no Server header of its own, on
// success or on error pages.
func TestProxy_NoServerHeader(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, p)
	res, err := fe.Client().Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if v, ok := res.Header["Server"]; ok {
		t.Errorf("Server: %q", v)
	}
}

// TestProxy_HopByHopResponseHeaders: hop-by-hop headers of the upstream
// response, including those it names in Connection, are not passed on.
func TestProxy_HopByHopResponseHeaders(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Upstream-Internal")
		w.Header().Set("X-Upstream-Internal", "10.1.2.3")
		w.Header().Set("Keep-Alive", "timeout=99")
		w.Header().Set("Proxy-Authenticate", "Basic")
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, p)
	res, err := fe.Client().Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, k := range []string{"X-Upstream-Internal", "Keep-Alive", "Proxy-Authenticate"} {
		if v := res.Header.Values(k); len(v) != 0 {
			t.Errorf("hop-by-hop %s reached the client: %q", k, v)
		}
	}
}
