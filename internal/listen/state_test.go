package listen

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/rampart-dev/rampart/internal/reqstate"
)

// The lane's requests and the HTTP/2 server's come with their State
// (internal/reqstate), one of their own each, so that the gateway's first
// stage records in it without copying the request; net/http's requests
// (a body, handed over) come without one, and reqstate.Take makes it.
func TestServer_RequestsCarryTheirState(t *testing.T) {
	type saw struct {
		s     *reqstate.State
		fresh bool // no field set when the handler got it
	}
	seen := make(chan saw, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := reqstate.From(r.Context())
		fresh := s != nil && s.ID == ""
		if s != nil {
			s.ID = "set by the handler" // must not reach the next request
		}
		seen <- saw{s, fresh}
		io.WriteString(w, "ok")
	})
	addr, client, _ := atkStart(t, h, Options{})
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: client, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	h2 := h2TestClient(client)
	for _, tc := range []struct {
		name      string
		c         *http.Client
		method    string
		wantState bool
	}{
		{"HTTP/1.1 GET (the lane)", h1, "GET", true},
		{"HTTP/1.1 GET again", h1, "GET", true},
		{"HTTP/1.1 POST (net/http)", h1, "POST", false},
		{"HTTP/2 GET", h2, "GET", true},
		{"HTTP/2 GET again", h2, "GET", true},
	} {
		req, _ := http.NewRequest(tc.method, "https://"+addr+"/", nil)
		res, err := tc.c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		got := <-seen
		if (got.s != nil) != tc.wantState {
			t.Errorf("%s: State %v, want one: %v", tc.name, got.s, tc.wantState)
		}
		if got.s != nil && !got.fresh {
			t.Errorf("%s: the State came with the ID an earlier request set", tc.name)
		}
	}
}
