package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rampart-dev/rampart/metrics"
)

// BenchmarkHandler is the cost Handler adds to a request: the route
// decision over five prefixes, the status capture and the two
// observations.
func BenchmarkHandler(b *testing.B) {
	route, err := metrics.RouteByPrefix([]string{"/", "/api/", "/login", "/static/", "/admin"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := metrics.New(metrics.Options{Route: route})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	r := httptest.NewRequest("GET", "/api/users/42", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
