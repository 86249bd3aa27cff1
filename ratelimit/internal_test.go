package ratelimit

import (
	"testing"
)

// The zone never holds more states than its capacity, whatever the number
// of distinct keys: a million distinct clients cannot grow memory.
func TestZone_MillionDistinctKeysStayBounded(t *testing.T) {
	const capacity = 4096
	z := newMemZone(10000, capacity)
	now := int64(1)
	for i := uint64(0); i < 1_000_000; i++ {
		h := i*0x9E3779B97F4A7C15 + 1
		if _, busy, _ := z.lookup(h, now, 20000, true); busy {
			t.Fatalf("new key %d rejected", i)
		}
		if i%100_000 == 0 && z.Len() > capacity {
			t.Fatalf("after %d keys: %d states > capacity %d", i, z.Len(), capacity)
		}
		if i%1000 == 0 {
			now++
		}
	}
	if n := z.Len(); n > capacity || n < capacity-64 {
		t.Fatalf("%d states, capacity %d", n, capacity)
	}
	for i := range z.shards {
		s := &z.shards[i]
		if len(s.idx) != s.n || len(s.ents) != cap(s.ents) {
			t.Fatalf("shard %d: index %d, count %d", i, len(s.idx), s.n)
		}
	}
}

// An LRU built on indices is easy to corrupt; walk it after churn.
func TestZone_LRUConsistent(t *testing.T) {
	z := newMemZone(1000, 64)
	for i := uint64(0); i < 10000; i++ {
		z.lookup(i%97+1, int64(i*7), 5000, i%3 != 0)
	}
	s := &z.shards[0]
	n := 0
	prev := uint32(0)
	for i := s.head; i != 0; i = s.ents[i].next {
		if s.ents[i].prev != prev || s.idx[s.ents[i].hash] != i {
			t.Fatalf("broken link at %d", i)
		}
		prev = i
		n++
	}
	if n != s.n || prev != s.tail || n != len(s.idx) {
		t.Fatalf("list %d, count %d, index %d", n, s.n, len(s.idx))
	}
}

// A state idle for months at the largest rate must read as drained. rate*ms
// overflows int64 past about 106 days at 1000000r/s (1e9 milli-requests per
// second); wrapped, the product went negative and the idle client was
// rejected as if far over its burst, and its state could never expire.
func TestZone_LongIdleAtHighRateDoesNotOverflow(t *testing.T) {
	const rate = 1_000_000_000 // ParseRate("1000000r/s")
	z := newMemZone(rate, 64)
	z.lookup(1, 1, 0, true)
	later := int64(1) + 200*24*3600*1000 // 200 days
	if excess, busy, _ := z.lookup(1, later, 0, true); busy || excess != 0 {
		t.Fatalf("after 200 idle days: excess %d, busy %v; want 0, false", excess, busy)
	}
	// A state created unaccounted (last = now - neverMs) and left idle.
	z.lookup(2, later, 0, false)
	if excess, busy, _ := z.lookup(2, later+100*24*3600*1000, 0, true); busy || excess != 0 {
		t.Fatalf("unaccounted state after 100 idle days: excess %d, busy %v", excess, busy)
	}
	// The idle expiry frees drained states however long they were idle.
	z.lookup(3, later+400*24*3600*1000, 0, true)
	if n := z.Len(); n != 1 {
		t.Fatalf("%d states after a lookup 200 days later, want 1 (the idle ones expired)", n)
	}
}
