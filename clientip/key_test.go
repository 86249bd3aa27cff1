package clientip

import (
	"net/netip"
	"testing"
)

// TestKey_IPv6AddressRotationIsOneClient: a client choosing a fresh
// address inside its /64 for every connection or request, or spelling its
// IPv4 address as IPv4-mapped IPv6 or with a zone, is still one key, so it
// cannot multiply a per-client limit.
func TestKey_IPv6AddressRotationIsOneClient(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"},
		{"2001:db8:1:2::1%eth0", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
		{"::1", "::"},
	} {
		if got := Key(netip.MustParseAddr(tc.in)); got != netip.MustParseAddr(tc.want) {
			t.Errorf("Key(%s) = %v, want %s", tc.in, got, tc.want)
		}
	}
	// Neighbouring /64s and IPv4 addresses stay apart.
	for _, pair := range [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.7", "192.0.2.8"},
		{"127.0.0.1", "127.0.0.2"},
	} {
		if Key(netip.MustParseAddr(pair[0])) == Key(netip.MustParseAddr(pair[1])) {
			t.Errorf("%s and %s share a key", pair[0], pair[1])
		}
	}
	if k := Key(netip.Addr{}); k.IsValid() {
		t.Errorf("Key(zero) = %v, want the zero Addr", k)
	}
}

// FuzzKey: for any 16 bytes, read as IPv6 or (first 4) IPv4, the key is
// valid, unmapped, zoneless, idempotent, and shared by every address of the
// same /64 (IPv6) or equal to the address (IPv4).
func FuzzKey(f *testing.F) {
	f.Add([]byte("\x20\x01\x0d\xb8\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06"), uint64(0))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x07"), uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, host uint64) {
		if len(b) < 16 {
			return
		}
		a := netip.AddrFrom16([16]byte(b[:16])).WithZone("z")
		k := Key(a)
		if !k.IsValid() || k.Is4In6() || k.Zone() != "" || Key(k) != k {
			t.Fatalf("Key(%v) = %v: not a normalised, stable key", a, k)
		}
		if a.Is4In6() {
			if k != a.Unmap().WithZone("") {
				t.Fatalf("Key(%v) = %v, want the IPv4 address", a, k)
			}
			return
		}
		// Another host in the same /64.
		s := a.As16()
		for i := range 8 {
			s[8+i] = byte(host >> (8 * i))
		}
		if other := netip.AddrFrom16(s); Key(other) != k {
			t.Fatalf("Key(%v) = %v but Key(%v) = %v: one /64, two keys", a, k, other, Key(other))
		}
		v4 := netip.AddrFrom4([4]byte(b[:4]))
		if Key(v4) != v4 {
			t.Fatalf("Key(%v) = %v", v4, Key(v4))
		}
	})
}
