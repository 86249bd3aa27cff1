package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 32 * mib, 10000},
		{1, 32 * mib, 10000},        // capped
		{4 * mib, 32 * mib, 700},    // 4 MiB × 8 = 32 MiB
		{8 * mib, 32 * mib, 300},    // 8 MiB × 4
		{16 * mib, 32 * mib, 100},   // GOGC=100 reaches the floor
		{20 * mib, 32 * mib, 100},   // never below 100
		{1024 * mib, 32 * mib, 100}, // large heap: unchanged
		{12 * mib, 32 * mib, 166},   // rounds down: goal never above the floor
	} {
		if got := percentFor(c.live, c.floor); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

// gcPercent reads the current GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestStartRaisesAndStopRestores(t *testing.T) {
	t.Setenv("GOGC", "") // registers a restore of the variable
	unsetenv(t)
	stop := Start(1 << 30) // far above this test binary's live heap
	runtime.GC()
	if p := gcPercent(); p <= 100 {
		stop()
		t.Fatalf("GOGC = %d with a 1 GiB floor and a small heap, want > 100", p)
	}
	stop()
	if p := gcPercent(); p != 100 {
		t.Errorf("GOGC = %d after stop, want 100", p)
	}
	runtime.GC()
	runtime.GC()
	if p := gcPercent(); p != 100 {
		t.Errorf("GOGC = %d after stop and collections, want 100", p)
	}
}

// An operator's GOGC is kept as set.
func TestStartKeepsOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	stop := Start(1 << 30)
	defer stop()
	runtime.GC()
	if p := gcPercent(); p != 100 {
		t.Errorf("GOGC = %d, want the environment's 100 untouched", p)
	}
}

func unsetenv(t *testing.T) {
	t.Helper()
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
}
