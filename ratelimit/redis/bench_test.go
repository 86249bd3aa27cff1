package redis_test

import (
	"context"
	"testing"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/ratelimit/redis"
)

// BenchmarkTake is one shared decision (one EVALSHA round trip to a local
// Redis) for an existing key.
func BenchmarkTake(b *testing.B) {
	addr := testenv.Redis(b)
	st, err := redis.New(redis.Options{URL: "redis://" + addr, Prefix: "rampart-bench:"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	lims := []ratelimit.SharedLimit{{Zone: "api", Key: "198.51.100.7/32", Rate: 1_000_000, Burst: 20000, Last: true}}
	ex := make([]int64, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Take(ctx, lims, ex); err != nil {
			b.Fatal(err)
		}
	}
}
