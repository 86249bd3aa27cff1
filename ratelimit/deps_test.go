package ratelimit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The library must stay importable alone: no Redis client, no Prometheus,
// no gateway internals. ratelimit/redis carries the Redis dependency.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/redis/", "github.com/prometheus/", "github.com/rampart-dev/rampart/internal/"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("ratelimit depends on %s", dep)
			}
		}
	}
}
