package admin

import (
	"strings"
	"testing"
)

// FuzzAccess feeds the access rules hostile Authorization and Host values:
// nothing panics, only the exact token admits with a token, and only a
// loopback Host admits without one.
func FuzzAccess(f *testing.F) {
	for _, seed := range []string{"Bearer " + string(token), "Bearer", "bearer  x", "Basic abc", "", "\x00", "Bearer " + string(token) + "\x00"} {
		f.Add(seed, "127.0.0.1:9180")
	}
	f.Add("", "localhost")
	f.Add("", "[::1]:80")
	f.Add("", "127.0.0.1.example")
	withToken, err := New(Options{Listen: "0.0.0.0:9180", Token: token})
	if err != nil {
		f.Fatal(err)
	}
	without, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth, host string) {
		w := do(withToken, "GET", "/readyz", "192.0.2.1:1", host, auth)
		scheme, tok, _ := strings.Cut(auth, " ")
		exact := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) == string(token)
		if (w.Code == 200) != exact {
			t.Fatalf("auth %q: %d", auth, w.Code)
		}
		w = do(without, "GET", "/healthz", "127.0.0.1:1", host, auth)
		if w.Code == 200 && !loopbackHost(host) {
			t.Fatalf("host %q admitted", host)
		}
	})
}
