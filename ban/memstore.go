package ban

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// MemoryStore is a Store in this process's memory: bans are lost on
// restart and not shared. Entries past their Forget time and counters of
// windows long over are dropped as new ones are written.
type MemoryStore struct {
	mu       sync.Mutex
	entries  map[netip.Prefix]Entry
	counters map[string]memCounter
	subs     map[chan Change]struct{}
	writes   int
}

type memCounter struct {
	n      int
	start  time.Time
	window time.Duration
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{entries: map[netip.Prefix]Entry{}, counters: map[string]memCounter{}, subs: map[chan Change]struct{}{}}
}

// sweep drops what is over, every 1024 writes; s.mu is held.
func (s *MemoryStore) sweep(now time.Time) {
	if s.writes++; s.writes%1024 != 0 {
		return
	}
	for k, c := range s.counters {
		if now.Sub(c.start) >= c.window {
			delete(s.counters, k)
		}
	}
	for p, e := range s.entries {
		if !now.Before(e.Forget) {
			delete(s.entries, p)
		}
	}
}

// Fail implements Store.
func (s *MemoryStore) Fail(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	c := s.counters[key]
	if now.Sub(c.start) >= c.window {
		c = memCounter{start: now, window: window}
	}
	c.n++
	s.counters[key] = c
	return c.n, nil
}

// Reset implements Store.
func (s *MemoryStore) Reset(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counters, key)
	return nil
}

// Ban implements Store.
func (s *MemoryStore) Ban(ctx context.Context, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(time.Now())
	s.entries[e.Prefix] = e
	s.notify(Change{Entry: e})
	return nil
}

// Unban implements Store.
func (s *MemoryStore) Unban(ctx context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, p)
	s.notify(Change{Entry: Entry{Prefix: p}, Removed: true})
	return nil
}

func (s *MemoryStore) notify(c Change) {
	for ch := range s.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// Bans implements Store.
func (s *MemoryStore) Bans(ctx context.Context, now time.Time) ([]Entry, <-chan Change, error) {
	ch := make(chan Change, 256)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[ch] = struct{}{}
	var list []Entry
	for _, e := range s.entries {
		if now.Before(e.Forget) {
			list = append(list, e)
		}
	}
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
		close(ch)
	}()
	return list, ch, nil
}
