package auth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkLogin measures a failed login for a user that exists (wrong
// password) and for one that does not: the two must cost the same (one
// argon2id hash each), or the time would tell which names exist. The
// back-off is kept out of the way (each attempt from a new address).
func BenchmarkLogin(b *testing.B) {
	e := newEnv(b)
	for _, c := range []struct{ name, user string }{{"wrong_password", "alice"}, {"unknown_user", "nobody-here"}} {
		b.Run(c.name, func(b *testing.B) {
			form := url.Values{"username": {c.user}, "password": {"not the password"}}.Encode()
			i := 0
			for b.Loop() {
				i++
				r := httptest.NewRequest("POST", origin+LoginPath, strings.NewReader(form))
				r.RemoteAddr = netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}).String() + ":1"
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized {
					b.Fatalf("%d", w.Code)
				}
			}
		})
	}
}

// BenchmarkSignedInRequest is the request path of a signed-in user: the
// cookie verified (cached after the first request), the rule decided, the
// identity headers and the assertion (cached) set, rampart's cookie
// stripped. The application is a no-op.
func BenchmarkSignedInRequest(b *testing.B) {
	e := newEnv(b)
	resp := e.login("alice", alicePassword)
	access := cookies(resp)[SessionCookie].Value
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := e.gate.Identify(e.gate.Handler(noop))
	r := httptest.NewRequest("GET", origin+"/app/page", nil)
	r.RemoteAddr = "127.0.0.9:40000"
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header = http.Header{"Cookie": {"theme=dark; " + SessionCookie + "=" + access}}
		h.ServeHTTP(w, r)
	}
}
