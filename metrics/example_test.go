package metrics_test

import (
	"log"
	"net/http"

	"github.com/rampart-dev/rampart/metrics"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/reqpath"
)

// Metrics in front of an application, with routes named by the prefixes of
// its rules and the rate limiter's decisions counted per zone; /metrics
// on a listener of its own, loopback only.
func Example() {
	route, err := metrics.RouteByPrefix([]string{"/api/", "/login"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := metrics.New(metrics.Options{Route: route, Version: "1.0.0"})
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Options{
		Zones:      map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10)}},
		Rules:      []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 20, NoDelay: true}}}},
		OnDecision: m.OnRateLimitDecision,
	})
	if err != nil {
		log.Fatal(err)
	}
	paths, err := reqpath.New(reqpath.Options{})
	if err != nil {
		log.Fatal(err)
	}
	app := http.NotFoundHandler()
	// The path is decided first, so routes match the canonical path.
	public := paths.Decide(m.Handler(reqpath.Enforce(limiter.Handler(app))))
	_ = public // http.ListenAndServeTLS(":443", "cert.pem", "key.pem", public)

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", m.HTTPHandler())
	_ = admin // http.ListenAndServe("127.0.0.1:9180", admin)
}
