package ratelimit

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/rampart-dev/rampart/seclog"
)

// governing, Handler's test before the decision, finds a rule exactly
// when Check has a decision: a rule or a shadow rule matches (path and
// method), or the path has no canonical form while rules exist.
func TestGoverning_AgreesWithCheck(t *testing.T) {
	zones := map[string]Zone{"api": {Rate: PerSecond(10)}, "login": {Rate: PerSecond(1)}, "all": {Rate: PerSecond(100)}}
	for name, rules := range map[string][]Rule{
		"none": nil,
		"api and login": {
			{Prefix: "/api/", Limits: []Limit{{Zone: "api", Burst: 20, NoDelay: true}}},
			{Prefix: "/login", Methods: []string{"POST"}, Limits: []Limit{{Zone: "login", NoDelay: true}}},
		},
		"shadow only": {{Prefix: "/", Shadow: true, Limits: []Limit{{Zone: "all", NoDelay: true}}}},
	} {
		l, err := New(Options{Zones: zones, Rules: rules, Log: seclog.New(slog.New(slog.DiscardHandler))})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ method, target string }{
			{"GET", "/"}, {"GET", "/api/x"}, {"GET", "/API/x"}, {"POST", "/login"}, {"GET", "/login"},
			{"GET", "/static/app.js"}, {"GET", "/a/../api/x"}, {"GET", "/api%2fx"}, {"GET", "/%2e%2e/api/"},
		} {
			r := httptest.NewRequest(tc.method, "https://app.test"+tc.target, nil)
			_, want := l.Check(r)
			ru, sh, ambiguous := l.governing(r)
			if got := ru != nil || sh != nil || ambiguous; got != want {
				t.Errorf("%s: %s %s: governing found %v, Check has a decision: %v", name, tc.method, tc.target, got, want)
			}
		}
	}
}
