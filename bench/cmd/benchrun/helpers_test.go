package main

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
)

// startFunc is how the harness starts a target (startNginx, startCaddy).
type startFunc func(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error)

// startTarget starts a target as the harness does, in a fresh directory
// with a certificate for localhost, in front of the harness's upstream;
// both stop when the test ends.
func startTarget(t *testing.T, start startFunc, c config) (tg *target, dir string, pair testcert.Pair) {
	t.Helper()
	dir = t.TempDir()
	pair, err := testcert.Write(dir, time.Hour, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopUpstream)
	tg, err = start(t.Context(), c, dir, upstream, pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.stop)
	return tg, dir, pair
}
