package ratelimit

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/seclog"
)

// BenchmarkZoneLookup is one decision on an existing key, in the zone only.
func BenchmarkZoneLookup(b *testing.B) {
	z := newMemZone(10000, 81920)
	z.lookup(42, 1, 20000, true)
	b.ReportAllocs()
	now := int64(1)
	for b.Loop() {
		now += 100
		z.lookup(42, now, 20000, true)
	}
}

func benchLimiter(b *testing.B) *Limiter {
	var now atomic.Int64
	l, err := New(Options{
		Zones: map[string]Zone{"api": {Rate: PerSecond(10), Size: 10 << 20}},
		Rules: []Rule{{Prefix: "/api/", Limits: []Limit{{Zone: "api", Burst: 20, NoDelay: true}}}},
		Log:   seclog.New(slog.New(slog.DiscardHandler)),
		Now:   func() int64 { return now.Add(100) },
	})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkCheck is a whole decision for an existing client: path
// normalisation, rule match, client address, hashing, zone, counters.
// "peer" parses RemoteAddr (the limiter used alone); "resolved" takes the
// address the clientip stage stored in the context, as in the gateway.
func BenchmarkCheck(b *testing.B) {
	run := func(b *testing.B, r *http.Request) {
		l := benchLimiter(b)
		l.Check(r)
		b.ReportAllocs()
		for b.Loop() {
			l.Check(r)
		}
	}
	r := httptest.NewRequest("GET", "/api/users/1", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	b.Run("peer", func(b *testing.B) { run(b, r) })
	b.Run("resolved", func(b *testing.B) {
		run(b, r.WithContext(clientip.NewContext(r.Context(), netip.MustParseAddr("198.51.100.7"))))
	})
}

// BenchmarkCheckParallel measures contention: every goroutine its own
// clients (spread over shards), then all on one key (one shard lock).
func BenchmarkCheckParallel(b *testing.B) {
	b.Run("distinct_keys", func(b *testing.B) {
		l := benchLimiter(b)
		var id atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			reqs := make([]*http.Request, 256)
			base := id.Add(1) * 1000
			for i := range reqs {
				reqs[i] = httptest.NewRequest("GET", "/api/x", nil)
				reqs[i].RemoteAddr = "10." + strconv.Itoa(int(base/1000)) + "." + strconv.Itoa(i) + ".1:80"
			}
			i := 0
			for pb.Next() {
				l.Check(reqs[i&255])
				i++
			}
		})
	})
	b.Run("one_key", func(b *testing.B) {
		l := benchLimiter(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest("GET", "/api/x", nil)
			r.RemoteAddr = "10.0.0.1:80"
			for pb.Next() {
				l.Check(r)
			}
		})
	})
}

// BenchmarkHandler is the middleware on an allowed request.
func BenchmarkHandler(b *testing.B) {
	l := benchLimiter(b)
	h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkZoneBytesPerKey reports the heap a full 10m zone uses per key
// (nginx: 128 bytes); the zone's size bound is size/128 keys.
func BenchmarkZoneBytesPerKey(b *testing.B) {
	const capacity = 81920 // 10m
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		z := newMemZone(10000, capacity)
		for i := uint64(0); i < 2*capacity; i++ {
			z.lookup(i*0x9E3779B97F4A7C15+1, 1, 0, true)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/capacity, "bytes/key")
		runtime.KeepAlive(z)
	}
}

// BenchmarkHandlerOnDecision is BenchmarkHandler with an OnDecision hook,
// as the gateway sets one for its access log: the decision is passed by
// value, so the hook costs no allocation.
func BenchmarkHandlerOnDecision(b *testing.B) {
	l := benchLimiter(b)
	var seen int
	l.onDecision = func(_ *http.Request, d Decision) { seen += len(d.Zone) }
	h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
