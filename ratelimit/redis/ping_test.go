package redis_test

import (
	"context"
	"testing"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/ratelimit/redis"
)

// Ping answers while Redis does, and fails once the link to it is cut.
func TestStore_Ping(t *testing.T) {
	addr := testenv.Redis(t)
	link := testenv.NewProxy(t, addr)
	st := newStore(t, redis.Options{URL: "redis://" + link.Addr, Prefix: prefix(t)})
	if err := st.Ping(context.Background()); err != nil {
		t.Fatalf("up: %v", err)
	}
	link.Down()
	if err := st.Ping(context.Background()); err == nil {
		t.Fatal("down: Ping succeeded")
	}
}
