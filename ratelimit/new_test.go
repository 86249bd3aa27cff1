package ratelimit_test

import (
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/ratelimit"
)

func TestNew_ZeroValueLimitsNothing(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, ok := l.Check(httptest.NewRequest("GET", "/api/x", nil)); ok {
			t.Fatal("zero Options governs a request")
		}
	}
}

func TestNew_ErrorsNameYAMLKeys(t *testing.T) {
	_, err := ratelimit.New(ratelimit.Options{
		Status: 302,
		Zones: map[string]ratelimit.Zone{
			"api":      {Rate: "10r/h", Size: "1g", Key: "cookie:x", IPv6Prefix: 129},
			"bad zone": {Rate: "1r/s"},
			"nor":      {},
			"net":      {Rate: "1r/s", Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}, OnBackendError: "maybe"},
		},
		Rules: []ratelimit.Rule{
			{Prefix: "api/", Methods: []string{"post"}, Limits: []ratelimit.Limit{{Zone: "nope"}, {Zone: "api", Burst: -1, NoDelay: true, Delay: 3}}},
			{Prefix: "/a/../b/"},
		},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"status: must be a 4xx or 5xx code",
		"zones.api.rate: unit must be",
		"zones.api.size: ",
		"zones.api.key: must be",
		"zones.api.ipv6_prefix: must be between 1 and 128",
		"zones.bad zone: zone name",
		"zones.nor.rate: is required",
		"zones.net.allow[0]: ",
		"zones.net.on_backend_error: must be",
		"rules[0].prefix: \"api/\" must be an absolute path",
		"rules[0].methods[0]: must be an upper-case method",
		`rules[0].limits[0].zone: no zone named "nope"`,
		"rules[0].limits[1].burst: must be between 0",
		"rules[0].limits[1].delay: nodelay and delay cannot both be set",
		"rules[1].prefix: \"/a/../b/\" is not a plain path (dot_segment)",
		"rules[1].limits: must name at least one zone",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestNew_Warnings(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"a": {Rate: "1r/s"}, "unused": {Rate: "1r/s"}},
		Rules: []ratelimit.Rule{{Prefix: "/", DryRun: true, Limits: []ratelimit.Limit{{Zone: "a"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(l.Warnings(), "\n")
	if !strings.Contains(w, "rules[0].dry_run") || !strings.Contains(w, "zones.unused: not used") {
		t.Errorf("warnings: %s", w)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"10r/s": 10000, "30r/m": 500, "1r/m": 16, "1r/s": 1000, "7r/m": 116, "0001r/s": 1000} {
		if got, err := ratelimit.ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0r/s", "0r/m", "-1r/s", "+1r/s", "1r/h", "1 r/s", "r/s", "10", "1.5r/s", "0x10r/s", "99999999999999r/s", "10r/s "} {
		if _, err := ratelimit.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"10m": 10 << 20, "512k": 512 << 10, "512K": 512 << 10, "128": 128, "1M": 1 << 20} {
		if got, err := ratelimit.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "1g", "-1m", "1.5m", "10mb", " 1m", "999999999999m"} {
		if _, err := ratelimit.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10r/s", "30r/m", "1r/m", "0r/s", "r/s", "99999999999r/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ratelimit.ParseRate(s)
		if err == nil && (r < 1 || r > 1_000_000_000_000) {
			t.Fatalf("ParseRate(%q) = %d", s, r)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10m", "512k", "128", "1g", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ratelimit.ParseSize(s)
		if err == nil && (n < 0 || n > 1<<40) {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

// States are allocated up front: a typo in a zone's size must be an error,
// not an allocation of tens of gigabytes that gets the process killed.
func TestNew_HugeZoneSizeRefused(t *testing.T) {
	for _, size := range []string{"1025m", "100000m", "1073741825"} {
		_, err := ratelimit.New(ratelimit.Options{
			Zones: map[string]ratelimit.Zone{"api": {Rate: "10r/s", Size: size}},
			Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "api"}}}},
		})
		if err == nil || !strings.Contains(err.Error(), "zones.api.size: must be at most 1024m") {
			t.Fatalf("size %s: err = %v", size, err)
		}
	}
}

// Validate reports what New reports, without allocating the zones: a
// `rampart config check` of a 1024m zone costs kilobytes, not the ~300 MB
// of states the running zone holds.
func TestValidate_SameVerdictWithoutZoneMemory(t *testing.T) {
	bad := ratelimit.Options{Zones: map[string]ratelimit.Zone{"api": {Rate: "10/s"}}}
	_, errNew := ratelimit.New(bad)
	_, errVal := ratelimit.Validate(bad)
	if errNew == nil || errVal == nil || errNew.Error() != errVal.Error() {
		t.Fatalf("New: %v\nValidate: %v", errNew, errVal)
	}
	big := ratelimit.Options{
		Zones:  map[string]ratelimit.Zone{"api": {Rate: "10r/s", Size: "1024m"}},
		Rules:  []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 5}}}},
		Status: 503,
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	warnings, err := ratelimit.Validate(big)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) == 0 {
		t.Error("status 503 warning lost")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("Validate allocated %d bytes for a 1024m zone", grew)
	}
}
