package users

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A login flood: many more verifications at once than the budget admits.
// The memory held by hashes computing at the same moment, counted inside
// the budget where argon2 runs, never passes max(2, GOMAXPROCS) × 19 MiB.
func TestLoginFloodStaysWithinHashingBudget(t *testing.T) {
	want := int64(max(2, runtime.GOMAXPROCS(0))) * DefaultMemoryKiB
	if HashingBudgetKiB() != want {
		t.Fatalf("HashingBudgetKiB = %d, want %d", HashingBudgetKiB(), want)
	}
	hashing.peak.Store(0)
	n := 4 * int(want/DefaultMemoryKiB)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := Verify(refDefault, "wrong password")
			if ok || err != nil {
				errs <- errors.New("unexpected result")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p := hashing.peak.Load(); p > want || p < DefaultMemoryKiB {
		t.Errorf("peak memory of hashes in flight = %d KiB, want 1 to %d", p, want)
	}
	if hashing.inUse.Load() != 0 {
		t.Errorf("%d KiB still held after every verification returned", hashing.inUse.Load())
	}
}

// A hash larger than the whole budget (argon2-cffi's 64 MiB, with 2 cores)
// takes all of it and runs alone: it neither waits forever nor runs beside
// others.
func TestLargeHashRunsAlone(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	release, err := b.acquire(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	if b.inUse.Load() != 100 {
		t.Fatalf("a hash above the budget holds %d, want the whole budget 100", b.inUse.Load())
	}
	got := make(chan error, 1)
	go func() {
		r, err := b.acquire(ctx, 1)
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case <-got:
		t.Fatal("a second hash ran beside the one holding the whole budget")
	case <-time.After(50 * time.Millisecond):
		// Not a timing assertion: only that it has not run yet; the
		// bounded wait below is for it to run once released.
	}
	release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting hash never ran after the budget was released")
	}
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	b := newBudget(10)
	release, _ := b.acquire(context.Background(), 10)
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, 5)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("acquire = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not end with its context")
	}
	if b.inUse.Load() != 10 {
		t.Errorf("inUse = %d after a cancelled wait, want 10", b.inUse.Load())
	}
}
