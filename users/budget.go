package users

import (
	"context"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// HashingBudgetKiB is the memory, in KiB, that all the argon2id hashes
// computing at one moment in this process may use together: room for
// max(2, GOMAXPROCS) hashes of the default 19 MiB (38 MiB with 2 cores).
// More hashes in flight than cores would not finish sooner, only hold more
// memory. It is fixed when the process starts (GOMAXPROCS then).
func HashingBudgetKiB() int64 { return hashing.budget }

// hashing is the process-wide budget shared by every hash and
// verification. A process-wide value, not a File's: two Files (or a File
// and the command line) in one process still share one machine's memory.
var hashing = newBudget(int64(max(2, runtime.GOMAXPROCS(0))) * DefaultMemoryKiB)

// budget is a weighted semaphore of KiB. Waiters are served in order
// (semaphore.Weighted is FIFO), so a stream of small hashes cannot starve
// a large one.
type budget struct {
	budget int64
	sem    *semaphore.Weighted
	// inUse and peak count the KiB held by hashes computing now, and the
	// most ever held at once; computed and totalKiB count the hashes
	// computed and the memory parameters they had. Tests read them to
	// prove the bound and the cost of each path.
	inUse, peak, computed, totalKiB atomic.Int64
}

func newBudget(kib int64) *budget {
	return &budget{budget: kib, sem: semaphore.NewWeighted(kib)}
}

// acquire waits until kib of the budget are free, or ctx is done. A hash
// larger than the whole budget takes all of it and runs alone.
func (b *budget) acquire(ctx context.Context, kib int64) (release func(), err error) {
	w := min(kib, b.budget)
	if err := b.sem.Acquire(ctx, w); err != nil {
		return nil, err
	}
	b.computed.Add(1)
	b.totalKiB.Add(kib)
	n := b.inUse.Add(w)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() {
		b.inUse.Add(-w)
		b.sem.Release(w)
	}, nil
}
