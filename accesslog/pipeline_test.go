package accesslog

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/requestid"
)

// The seed logged request.remote_addr behind nginx: the proxy's address.
// In the gateway's order (request id → client address → access log) the
// record names the client, ignores what the client claims, and carries the
// id the response announces.
func TestPipeline_ProxyAddressAndSpoofedXFFNotLogged(t *testing.T) {
	res, err := clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := requestid.New(requestid.Options{TrustIncoming: res.TrustedPeer})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	h := ids.Handler(res.Handler(l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))))

	cases := []struct {
		name, peer, xff, wantIP string
	}{
		{"BehindTrustedProxy", "127.0.0.1:4000", "203.0.113.66, 198.51.100.7", "198.51.100.7"},
		{"SpoofFromUntrustedClient", "198.51.100.9:4000", "127.0.0.1", "198.51.100.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf.Reset()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			r.Header.Set("X-Forwarded-For", c.xff)
			r.Header.Set("X-Request-ID", "client-chosen")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			m := decode(t, buf.String())
			if m["client_ip"] != c.wantIP {
				t.Errorf("client_ip = %v, want %s", m["client_ip"], c.wantIP)
			}
			id := rec.Header().Get("X-Request-ID")
			if m["request_id"] != id || id == "" {
				t.Errorf("request_id = %v, response header %q", m["request_id"], id)
			}
			if c.name == "SpoofFromUntrustedClient" && id == "client-chosen" {
				t.Error("untrusted client chose its request id")
			}
		})
	}
}
