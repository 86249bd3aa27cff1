package ratelimit_test

import (
	"net/http"
	"testing"

	"github.com/rampart-dev/rampart/ratelimit"
)

// EachZone, called from OnDecision, counts what Stats counts, zone by
// zone: passes, delays and the one rejecting zone.
func TestDecision_EachZoneAgreesWithStats(t *testing.T) {
	counts := map[string]map[ratelimit.Action]uint64{}
	opts := ratelimit.Options{
		Zones: map[string]ratelimit.Zone{
			"per_ip": {Rate: ratelimit.PerSecond(1), Size: 1 << 20},
			"global": {Key: "constant", Rate: ratelimit.PerSecond(1000), Size: 1 << 20},
		},
		Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{
			{Zone: "per_ip", Burst: 3, NoDelay: true},
			{Zone: "global", Burst: 30, Delay: 4},
		}}},
		OnDecision: func(_ *http.Request, d ratelimit.Decision) {
			d.EachZone(func(zone string, a ratelimit.Action) {
				if counts[zone] == nil {
					counts[zone] = map[ratelimit.Action]uint64{}
				}
				counts[zone][a]++
			})
		},
	}
	f := newFixture(t, opts)
	for i := range 20 {
		ip := "192.0.2.1"
		if i%2 == 1 {
			ip = "192.0.2.2"
		}
		f.do("GET", "/x", ip)
	}
	for _, zone := range []string{"per_ip", "global"} {
		st, _ := f.l.Stats(zone)
		c := counts[zone]
		if c[ratelimit.Pass] != st.Passed || c[ratelimit.Delay] != st.Delayed || c[ratelimit.Reject] != st.Rejected {
			t.Errorf("%s: EachZone %v, Stats %+v", zone, c, st)
		}
		if st.Passed+st.Delayed+st.Rejected == 0 {
			t.Errorf("%s: nothing counted", zone)
		}
	}
	if counts["per_ip"][ratelimit.Reject] == 0 || counts["global"][ratelimit.Delay] == 0 {
		t.Errorf("the test did not reach a rejection and a delay: %v", counts)
	}
}
