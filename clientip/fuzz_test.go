package clientip

import (
	"net/netip"
	"testing"
)

// FuzzResolve checks, for any header value, that the resolver never panics,
// always returns a normalised address behind a trusted peer, and that an
// untrusted peer always wins whatever the header says.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"1.1.1.1, 198.51.100.7", "::ffff:10.0.0.1", "fe80::1%eth0", "for=1.1.1.1;proto=https",
		`for="[2001:db8::1]:80"`, "unknown", ",,,", "1.1.1.1:80", `for="_x"`, "\x00\xff",
	} {
		f.Add(s, "X-Forwarded-For")
		f.Add(s, "Forwarded")
		f.Add(s, "X-Real-IP")
	}
	resolvers := map[string]*Resolver{}
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-IP"} {
		resolvers[h] = mustResolver(f, h, trusted...)
	}
	f.Fuzz(func(t *testing.T, value, header string) {
		res := resolvers[header]
		if res == nil {
			return
		}
		got := res.Resolve(req("127.0.0.1:1", header, value))
		if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
			t.Fatalf("Resolve(%q) = %v: not a normalised address", value, got)
		}
		untrusted := res.Resolve(req("203.0.113.9:1", header, value))
		if untrusted != netip.MustParseAddr("203.0.113.9") {
			t.Fatalf("untrusted peer: Resolve(%q) = %v", value, untrusted)
		}
	})
}

// FuzzParseForwardedElement checks the RFC 7239 element parser in isolation.
func FuzzParseForwardedElement(f *testing.F) {
	for _, s := range []string{"for=1.2.3.4", `for="[::1]:_a";by=x`, "for=1.2.3.4:65535;proto=http", `x="";for=1.1.1.1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseForwardedElement(s)
		if ok != a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("parseForwardedElement(%q) = %v, %v", s, a, ok)
		}
		if len(s) > maxForwardedElemLen && ok {
			t.Fatalf("oversized element accepted: %q", s)
		}
	})
}
