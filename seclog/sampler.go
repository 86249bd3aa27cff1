package seclog

import (
	"sync"
	"time"
)

// Sampler bounds how many events per key are logged in each interval, so a
// flood (a client hammering a rate limit, a password-spraying bot) produces a
// bounded number of records instead of one per request. The first Burst
// events of a key in an interval are logged; the rest are counted, and the
// count is reported with the next event that is logged.
//
// The zero value logs everything. Memory is bounded by MaxKeys: when full,
// the table is reset at the next interval boundary (losing only counts).
type Sampler struct {
	Burst    int           // events logged per key per interval; 0 means no sampling
	Interval time.Duration // 0 means one second
	MaxKeys  int           // 0 means 10000

	mu    sync.Mutex
	start time.Time
	seen  map[string]*sampleState
}

type sampleState struct {
	n          int
	suppressed int
}

// Allow reports whether the event for key should be logged now, and how many
// events of that key were suppressed since the last one logged.
func (s *Sampler) Allow(key string) (ok bool, suppressed int) {
	if s == nil || s.Burst <= 0 {
		return true, 0
	}
	interval := s.Interval
	if interval <= 0 {
		interval = time.Second
	}
	maxKeys := s.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 10000
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil || now.Sub(s.start) >= interval {
		// Carry suppressed counts over, so they are reported once.
		old := s.seen
		s.seen = make(map[string]*sampleState, len(old))
		for k, st := range old {
			if st.suppressed > 0 && len(s.seen) < maxKeys {
				s.seen[k] = &sampleState{suppressed: st.suppressed}
			}
		}
		s.start = now
	}
	st := s.seen[key]
	if st == nil {
		if len(s.seen) >= maxKeys {
			return false, 0
		}
		st = &sampleState{}
		s.seen[key] = st
	}
	if st.n < s.Burst {
		st.n++
		sup := st.suppressed
		st.suppressed = 0
		return true, sup
	}
	st.suppressed++
	return false, 0
}
