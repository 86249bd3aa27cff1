package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustResolver(t testing.TB, header string, cidrs ...string) *Resolver {
	t.Helper()
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	r, err := New(Options{TrustedProxies: ps, Header: header})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func req(peer string, header string, values ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = peer
	for _, v := range values {
		r.Header.Add(header, v)
	}
	return r
}

type resolveCase struct {
	name   string
	peer   string
	values []string
	want   string
}

func runCases(t *testing.T, res *Resolver, header string, cases []resolveCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := res.Resolve(req(c.peer, header, c.values...))
			want := netip.Addr{}
			if c.want != "" {
				want = netip.MustParseAddr(c.want)
			}
			if got != want {
				t.Errorf("Resolve = %v, want %v", got, want)
			}
		})
	}
}

// Trusted: a local nginx and an internal load-balancer network.
var trusted = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "fd00::/8"}

func TestResolve_XForwardedFor(t *testing.T) {
	res := mustResolver(t, "", trusted...)
	runCases(t, res, "X-Forwarded-For", []resolveCase{
		{"SpoofedXFFFromUntrustedPeerIgnored", "203.0.113.9:4000", []string{"1.1.1.1"}, "203.0.113.9"},
		{"SpoofedTrustedAddressFromUntrustedPeerIgnored", "203.0.113.9:4000", []string{"127.0.0.1"}, "203.0.113.9"},
		{"LeftMostSpoofBehindTrustedProxyIgnored", "127.0.0.1:5000", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"SpoofedTrustedHopLeftOfClientIgnored", "127.0.0.1:5000", []string{"10.0.0.5, 198.51.100.7"}, "198.51.100.7"},
		{"ChainOfTrustedProxies", "127.0.0.1:5000", []string{"1.1.1.1, 198.51.100.7, 10.1.2.3, 10.0.0.1"}, "198.51.100.7"},
		{"AllHopsTrustedLeftMostWins", "127.0.0.1:5000", []string{"10.9.9.9, 10.0.0.1"}, "10.9.9.9"},
		{"NoHeaderFromTrustedPeer", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"EmptyHeaderFromTrustedPeer", "127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"MultipleHeaderLinesJoinedInOrder", "127.0.0.1:5000", []string{"1.1.1.1", "198.51.100.7"}, "198.51.100.7"},
		{"MultipleHeaderLinesSpoofInFirstLineIgnored", "127.0.0.1:5000", []string{"1.1.1.1, 2.2.2.2", "10.0.0.1, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"MultipleHeaderLinesWalkIntoEarlierLine", "127.0.0.1:5000", []string{"1.1.1.1, 198.51.100.7", "10.0.0.2"}, "198.51.100.7"},
		{"GarbageRightMostFailsClosedToPeer", "127.0.0.1:5000", []string{"1.1.1.1, not-an-ip"}, "127.0.0.1"},
		{"GarbageAfterTrustedHopFailsClosedToThatHop", "127.0.0.1:5000", []string{"1.1.1.1, <script>, 10.0.0.7"}, "10.0.0.7"},
		{"GarbageLeftOfClientNeverReached", "127.0.0.1:5000", []string{"\x00\xff garbage, 198.51.100.7"}, "198.51.100.7"},
		{"PortNotAllowedInXFF", "127.0.0.1:5000", []string{"1.1.1.1, 198.51.100.7:443"}, "127.0.0.1"},
		{"BracketedIPv6NotAllowedInXFF", "127.0.0.1:5000", []string{"[2001:db8::1]"}, "127.0.0.1"},
		{"EmptyElementFailsClosed", "127.0.0.1:5000", []string{"1.1.1.1,,10.0.0.3"}, "10.0.0.3"},
		{"TrailingCommaFailsClosed", "127.0.0.1:5000", []string{"1.1.1.1,"}, "127.0.0.1"},
		{"UnknownFailsClosed", "127.0.0.1:5000", []string{"1.1.1.1, unknown"}, "127.0.0.1"},
		{"WhitespaceAroundElementsAllowed", "127.0.0.1:5000", []string{" 1.1.1.1 ,\t198.51.100.7 "}, "198.51.100.7"},
		{"OversizedElementFailsClosed", "127.0.0.1:5000", []string{"1.1.1.1, " + strings.Repeat("1", 100)}, "127.0.0.1"},
		{"MappedClientUnmapped", "127.0.0.1:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"MappedTrustedHopAliasStillTrusted", "127.0.0.1:5000", []string{"198.51.100.7, ::ffff:10.0.0.1"}, "198.51.100.7"},
		{"MappedPeerTrusted", "[::ffff:127.0.0.1]:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"MappedUntrustedPeerUnmapped", "[::ffff:203.0.113.9]:5000", []string{"1.1.1.1"}, "203.0.113.9"},
		{"ZonedTrustedHopAliasStillTrusted", "127.0.0.1:5000", []string{"198.51.100.7, fd00::1%eth0"}, "198.51.100.7"},
		{"ZoneDroppedFromClient", "127.0.0.1:5000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"IPv6Client", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6ChainLeftMostSpoofIgnored", "[::1]:5000", []string{"2001:db8::bad, 2001:db8::1, fd00::2"}, "2001:db8::1"},
		{"IPv6PeerUntrusted", "[2001:db8::9]:5000", []string{"1.1.1.1"}, "2001:db8::9"},
		{"PeerWithoutPortAccepted", "127.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"UnixSocketPeerNotTrusted", "@", []string{"198.51.100.7"}, ""},
	})
}

func TestResolve_NoTrustedProxiesIgnoresHeaders(t *testing.T) {
	res, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, res, "X-Forwarded-For", []resolveCase{
		{"SpoofedXFFFromLoopbackIgnored", "127.0.0.1:5000", []string{"1.1.1.1"}, "127.0.0.1"},
		{"SpoofedXFFFromAnyoneIgnored", "203.0.113.9:5000", []string{"1.1.1.1"}, "203.0.113.9"},
	})
}

func TestResolve_TooManyHopsFailsClosed(t *testing.T) {
	res := mustResolver(t, "", trusted...)
	hops := make([]string, 0, MaxHops+2)
	hops = append(hops, "1.1.1.1") // the attacker's choice, past the bound
	for i := 0; i < MaxHops+1; i++ {
		hops = append(hops, "10.0.0.1")
	}
	got := res.Resolve(req("127.0.0.1:1", "X-Forwarded-For", strings.Join(hops, ",")))
	if want := netip.MustParseAddr("10.0.0.1"); got != want {
		t.Fatalf("Resolve = %v, want last trusted hop %v", got, want)
	}
	// Spread over many header lines, the bound is the same.
	r := req("127.0.0.1:1", "X-Forwarded-For", hops...)
	if got := res.Resolve(r); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("Resolve over lines = %v, want 10.0.0.1", got)
	}
}

func TestResolve_OversizedHeaderFailsClosed(t *testing.T) {
	res := mustResolver(t, "", trusted...)
	// One megabyte of garbage without a comma: one element, too long.
	big := strings.Repeat("9", 1<<20)
	if got := res.Resolve(req("127.0.0.1:1", "X-Forwarded-For", big)); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("Resolve = %v, want peer", got)
	}
	// A long line ending in MaxHops trusted hops: the walk stops at the hop
	// bound instead of reading on into the client's part.
	long := strings.Repeat("1.1.1.1,", 1<<12) + strings.Repeat("10.0.0.1,", 31) + "10.0.0.2"
	if got := res.Resolve(req("127.0.0.1:1", "X-Forwarded-For", long)); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("Resolve = %v, want last trusted hop", got)
	}
	// A line longer than the scan bound: only its tail is looked at.
	cutInside := strings.Repeat("9", maxLineScan) + ",10.0.0.3"
	if got := res.Resolve(req("127.0.0.1:1", "X-Forwarded-For", cutInside)); got != netip.MustParseAddr("10.0.0.3") {
		t.Fatalf("Resolve = %v, want 10.0.0.3", got)
	}
	// A megabyte of spoofed entries left of the real client is never read.
	spoof := strings.Repeat("1.1.1.1,", 1<<17) + "198.51.100.7"
	if got := res.Resolve(req("127.0.0.1:1", "X-Forwarded-For", spoof)); got != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("Resolve = %v, want 198.51.100.7", got)
	}
}

func TestResolve_XRealIP(t *testing.T) {
	res := mustResolver(t, "x-real-ip", trusted...)
	runCases(t, res, "X-Real-IP", []resolveCase{
		{"FromTrustedProxy", "127.0.0.1:1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"SpoofFromUntrustedPeerIgnored", "203.0.113.9:1", []string{"1.1.1.1"}, "203.0.113.9"},
		{"TwoLinesProxyAppendedInsteadOfOverwriting", "127.0.0.1:1", []string{"1.1.1.1", "198.51.100.7"}, "127.0.0.1"},
		{"ListNotAllowed", "127.0.0.1:1", []string{"1.1.1.1, 198.51.100.7"}, "127.0.0.1"},
		{"Garbage", "127.0.0.1:1", []string{"evil\r\nX: y"}, "127.0.0.1"},
		{"Mapped", "127.0.0.1:1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"XFFIgnoredWhenXRealIPConfigured", "127.0.0.1:1", nil, "127.0.0.1"},
	})
}

func TestResolve_Forwarded(t *testing.T) {
	res := mustResolver(t, "Forwarded", trusted...)
	runCases(t, res, "Forwarded", []resolveCase{
		{"Simple", "127.0.0.1:1", []string{"for=198.51.100.7;proto=https"}, "198.51.100.7"},
		{"QuotedIPv4WithPort", "127.0.0.1:1", []string{`for="198.51.100.7:4711"`}, "198.51.100.7"},
		{"IPv6BracketedQuotedWithPort", "127.0.0.1:1", []string{`For="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"LeftMostSpoofIgnored", "127.0.0.1:1", []string{"for=1.1.1.1, for=198.51.100.7;by=10.0.0.1"}, "198.51.100.7"},
		{"TrustedHopsSkipped", "127.0.0.1:1", []string{"for=198.51.100.7", `for="[fd00::3]"`, "for=10.0.0.1"}, "198.51.100.7"},
		{"SpoofFromUntrustedPeerIgnored", "203.0.113.9:1", []string{"for=1.1.1.1"}, "203.0.113.9"},
		{"UnknownFailsClosed", "127.0.0.1:1", []string{"for=1.1.1.1, for=unknown"}, "127.0.0.1"},
		{"ObfuscatedFailsClosed", "127.0.0.1:1", []string{"for=1.1.1.1, for=_hidden, for=10.0.0.2"}, "10.0.0.2"},
		{"MissingForFailsClosed", "127.0.0.1:1", []string{"for=1.1.1.1, proto=https"}, "127.0.0.1"},
		{"DuplicateForFailsClosed", "127.0.0.1:1", []string{"for=1.1.1.1;for=198.51.100.7"}, "127.0.0.1"},
		{"CommaInQuotedStringFailsClosed", "127.0.0.1:1", []string{`for=1.1.1.1;x="a,for=198.51.100.7"`}, "127.0.0.1"},
		{"UnbracketedIPv6FailsClosed", "127.0.0.1:1", []string{`for="2001:db8::1"`}, "127.0.0.1"},
		{"BadPortFailsClosed", "127.0.0.1:1", []string{"for=1.1.1.1, for=198.51.100.7:99999"}, "127.0.0.1"},
		{"MappedUnmapped", "127.0.0.1:1", []string{`for="[::ffff:198.51.100.7]"`}, "198.51.100.7"},
		{"UnterminatedQuoteFailsClosed", "127.0.0.1:1", []string{`for="198.51.100.7`}, "127.0.0.1"},
	})
}

func TestNew_Validation(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"TrustEverythingV4", Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "TrustedProxies[0]: 0.0.0.0/0 trusts every address"},
		{"TrustEverythingV6", Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::/0")}}, "TrustedProxies[1]: ::/0"},
		{"InvalidPrefix", Options{TrustedProxies: []netip.Prefix{{}}}, "TrustedProxies[0]: is not a valid CIDR prefix"},
		{"UnknownHeader", Options{Header: "True-Client-IP"}, "Header: \"True-Client-IP\" is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestNew_NormalisesMappedAndUnmaskedPrefixes(t *testing.T) {
	res := mustResolver(t, "", "::ffff:10.1.0.0/112", "192.168.1.77/24")
	for _, a := range []string{"10.1.2.3", "192.168.1.5", "::ffff:192.168.1.5"} {
		if !res.Trusted(netip.MustParseAddr(a)) {
			t.Errorf("Trusted(%s) = false", a)
		}
	}
}

func TestWarnings(t *testing.T) {
	o := Options{Header: "X-Real-IP", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("8.0.0.0/6")}}
	if w := o.Validate(); len(w) != 2 || w.HasErrors() || w[0].Path != "TrustedProxies[0]" || w[1].Path != "Header" {
		t.Fatalf("warnings = %q, want 2", w)
	}
	if w := (Options{}).Validate(); len(w) != 0 {
		t.Fatalf("zero options: %q", w)
	}
	if w := (Options{Header: "Forwarded"}).Validate(); len(w) != 1 || w.HasErrors() {
		t.Fatalf("header without proxies: %q", w)
	}
	if w := (Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:0:0/80")}}).Validate(); !w.HasErrors() {
		t.Fatalf("mapped prefix shorter than /96 accepted: %q", w)
	}
}

func TestHandler_StoresAddress(t *testing.T) {
	res := mustResolver(t, "", trusted...)
	var got netip.Addr
	h := res.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = FromRequest(r) }))
	h.ServeHTTP(httptest.NewRecorder(), req("127.0.0.1:1", "X-Forwarded-For", "1.1.1.1, 198.51.100.7"))
	if got != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("FromRequest = %v", got)
	}
	if !res.TrustedPeer(req("[::1]:1", "X")) || res.TrustedPeer(req("198.51.100.7:1", "X")) {
		t.Fatal("TrustedPeer wrong")
	}
}

func BenchmarkResolve_XFF(b *testing.B) {
	res := mustResolver(b, "", trusted...)
	r := req("127.0.0.1:5000", "X-Forwarded-For", "1.1.1.1, 198.51.100.7, 10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		res.Resolve(r)
	}
}

// NewContext on a request the Resolver has already resolved overrides the
// address for the handlers given the new context only.
func TestNewContext_OverridesForInnerHandlersOnly(t *testing.T) {
	res := mustResolver(t, "", trusted...)
	over := netip.MustParseAddr("203.0.113.9")
	var inner, outer netip.Addr
	h := res.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = FromRequest(r.WithContext(NewContext(r.Context(), over)))
		outer = FromRequest(r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), req("127.0.0.1:1", "X-Forwarded-For", "198.51.100.7"))
	if inner != over || outer != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("inner %v, outer %v", inner, outer)
	}
	if a, ok := FromContext(t.Context()); ok || a.IsValid() {
		t.Fatalf("FromContext of a bare context = %v, %v", a, ok)
	}
}
