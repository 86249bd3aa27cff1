// Package gcfloor gives the Go garbage collector a minimum heap goal.
//
// A gateway's live heap is small (a few MiB: configuration, rate-limit
// zones, per-connection buffers) while every request allocates some KiB of
// short-lived garbage (the request, its headers, the upstream response).
// With GOGC=100 the collector then runs every few MiB of allocation: tens
// of cycles a second under load, each paying its fixed costs (stopping the
// world twice, scanning every goroutine stack, write barriers while it
// marks). Measured with bench/ on 2 CPUs, collections took about 5% of
// rampart's CPU time at ~15 000 requests a second.
//
// Start raises GOGC just enough that the heap goal is at least Floor,
// re-evaluated after every collection; once the live heap is large enough
// that GOGC=100 already gives a goal above Floor, GOGC stays 100. So:
//
//   - in the steady state the heap goal is max(Floor, 2 × live heap): the
//     extra memory is bounded by Floor, whatever the load or the number of
//     connections, and an attacker cannot amplify it;
//   - when the live heap jumps within one cycle (thousands of connections
//     opened at once), that one cycle's goal can exceed it, by at most a
//     factor Floor/(previous live heap), before the next collection sets
//     GOGC back from the new live heap;
//   - with a large live heap nothing changes.
//
// It is the effect of the old "heap ballast" trick without a fake
// allocation that would distort memory metrics. An operator who sets GOGC
// in the environment keeps exactly that setting: Start does nothing.
// GOMEMLIMIT still applies on top (it can only lower the goal).
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultFloor is the minimum heap goal rampart runs with: 32 MiB, about
// what one nginx worker with its shared memory zones occupies, and small
// next to any machine that runs a gateway.
const DefaultFloor = 32 << 20

// basePercent is the GOGC value used once the live heap is large.
const basePercent = 100

type tuner struct {
	floor   uint64
	mu      sync.Mutex
	percent int
	stopped bool
	sample  []metrics.Sample
}

// Start keeps the heap goal at or above floor bytes until the returned
// stop is called (stop restores GOGC=100). It does nothing, and stop does
// nothing, when the GOGC environment variable is set or floor is 0.
func Start(floor uint64) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set || floor == 0 {
		return func() {}
	}
	t := &tuner{floor: floor, percent: basePercent,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		if t.percent != basePercent {
			debug.SetGCPercent(basePercent)
			t.percent = basePercent
		}
	}
}

// sentinel is allocated once per cycle; its cleanup runs after the
// collection that found it unreachable. It is larger than the tiny
// allocator's 16 bytes so that it is an object of its own.
type sentinel struct{ _ [32]byte }

func (t *tuner) arm() {
	s := new(sentinel)
	runtime.AddCleanup(s, func(t *tuner) {
		if t.tune() {
			t.arm()
		}
	}, t)
}

// tune sets GOGC from the live heap; it reports false once stopped.
func (t *tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := percentFor(live, t.floor)
	// Small changes are not worth a call: keep within 10% of the value.
	if p != t.percent && (p*10 < t.percent*9 || p*10 > t.percent*11 || p == basePercent) {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// percentFor is the GOGC that makes the goal live*(1+GOGC/100) reach
// floor, and never less than basePercent.
func percentFor(live, floor uint64) int {
	const maxPercent = 10000 // with an almost empty heap; the goal is floor anyway
	if live == 0 {
		return maxPercent
	}
	if live+live*basePercent/100 >= floor {
		return basePercent
	}
	p := (floor - live) * 100 / live
	if p > maxPercent {
		return maxPercent
	}
	if p < basePercent {
		return basePercent
	}
	return int(p)
}
