package ipfilter_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/rampart-dev/rampart/ipfilter"
)

// /admin only from the office network, and one address refused
// everywhere.
func Example() {
	f, err := ipfilter.New(ipfilter.Options{
		Deny:   []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32")},
		Routes: []ipfilter.Route{{Prefix: "/admin", Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := f.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, c := range []struct{ peer, path string }{{"10.1.2.3:1", "/admin"}, {"192.0.2.1:1", "/admin"}, {"192.0.2.1:1", "/"}, {"203.0.113.9:1", "/"}} {
		r := httptest.NewRequest("GET", c.path, nil)
		r.RemoteAddr = c.peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(c.peer, c.path, w.Code)
	}
	// Output:
	// 10.1.2.3:1 /admin 200
	// 192.0.2.1:1 /admin 403
	// 192.0.2.1:1 / 200
	// 203.0.113.9:1 / 403
}
