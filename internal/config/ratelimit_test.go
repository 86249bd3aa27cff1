package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/ratelimit"
)

// findingAt returns the findings on key, written as config check writes
// them but with the file's base name.
func findingAt(fs Findings, key string) string {
	var out []string
	for _, f := range fs {
		if f.Key == key {
			f.Where = filepath.Base(f.Where)
			out = append(out, f.String())
		}
	}
	return strings.Join(out, "\n")
}

// A rule that puts one zone in Redis and another in memory cannot be
// enforced (one decision, one store). `config check` and `serve` both run
// Load, so the rule must be refused there, at the line of the rule's
// limits: before, it passed the check and failed at start-up, without a
// line to look at.
func TestLoad_MixedZoneRuleRefusedAtItsLine(t *testing.T) {
	y := minimal + `ratelimit:
  zones:
    shared: {rate: 10r/s, backend: 'redis://127.0.0.1:6379/0'}
    local: {rate: 10r/s}
  rules:
    - prefix: /api/
      limits: [{zone: shared, burst: 5}, {zone: local, burst: 5}]
`
	p, fs, _ := load(t, y, nil, Flags{})
	if p != nil {
		t.Fatalf("a rule mixing a shared and a local zone was accepted:\n%s", fmtFindings(fs))
	}
	want := "rampart.yaml:11: error: ratelimit.rules[0].limits: zones of one rule must all be in memory or all on the same shared store"
	if got := findingAt(fs, "ratelimit.rules[0].limits"); !strings.HasPrefix(got, want) {
		t.Errorf("want %q, got:\n%s", want, fmtFindings(fs))
	}
	// Two backends are two stores; one backend named by two zones is one.
	two := strings.Replace(y, "local: {rate: 10r/s}", "local: {rate: 10r/s, backend: 'redis://127.0.0.1:6380/0'}", 1)
	if p, fs, _ := load(t, two, nil, Flags{}); p != nil || !strings.Contains(fs.Error(), "ratelimit.rules[0].limits: zones of one rule") {
		t.Errorf("zones on two Redis servers in one rule accepted:\n%s", fmtFindings(fs))
	}
	one := strings.Replace(y, "local: {rate: 10r/s}", "local: {rate: 10r/s, backend: 'redis://127.0.0.1:6379/0'}", 1)
	if p, fs, _ := load(t, one, nil, Flags{}); p == nil {
		t.Errorf("zones on one Redis server refused:\n%s", fmtFindings(fs))
	}
}

// A value that does not parse is one finding at its key and line, not a
// second one from ratelimit seeing it unset.
func TestLoad_RateLimitValuesParsedAtTheirKey(t *testing.T) {
	y := minimal + `ratelimit:
  zones:
    api:
      rate: 10r/h
      size: 1g
      allow: [10.0.0.0/8, nonsense]
  rules: [{prefix: /api/, limits: [{zone: api}]}]
`
	p, fs, _ := load(t, y, nil, Flags{})
	if p != nil {
		t.Fatal("accepted")
	}
	for key, want := range map[string]string{
		"ratelimit.zones.api.rate":     `rampart.yaml:8: error: ratelimit.zones.api.rate: "10r/h": the unit must be "r/s" or "r/m"`,
		"ratelimit.zones.api.size":     `rampart.yaml:9: error: ratelimit.zones.api.size: "1g": invalid number "1g"`,
		"ratelimit.zones.api.allow[1]": `error: ratelimit.zones.api.allow[1]: "nonsense" is not an IP address or CIDR`,
	} {
		got := findingAt(fs, key)
		if !strings.Contains(got, want) || strings.Count(got, "error:") != 1 {
			t.Errorf("%s: want one finding %q, got:\n%s", key, want, fmtFindings(fs))
		}
	}
	if len(fs.Errors()) != 3 {
		t.Errorf("want 3 errors, got:\n%s", fmtFindings(fs))
	}
}

// ratelimit's own findings, named by Go field, come back at the YAML key
// and line the user wrote, with their hints.
func TestLoad_RateLimitFindingsAtTheirKeys(t *testing.T) {
	y := minimal + `ratelimit:
  status: 503
  zones:
    api: {rate: 10r/s, ipv6_prefix: 80, on_backend_error: fail_closed}
    idle: {rate: 1r/s}
  rules:
    - prefix: /api/
      dry_run: true
      limits:
        - {zone: api, burst: -1}
`
	_, fs, _ := load(t, y, nil, Flags{})
	for key, want := range map[string]string{
		"ratelimit.status":                     "rampart.yaml:6: warning: ratelimit.status: 503 tells clients and monitoring the server failed\n\thint: 429 says",
		"ratelimit.zones.api.ipv6_prefix":      "rampart.yaml:8: warning: ratelimit.zones.api.ipv6_prefix: /80 lets a client with a /64 use 2^16 keys",
		"ratelimit.zones.api.on_backend_error": "rampart.yaml:8: warning: ratelimit.zones.api.on_backend_error: has no effect on a zone kept in memory",
		"ratelimit.zones.idle":                 `rampart.yaml:9: warning: ratelimit.zones.idle: zone "idle" is not used by any rule`,
		"ratelimit.rules[0].dry_run":           "rampart.yaml:12: warning: ratelimit.rules[0].dry_run: requests over the limit are logged, not rejected",
		"ratelimit.rules[0].limits[0].burst":   "rampart.yaml:14: error: ratelimit.rules[0].limits[0].burst: must be between 0 and 1000000, got -1",
	} {
		if got := findingAt(fs, key); !strings.Contains(got, want) {
			t.Errorf("%s: want %q, got:\n%s", key, want, fmtFindings(fs))
		}
	}
}

// The flood guard that applies without a ratelimit section is built
// afresh for every load. It was an exported variable, copied shallowly:
// anything in the process that changed its zone map (the map shared by
// every copy) weakened the limit of every later configuration.
func TestLoad_DefaultFloodGuardCannotBeChangedForLaterLoads(t *testing.T) {
	d := defaultRateLimit()
	d.Zones["per_client"] = RateZone{Rate: "1000000r/s"}
	d.Rules[0].Limits[0].Burst = 1_000_000
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	z := p.RateLimit.Zones["per_client"]
	if z.Rate != ratelimit.PerSecond(50) || z.Size != 10<<20 || z.Key != "client_ip" {
		t.Errorf("flood guard zone = %+v, want 50r/s, 10m, client_ip", z)
	}
	r := p.RateLimit.Rules
	if len(r) != 1 || r[0].Prefix != "/" || len(r[0].Limits) != 1 || r[0].Limits[0].Burst != 200 || !r[0].Limits[0].NoDelay {
		t.Errorf("flood guard rules = %+v, want / burst 200 nodelay", r)
	}
	// The environment amends a fresh copy too.
	p, fs, _ = load(t, minimal, map[string]string{"RAMPART_RATELIMIT_STATUS": "503"}, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if z := p.RateLimit.Zones["per_client"]; z.Rate != ratelimit.PerSecond(50) || p.RateLimit.Status != 503 {
		t.Errorf("flood guard under an environment key: status %d, zone %+v", p.RateLimit.Status, z)
	}
}

func TestLoad_RateLimitBackendPasswords(t *testing.T) {
	rl := func(zones string) string {
		return minimal + "ratelimit:\n  zones:\n" + zones + "  rules: [{prefix: /api/, limits: [{zone: a, burst: 20}, {zone: b}]}]\n"
	}
	env := map[string]string{"PW_A": "Zq3vLr8pWx2nTb6yKd9sHf4jMc7gRe1u", "PW_B": "Hn5tYw2kPq8rLz3vXc6bJm9dFs4gTe7a"}
	// Zones on one URL are one store with one password.
	_, fs, _ := load(t, rl("    a: {rate: 1r/s, backend: 'redis://127.0.0.1:6379/0', password_secret: PW_A}\n"+
		"    b: {rate: 1r/s, backend: 'redis://127.0.0.1:6379/0', password_secret: PW_B}\n"), env, Flags{})
	want := "error: ratelimit.zones.b.password_secret: differs from zone a's, which has the same backend"
	if got := findingAt(fs, "ratelimit.zones.b.password_secret"); !strings.Contains(got, want) {
		t.Errorf("want %q, got:\n%s", want, fmtFindings(fs))
	}
	for _, v := range env {
		if strings.Contains(fmtFindings(fs), v) {
			t.Errorf("a password reached a finding:\n%s", fmtFindings(fs))
		}
	}
	p, fs, _ := load(t, rl("    a: {rate: 1r/s, backend: 'redis://127.0.0.1:6379/0', password_secret: PW_A}\n"+
		"    b: {rate: 1r/s, backend: 'redis://127.0.0.1:6379/0', password_secret: PW_A}\n"), env, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if p.RateLimitBackends["b"].Password != env["PW_A"] || p.RateLimit.Zones["b"].Backend != "redis://127.0.0.1:6379/0" {
		t.Errorf("backend not planned: %+v %+v", p.RateLimitBackends, p.RateLimit.Zones["b"])
	}
	// A password secret without a backend is said to do nothing, where
	// it is written.
	_, fs, _ = load(t, rl("    a: {rate: 1r/s, password_secret: PW_A}\n    b: {rate: 1r/s}\n"), env, Flags{})
	if got := findingAt(fs, "ratelimit.zones.a.password_secret"); !strings.Contains(got, "warning: ratelimit.zones.a.password_secret: has no effect without a backend") {
		t.Errorf("password_secret without backend: %s", fmtFindings(fs))
	}
}

// Every key of the ratelimit section names, in its plan tag, a field of
// the Plan that exists (or "-" for a key that sets none, a secret's name),
// so every ratelimit finding can find its way back to a key.
func TestKeys_RateLimitKeysReachPlanFields(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[RateLimit](), reflect.TypeFor[RateZone](), reflect.TypeFor[RateRule](), reflect.TypeFor[RateLimitLine]()} {
		for i := range typ.NumField() {
			sf := typ.Field(i)
			tag, ok := sf.Tag.Lookup("plan")
			if !ok || tag == "" {
				t.Errorf("%s.%s has no plan tag", typ.Name(), sf.Name)
				continue
			}
			if tag == "-" {
				continue
			}
			if _, why := planFieldType(tag); why != "" {
				t.Errorf("%s.%s: plan tag %q: %s", typ.Name(), sf.Name, tag, why)
			}
		}
	}
	n := 0
	for _, m := range keyMappings() {
		if strings.HasPrefix(m.yaml, "ratelimit.") {
			n++
			if got := yamlKeyOf(strings.NewReplacer("[*]", "[z]", "[#]", "[3]").Replace(m.plan)); got != strings.NewReplacer(".*", ".z", "[#]", "[3]").Replace(m.yaml) {
				t.Errorf("%s → %s → %s", m.yaml, m.plan, got)
			}
		}
	}
	if n != 26 { // 21 keys, and the entries of zones, rules, limits, methods and allow
		t.Errorf("%d ratelimit keys in the table, want 26", n)
	}
}

// A backend URL the Redis store cannot read (a database that is not a
// number, an option go-redis does not know) is refused by Load at its
// line, as the store refuses it when the gateway starts; before, it
// passed config check and stopped serve.
func TestLoad_BackendURLTheStoreRefusesIsRefused(t *testing.T) {
	for _, u := range []string{"redis://127.0.0.1:6379/abc", "redis://127.0.0.1:6379/0?foo=bar"} {
		y := minimal + "ratelimit:\n  zones:\n    api:\n      rate: 10r/s\n      backend: '" + u + "'\n  rules: [{prefix: /api/, limits: [{zone: api}]}]\n"
		p, fs, _ := load(t, y, nil, Flags{})
		want := "rampart.yaml:9: error: ratelimit.zones.api.backend: is not a valid redis:// or rediss:// URL"
		if got := findingAt(fs, "ratelimit.zones.api.backend"); p != nil || !strings.HasPrefix(got, want) {
			t.Errorf("%s: want %q, got:\n%s", u, want, fmtFindings(fs))
		}
	}
}
