package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// Two rampart instances behind a load balancer share one zone through the
// real redis-server: a client alternating between them gets one combined
// burst, not one per instance.
func TestGateway_TwoInstancesShareOneLimit(t *testing.T) {
	addr := testenv.Redis(t)
	zone := fmt.Sprintf("shared%d", time.Now().UnixNano())
	cfg := fmt.Sprintf(`ratelimit:
  zones:
    %s: {rate: 1r/m, backend: "redis://%s/0", on_backend_error: fail_closed}
  rules:
    - prefix: /api/
      limits: [{zone: %s, burst: 5, nodelay: true}]
`, zone, addr, zone)
	up := upstream(t).URL
	a, b := start(t, up, cfg), start(t, up, cfg)
	passed := 0
	for i := range 12 {
		h := a
		if i%2 == 1 {
			h = b
		}
		resp, _ := h.get("/api/x", nil)
		switch resp.StatusCode {
		case 200:
			passed++
		case 429:
		default:
			t.Fatalf("request %d: status %d (%s)", i, resp.StatusCode, h.errlog.String())
		}
	}
	if passed != 6 {
		t.Errorf("%d requests passed across two instances, want 6 (burst 5 + 1, shared)", passed)
	}
}

// A shared zone whose Redis is unreachable obeys its policy: fail_closed
// rejects rather than letting traffic through unlimited.
func TestGateway_SharedZoneRedisDownFailsClosed(t *testing.T) {
	cfg := `ratelimit:
  zones:
    z: {rate: 10r/s, backend: "redis://127.0.0.1:1/0", on_backend_error: fail_closed}
  rules:
    - prefix: /
      limits: [{zone: z, burst: 100, nodelay: true}]
`
	h := start(t, upstream(t).URL, cfg)
	resp, _ := h.get("/", nil)
	if resp.StatusCode == 200 {
		t.Errorf("Redis down with fail_closed: got 200")
	}
}
