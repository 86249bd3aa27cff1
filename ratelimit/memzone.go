package ratelimit

import (
	"math"
	"sync"
)

// StateBytes is the memory nginx charges for one state on 64-bit systems
// (rbtree node, LRU links, excess, last, key): a zone of size S holds S/128
// states. rampart sizes zones the same way, so "size: 10m" holds the same
// 81 920 keys as nginx's "zone=api:10m", while its own state is smaller
// (see entryBytes): the configured size is an upper bound on memory, never
// exceeded whatever the number of distinct keys.
const StateBytes = 128

// idleMs is how long a state must stay unused before nginx may free it
// without being forced to (ngx_http_limit_req_expire).
const idleMs = 60_000

// neverMs stands for nginx's "last = 0" on a state created while checking a
// zone that is not the rule's last: that state looks idle since the clock's
// origin, so when it is accounted it decays to 0 (the first request is free
// in every zone) and the idle expiry may free it at once if the request was
// rejected by a later zone. 2^32 ms (~50 days) keeps rate*ms within int64
// for rates up to ParseRate's maximum.
const neverMs = 1 << 32

// entry is one state: 32 bytes. Keys are not stored, only their 64-bit
// hash under a per-zone random seed (hash/maphash): two keys share a state
// only on a hash collision, which an attacker cannot aim for without the
// seed, and whose odds for a full 10m zone (~8e4 keys) are about 2^-34.
type entry struct {
	hash   uint64
	last   int64 // ms, clock of the limiter
	excess int32 // milli-requests, 0..burst*1000 (burst is capped at 1e6)
	prev   uint32
	next   uint32
}

// shard is one lock's worth of a zone: a fixed array of entries, an index
// from hash to slot, and an intrusive LRU list (head = most recently used).
// Slot 0 is the nil sentinel.
type shard struct {
	mu   sync.Mutex
	idx  map[uint64]uint32
	ents []entry
	head uint32
	tail uint32
	free uint32 // free list linked through next
	n    int
	_    [40]byte // keep hot shards on separate cache lines
}

// memZone holds the states of one zone in memory, bounded by capacity.
// Its eviction is nginx's: every lookup first frees up to two
// least-recently-used states idle for 60 s and fully drained; a new key that
// finds the zone full frees the oldest state by force. LRU order is kept
// per shard, which approximates nginx's single LRU list: the state evicted
// by force is the oldest of its shard.
type memZone struct {
	rate   int64
	shards []shard
	mask   uint64
	cap    int
}

// newMemZone returns a zone holding at most capacity states.
func newMemZone(rate int64, capacity int) *memZone {
	if capacity < 1 {
		capacity = 1
	}
	// At least 512 states per shard so that per-shard LRU stays close to a
	// global one; at most 64 shards.
	nshards := 1
	for nshards < 64 && capacity/(nshards*2) >= 512 {
		nshards *= 2
	}
	z := &memZone{rate: rate, shards: make([]shard, nshards), mask: uint64(nshards - 1), cap: capacity}
	per, extra := capacity/nshards, capacity%nshards
	for i := range z.shards {
		c := per
		if i < extra {
			c++
		}
		s := &z.shards[i]
		s.idx = make(map[uint64]uint32, c)
		s.ents = make([]entry, c+1)
		for j := 1; j <= c; j++ {
			if j < c {
				s.ents[j].next = uint32(j + 1)
			}
		}
		if c > 0 {
			s.free = 1
		}
	}
	return z
}

func (z *memZone) shard(h uint64) *shard {
	// Bits 7 and up pick the shard; maphash output is uniform, so any
	// bits would do.
	return &z.shards[(h>>7)&z.mask]
}

// Len returns the number of states held.
func (z *memZone) Len() int {
	n := 0
	for i := range z.shards {
		s := &z.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// decay returns nginx's excess after ms milliseconds plus one request:
// excess - rate*ms/1000 + 1000, floored at 0, with nginx's clamping of
// clock jumps (ms < -60 s counts as 1 ms, other negative values as 0).
func decay(excess, rate, ms int64) (int64, int64) {
	if ms < -60000 {
		ms = 1
	} else if ms < 0 {
		ms = 0
	}
	e := excess - drained(rate, ms) + 1000
	if e < 0 {
		e = 0
	}
	return e, ms
}

// drained is rate*ms/1000, the milli-requests a state loses in ms >= 0
// milliseconds, without overflowing int64. rate*ms overflows after about
// 106 days idle at ParseRate's largest rate (and after less for a state
// created without accounting, whose last is neverMs in the past); the
// wrapped product would be negative and turn a drained state into one far
// over its burst, rejecting its client. Any such span drains every state:
// excess never exceeds MaxInt32.
func drained(rate, ms int64) int64 {
	if ms > math.MaxInt64/rate {
		return math.MaxInt64 / 1000
	}
	return rate * ms / 1000
}

// lookup is ngx_http_limit_req_lookup for key hash h at time now: it
// returns the excess the request would have and whether it is over burst
// (in milli-requests). With account, a request within burst updates the
// state. A key not yet present gets a new state (excess 0, last now), even
// without account, as nginx does; fresh reports that case.
func (z *memZone) lookup(h uint64, now, burst int64, account bool) (excess int64, busy, fresh bool) {
	s := z.shard(h)
	s.mu.Lock()
	s.expire(z.rate, now, false)
	if i := s.idx[h]; i != 0 {
		s.touch(i)
		e := &s.ents[i]
		excess, ms := decay(int64(e.excess), z.rate, now-e.last)
		if excess > burst {
			s.mu.Unlock()
			return excess, true, false
		}
		if account {
			e.excess = clamp32(excess)
			if ms != 0 {
				e.last = now
			}
		}
		s.mu.Unlock()
		return excess, false, false
	}
	i := s.insert(h, now, z.rate)
	if !account {
		s.ents[i].last = now - neverMs
	}
	s.mu.Unlock()
	return 0, false, true
}

// account is the second half of ngx_http_limit_req_account for a zone that
// was checked without accounting: it charges one request to h's state. If
// the state was evicted in between (only possible when the zone is full),
// it is recreated as the check had created it, as nginx's pinned node would
// still exist.
func (z *memZone) account(h uint64, now int64) int64 {
	s := z.shard(h)
	s.mu.Lock()
	i := s.idx[h]
	if i == 0 {
		i = s.insert(h, now, z.rate)
		s.ents[i].last = now - neverMs
	}
	e := &s.ents[i]
	excess, ms := decay(int64(e.excess), z.rate, now-e.last)
	if ms != 0 {
		e.last = now
	}
	e.excess = clamp32(excess)
	s.mu.Unlock()
	return excess
}

func clamp32(v int64) int32 {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(v)
}

// insert adds a new state for h at the head of the LRU list, forcing out
// the oldest state first when the shard is full. Caller holds s.mu.
func (s *shard) insert(h uint64, now, rate int64) uint32 {
	if s.free == 0 {
		s.expire(rate, now, true)
	}
	i := s.free
	e := &s.ents[i]
	s.free = e.next
	*e = entry{hash: h, last: now}
	s.idx[h] = i
	s.pushFront(i)
	s.n++
	return i
}

// expire is ngx_http_limit_req_expire: with force, free the oldest state
// unconditionally, then (in both cases) free up to two more oldest states
// if they are idle for 60 s and drained. Caller holds s.mu.
func (s *shard) expire(rate, now int64, force bool) {
	n := 1
	if force {
		n = 0
	}
	for ; n < 3; n++ {
		i := s.tail
		if i == 0 {
			return
		}
		e := &s.ents[i]
		if n != 0 {
			ms := now - e.last
			if ms < 0 {
				ms = -ms
			}
			if ms < idleMs {
				return
			}
			if int64(e.excess)-drained(rate, ms) > 0 {
				return
			}
		}
		s.unlink(i)
		delete(s.idx, e.hash)
		e.next = s.free
		s.free = i
		s.n--
	}
}

func (s *shard) pushFront(i uint32) {
	e := &s.ents[i]
	e.prev = 0
	e.next = s.head
	if s.head != 0 {
		s.ents[s.head].prev = i
	}
	s.head = i
	if s.tail == 0 {
		s.tail = i
	}
}

func (s *shard) unlink(i uint32) {
	e := &s.ents[i]
	if e.prev != 0 {
		s.ents[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next != 0 {
		s.ents[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = 0, 0
}

func (s *shard) touch(i uint32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}
