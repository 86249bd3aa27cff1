package ratelimit_test

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/field"
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

// findings indexes a validation's findings by path ("W " before a
// warning's message).
func findings(errs field.Errors) map[string]string {
	out := map[string]string{}
	for _, e := range errs {
		msg := e.Message
		if e.Warning {
			msg = "W " + msg
		}
		if out[e.Path] != "" {
			msg = out[e.Path] + " | " + msg
		}
		out[e.Path] = msg
	}
	return out
}

func TestValidate_ErrorsNameGoFields(t *testing.T) {
	o := ratelimit.Options{
		Status: 302,
		Zones: map[string]ratelimit.Zone{
			"api":      {Rate: -5, Size: 2 << 30, Key: "cookie:x", IPv6Prefix: 129},
			"bad zone": {Rate: ratelimit.PerSecond(1)},
			"nor":      {},
			"net":      {Rate: ratelimit.PerSecond(1), Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}, OnBackendError: "maybe"},
			"hdr":      {Rate: ratelimit.PerSecond(1), Key: "header:X Key", Size: 64},
			"fast":     {Rate: ratelimit.MaxRate + 1, IPv4Prefix: 33},
		},
		Rules: []ratelimit.Rule{
			{Prefix: "api/", Methods: []string{"post", "GE T"}, Limits: []ratelimit.Limit{{Zone: "nope"}, {Zone: "api", Burst: -1, NoDelay: true, Delay: 3}, {Zone: "api"}}},
			{Prefix: "/a/../b/"},
		},
	}
	errs := o.Validate()
	got := findings(errs)
	for path, want := range map[string]string{
		"Status":                    "must be a 4xx or 5xx code, got 302",
		"Zones[api].Rate":           "must be between 1r/m and 1000000r/s, got -5 milli-requests/s",
		"Zones[api].Size":           "must be at most 1024m",
		"Zones[api].Key":            "must be",
		"Zones[api].IPv6Prefix":     "must be between 1 and 128, got 129",
		"Zones[bad zone]":           `zone name "bad zone" must be`,
		"Zones[nor].Rate":           "is required",
		"Zones[net].Allow[0]":       "10.0.0.1/8 is not a network address",
		"Zones[net].OnBackendError": `must be "fail_local", "fail_open" or "fail_closed", got "maybe"`,
		"Zones[hdr].Key":            `got "header:X Key"`,
		"Zones[hdr].Size":           "must be at least 128 bytes (one key), got 64",
		"Zones[fast].Rate":          "got 1000000001 milli-requests/s",
		"Zones[fast].IPv4Prefix":    "must be between 1 and 32, got 33",
		"Rules[0].Prefix":           `"api/" must be an absolute path`,
		"Rules[0].Methods[0]":       `must be an upper-case method such as POST, got "post"`,
		"Rules[0].Methods[1]":       `got "GE T"`,
		"Rules[0].Limits[0].Zone":   `no zone named "nope"`,
		"Rules[0].Limits[1].Burst":  "must be between 0 and 1000000, got -1",
		"Rules[0].Limits[1].Delay":  "nodelay and delay cannot both be set",
		"Rules[0].Limits[2].Zone":   `zone "api" is already applied by this rule`,
		"Rules[1].Prefix":           `"/a/../b/" is not a plain path (dot_segment)`,
		"Rules[1].Limits":           "must name at least one zone",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: got %q, want %q", path, got[path], want)
		}
	}
	if !errs.HasErrors() {
		t.Fatal("no error")
	}
	// New refuses the same options with the same findings.
	_, err := ratelimit.New(o)
	var fromNew field.Errors
	if !errors.As(err, &fromNew) || !slices.Equal(fromNew, errs) {
		t.Errorf("New: %v\nValidate: %v", err, errs)
	}
}

func TestValidate_Warnings(t *testing.T) {
	o := ratelimit.Options{
		Status: 503,
		Zones: map[string]ratelimit.Zone{
			"a":      {Rate: ratelimit.PerSecond(1), IPv6Prefix: 72},
			"unused": {Rate: ratelimit.PerSecond(1), OnBackendError: ratelimit.FailClosed},
			"open":   {Rate: ratelimit.PerSecond(1), Backend: "redis://127.0.0.1:6379/0", OnBackendError: ratelimit.FailOpen},
		},
		Rules: []ratelimit.Rule{
			{Prefix: "/", DryRun: true, Limits: []ratelimit.Limit{{Zone: "a"}}},
			{Prefix: "/login", Limits: []ratelimit.Limit{{Zone: "open"}}},
		},
	}
	errs := o.Validate()
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	got := findings(errs)
	for path, want := range map[string]string{
		"Status":                       "W 503 tells clients and monitoring the server failed",
		"Zones[a].IPv6Prefix":          "W /72 lets a client with a /64 use 2^8 keys",
		"Zones[unused]":                `W zone "unused" is not used by any rule`,
		"Zones[unused].OnBackendError": "W has no effect on a zone kept in memory",
		"Zones[open].OnBackendError":   "W fail_open stops limiting while the shared store is down",
		"Rules[0].DryRun":              "W requests over the limit are logged, not rejected",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: got %q, want %q", path, got[path], want)
		}
	}
	if len(errs) != 6 {
		t.Errorf("want 6 warnings, got %v", errs)
	}
}

// A rule's zones are decided in one step, on one store. Validate, which
// connects to nothing, must still find a rule mixing stores: by Backend,
// the store's name. Before, only New saw it, through the attached store,
// so a configuration check passed what the server then refused to start.
func TestValidate_RuleMixingStoresRefusedByBackend(t *testing.T) {
	rate := ratelimit.PerSecond(1)
	zones := map[string]ratelimit.Zone{
		"mem":   {Rate: rate},
		"red1":  {Rate: rate, Backend: "redis://127.0.0.1:6379/0"},
		"red1b": {Rate: rate, Backend: "redis://127.0.0.1:6379/0"},
		"red2":  {Rate: rate, Backend: "redis://127.0.0.1:6380/0"},
	}
	for _, c := range []struct {
		zones []string
		mixed bool
	}{
		{[]string{"red1", "mem"}, true},
		{[]string{"mem", "red1"}, true},
		{[]string{"red1", "red2"}, true},
		{[]string{"red1", "red1b"}, false},
		{[]string{"mem"}, false},
	} {
		o := ratelimit.Options{Zones: zones}
		ru := ratelimit.Rule{Prefix: "/"}
		for _, z := range c.zones {
			ru.Limits = append(ru.Limits, ratelimit.Limit{Zone: z})
		}
		o.Rules = []ratelimit.Rule{ru}
		got := findings(o.Validate())["Rules[0].Limits"]
		if mixed := strings.Contains(got, "zones of one rule must all be in memory or all on the same shared store"); mixed != c.mixed {
			t.Errorf("%v: finding %q, want mixed=%v", c.zones, got, c.mixed)
		}
		if strings.Contains(got, "redis://") {
			t.Errorf("%v: the finding names the store's URL: %q", c.zones, got)
		}
	}
}

// New needs the store of every zone that names a Backend; zones naming the
// same Backend must share one store, or one rule would decide on two.
func TestNew_BackendNeedsItsOneStore(t *testing.T) {
	rate := ratelimit.PerSecond(1)
	rule := []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "a"}, {Zone: "b"}}}}
	_, err := ratelimit.New(ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"a": {Rate: rate, Backend: "redis://x"}, "b": {Rate: rate, Backend: "redis://x", Shared: &fakeStore{}}},
		Rules: rule,
	})
	if err == nil || !strings.Contains(err.Error(), "Zones[a].Shared: is required on a zone with a Backend") {
		t.Errorf("a zone with a Backend and no store: err = %v", err)
	}
	o := ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"a": {Rate: rate, Backend: "redis://x", Shared: &fakeStore{}}, "b": {Rate: rate, Backend: "redis://x", Shared: &fakeStore{}}},
		Rules: rule,
	}
	if got := findings(o.Validate())["Zones[b].Shared"]; !strings.Contains(got, `is not the store of zone "a"`) {
		t.Errorf("two stores for one Backend: %q", got)
	}
	st := &fakeStore{}
	o.Zones = map[string]ratelimit.Zone{"a": {Rate: rate, Backend: "redis://x", Shared: st}, "b": {Rate: rate, Backend: "redis://x", Shared: st}}
	if _, err := ratelimit.New(o); err != nil {
		t.Errorf("one store for one Backend: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]ratelimit.Rate{"10r/s": 10000, "30r/m": 500, "1r/m": 16, "1r/s": 1000, "7r/m": 116, "0001r/s": 1000} {
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
		if err != nil {
			return
		}
		if r < 1 || r > ratelimit.MaxRate {
			t.Fatalf("ParseRate(%q) = %d", s, r)
		}
		if back, err := ratelimit.ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %d, written %q, read back as %d, %v", s, r, r.String(), back, err)
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
	for _, size := range []int64{1025 << 20, 100000 << 20, 1073741825} {
		_, err := ratelimit.New(ratelimit.Options{
			Zones: map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10), Size: size}},
			Rules: []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "api"}}}},
		})
		if err == nil || !strings.Contains(err.Error(), "Zones[api].Size: must be at most 1024m") {
			t.Fatalf("size %d: err = %v", size, err)
		}
	}
}

// Validate makes New's checks without allocating the zones: a `rampart
// config check` of a 1024m zone costs kilobytes, not the ~300 MB of states
// the running zone holds.
func TestValidate_NoZoneMemory(t *testing.T) {
	big := ratelimit.Options{
		Zones:  map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerSecond(10), Size: ratelimit.MaxZoneSize}},
		Rules:  []ratelimit.Rule{{Prefix: "/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 5}}}},
		Status: 503,
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	errs := big.Validate()
	runtime.ReadMemStats(&after)
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	if len(errs.Warnings()) == 0 {
		t.Error("status 503 warning lost")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("Validate allocated %d bytes for a 1024m zone", grew)
	}
}

func TestRate_String(t *testing.T) {
	for r, want := range map[ratelimit.Rate]string{
		ratelimit.PerSecond(10): "10r/s", ratelimit.PerMinute(30): "30r/m", ratelimit.PerMinute(1): "1r/m",
		ratelimit.PerMinute(7): "7r/m", ratelimit.PerMinute(120): "2r/s", ratelimit.MaxRate: "1000000r/s",
		0: "0 milli-requests/s",
	} {
		if got := r.String(); got != want {
			t.Errorf("Rate(%d).String() = %q, want %q", int64(r), got, want)
		}
	}
	// Every rate nginx can be configured with is written as it reads back.
	for n := int64(1); n <= 1_000_000; n += 1 + n/50 {
		for _, r := range []ratelimit.Rate{ratelimit.PerSecond(n), ratelimit.PerMinute(n)} {
			if back, err := ratelimit.ParseRate(r.String()); err != nil || back != r {
				t.Fatalf("%d milli-requests/s written %q, read back as %d, %v", int64(r), r.String(), int64(back), err)
			}
		}
	}
}

// A count too large for a rate must stay too large: PerSecond multiplies
// by 1000, and an int64 product that wraps can land on a small valid rate
// (18446744073709552 requests per second wrapped to 384 milli-requests),
// turning a typo into a limit a thousand times stricter or looser than
// meant, silently.
func TestRate_HugeCountDoesNotWrapIntoRange(t *testing.T) {
	for _, n := range []int64{18446744073709552, 1 << 62, -18446744073709552, -1} {
		for _, r := range []ratelimit.Rate{ratelimit.PerSecond(n), ratelimit.PerMinute(n)} {
			if r >= 1 && r <= ratelimit.MaxRate {
				t.Errorf("count %d gave the valid rate %d", n, int64(r))
			}
		}
	}
}
