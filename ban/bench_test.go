package ban

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/seclog"
)

// BenchmarkBanned: the per-connection and per-request check, with 10 000
// client bans and a few operator prefixes in force.
func BenchmarkBanned(b *testing.B) {
	bn, err := New(Options{Log: seclog.New(slog.New(slog.DiscardHandler))})
	if err != nil {
		b.Fatal(err)
	}
	defer bn.Close()
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		bn.apply(Change{Entry: Entry{Prefix: KeyPrefix(a), Until: time.Now().Add(time.Hour), Forget: time.Now().Add(2 * time.Hour)}})
	}
	for _, p := range []string{"198.51.100.0/24", "2001:db8::/32", "192.0.2.0/28"} {
		bn.Ban(context.Background(), netip.MustParsePrefix(p), time.Hour, "bench")
	}
	miss, hit := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("10.0.1.2")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			a := miss
			if i++; i%2 == 0 {
				a = hit
			}
			bn.Banned(a)
		}
	})
}
