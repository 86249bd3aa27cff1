package ipfilter

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/seclog"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := ParsePrefix(s)
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

func serve(t *testing.T, h http.Handler, peer, target string, hdr ...string) int {
	t.Helper()
	r := httptest.NewRequest("GET", "https://example.com"+target, nil)
	r.RemoteAddr = peer
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })

func newFilter(t *testing.T, o Options) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	o.Log = seclog.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f.Handler(ok), &buf
}

func TestZeroOptionsAllowEveryone(t *testing.T) {
	h, _ := newFilter(t, Options{})
	if c := serve(t, h, "203.0.113.9:1", "/admin"); c != 200 {
		t.Fatalf("got %d", c)
	}
}

func TestGlobalDenyAndAllow(t *testing.T) {
	h, buf := newFilter(t, Options{Deny: pfx("203.0.113.0/24")})
	if c := serve(t, h, "203.0.113.9:1", "/"); c != 403 {
		t.Fatalf("denied client: %d", c)
	}
	if c := serve(t, h, "198.51.100.1:1", "/"); c != 200 {
		t.Fatalf("other client: %d", c)
	}
	if !strings.Contains(buf.String(), `"event.action":"authz_fail"`) || !strings.Contains(buf.String(), `"rule":"deny 203.0.113.0/24"`) {
		t.Fatalf("event: %s", buf)
	}
	h, _ = newFilter(t, Options{Allow: pfx("10.0.0.0/8"), Deny: pfx("10.9.9.9")})
	for peer, want := range map[string]int{"10.1.2.3:1": 200, "192.0.2.1:1": 403, "10.9.9.9:1": 403, "[2001:db8::1]:1": 403} {
		if c := serve(t, h, peer, "/"); c != want {
			t.Errorf("%s: got %d, want %d", peer, c, want)
		}
	}
}

// An IPv4-mapped IPv6 peer is the IPv4 client: it cannot slip past a deny
// written in IPv4, and an allow written as a mapped prefix works.
func TestMappedIPv6(t *testing.T) {
	h, _ := newFilter(t, Options{Deny: pfx("203.0.113.0/24")})
	if c := serve(t, h, "[::ffff:203.0.113.9]:1", "/"); c != 403 {
		t.Fatalf("mapped peer: %d", c)
	}
	h, _ = newFilter(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}})
	if c := serve(t, h, "10.2.3.4:1", "/"); c != 200 {
		t.Fatalf("mapped allow: %d", c)
	}
	if c := serve(t, h, "[::ffff:10.2.3.4]:1", "/"); c != 200 {
		t.Fatalf("mapped allow, mapped peer: %d", c)
	}
}

// A forwarding header from a peer that is not a trusted proxy is not
// believed: a denied client cannot claim an allowed address.
func TestSpoofedForwardedForDoesNotBypass(t *testing.T) {
	var buf bytes.Buffer
	f, err := New(Options{Allow: pfx("10.0.0.0/8"), Log: seclog.New(slog.New(slog.NewJSONHandler(&buf, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := clientip.New(clientip.Options{TrustedProxies: pfx("192.0.2.10")})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Handler(f.Handler(ok))
	if c := serve(t, h, "203.0.113.9:1", "/", "X-Forwarded-For", "10.0.0.1"); c != 403 {
		t.Fatalf("spoofed XFF from untrusted peer: %d", c)
	}
	// Through the trusted proxy, the header is the client.
	if c := serve(t, h, "192.0.2.10:1", "/", "X-Forwarded-For", "10.0.0.1"); c != 200 {
		t.Fatalf("trusted proxy forwarding an allowed client: %d", c)
	}
	if c := serve(t, h, "192.0.2.10:1", "/", "X-Forwarded-For", "10.0.0.1, 203.0.113.9"); c != 403 {
		t.Fatalf("trusted proxy forwarding a refused client (left-most spoofed): %d", c)
	}
}

func TestRoutes(t *testing.T) {
	h, buf := newFilter(t, Options{
		Deny: pfx("198.51.100.66"),
		Routes: []Route{
			{Prefix: "/admin", Allow: pfx("10.0.0.0/8", "2001:db8::/32")},
			{Prefix: "/admin/public", Deny: pfx("192.0.2.0/24")},
		},
	})
	cases := []struct {
		peer, path string
		want       int
	}{
		{"192.0.2.1:1", "/", 200},
		{"192.0.2.1:1", "/admin", 403},
		{"192.0.2.1:1", "/ADMIN/x", 403},       // case folded
		{"192.0.2.1:1", "/admin/", 403},        // trailing slash
		{"192.0.2.1:1", "/administrator", 200}, // segment-wise
		{"10.0.0.1:1", "/admin/x", 200},
		{"[2001:db8::5]:1", "/admin", 200},
		// The longest route applies: /admin/public does not inherit
		// /admin's allow list, but has its own deny.
		{"198.51.100.1:1", "/admin/public/x", 200},
		{"192.0.2.1:1", "/admin/public", 403},
		// Global deny holds under every route.
		{"198.51.100.66:1", "/admin/public", 403},
		{"198.51.100.66:1", "/", 403},
	}
	for _, c := range cases {
		if got := serve(t, h, c.peer, c.path); got != c.want {
			t.Errorf("%s %s: got %d, want %d", c.peer, c.path, got, c.want)
		}
	}
	if !strings.Contains(buf.String(), `"route":"/admin"`) {
		t.Errorf("no route in event: %s", buf)
	}
}

// Path tricks that could read as outside /admin to rampart and inside to
// the application: with reqpath in front they are refused (400) before
// the filter; without it, the filter applies every route's rules.
func TestRoutePathTricks(t *testing.T) {
	f, err := New(Options{Routes: []Route{{Prefix: "/admin", Allow: pfx("10.0.0.0/8")}}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reqpath.New(reqpath.Options{})
	if err != nil {
		t.Fatal(err)
	}
	withPolicy := pol.Handler(f.Handler(ok))
	alone := f.Handler(ok)
	for _, target := range []string{"/x/..%2fadmin", "/admin%2f", "/x/../admin", "/%61dmin", "/admin;x=1", "/admin%2F..%2Fx", "/.%2e/admin", "//admin"} {
		got := serve(t, withPolicy, "192.0.2.1:1", target)
		if got == 200 {
			t.Errorf("%s with reqpath: allowed", target)
		}
		if got := serve(t, alone, "192.0.2.1:1", target); got == 200 {
			t.Errorf("%s alone: allowed", target)
		}
	}
	if got := serve(t, withPolicy, "10.0.0.1:1", "/%61dmin"); got != 200 {
		t.Errorf("allowed client on an escaped path: %d", got)
	}
}

func TestUnixSocketClientIsRefusedByAllowList(t *testing.T) {
	h, _ := newFilter(t, Options{Allow: pfx("10.0.0.0/8")})
	if c := serve(t, h, "@", "/"); c != 403 {
		t.Fatalf("got %d", c)
	}
}

func TestValidate(t *testing.T) {
	errs := Options{
		Allow:  []netip.Prefix{{}},
		Routes: []Route{{Prefix: "admin", Deny: pfx("10.0.0.1")}, {Prefix: "/a"}, {Prefix: "/A/", Deny: pfx("10.0.0.1")}},
	}.Validate()
	want := []string{"Allow[0]", "Routes[0].Prefix", "Routes[1]", "Routes[2].Prefix"}
	if len(errs) != len(want) {
		t.Fatalf("got %v", errs)
	}
	for i, e := range errs {
		if e.Path != want[i] {
			t.Errorf("finding %d on %q, want %q (%v)", i, e.Path, want[i], e)
		}
	}
	if _, err := New(Options{Deny: []netip.Prefix{{}}}); err == nil {
		t.Fatal("New accepted an invalid prefix")
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":            "10.0.0.1/32",
		"10.1.2.3/8":          "10.0.0.0/8",
		"2001:db8::1":         "2001:db8::1/128",
		"2001:db8::1/32":      "2001:db8::/32",
		"::ffff:10.0.0.1":     "10.0.0.1/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "fe80::1%eth0", "::ffff:0:0/64", "10.0.0.0/8/8", "example.com", " 10.0.0.1"} {
		if p, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", in, p)
		}
	}
}

// FuzzParsePrefix: whatever it accepts is a valid, masked, unmapped
// prefix without zone that contains the address it was written with.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.0/8", "::ffff:1.2.3.4/120", "2001:db8::/32", "fe80::1%x", "1.2.3.4/-1", "::/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v", s, p)
		}
		if a, err := netip.ParseAddr(s); err == nil && !p.Contains(a.Unmap()) {
			t.Fatalf("ParsePrefix(%q) = %v does not contain the address", s, p)
		}
	})
}
