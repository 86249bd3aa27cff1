package metrics_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/rampart-dev/rampart/metrics"
)

// FuzzRouteByPrefix: whatever path a client sends, the route is one of the
// configured prefixes (as matched) or "other", never the path itself.
func FuzzRouteByPrefix(f *testing.F) {
	for _, s := range []string{"/api/x", "/API/..%2f/admin", "//api", "/%2e%2e/api", "/api;x", "/static/\x00", "/caf%C3%A9", "*"} {
		f.Add(s)
	}
	route, err := metrics.RouteByPrefix([]string{"/api/", "/static", "/café"})
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[string]bool{"/api": true, "/static": true, "/café": true, metrics.Other: true}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, RequestURI: raw, Header: http.Header{}}
		if got := route(r); !allowed[got] {
			t.Fatalf("%q: route %q", raw, got)
		}
	})
}
