package ratelimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/seclog"
)

// parityZone is one limit_req_zone keyed by $http_x_key, and its limit_req.
type parityZone struct {
	global  bool // keyed by $http_x_global, which every request sets to "g"
	rate    string
	burst   int
	nodelay bool
	delay   int
}

// parityGroup is n requests with key sent together at ms after the start.
type parityGroup struct {
	ms  int
	key string
	n   int
}

type parityScenario struct {
	name   string
	zones  []parityZone
	groups []parityGroup
}

// Scenarios are spaced so that each decision stays the same if any group
// moves by up to 15 ms (checked by robustSchedule): nginx's clock is the
// cached time of its event loop, and neither side is real-time.
var parityScenarios = []parityScenario{
	{"seed_10rs_burst20_nodelay", []parityZone{{rate: "10r/s", burst: 20, nodelay: true}},
		[]parityGroup{{0, "a", 23}, {150, "a", 2}, {1250, "a", 12}, {1250, "b", 1}}},
	{"rm_burst0", []parityZone{{rate: "30r/m", nodelay: true}},
		[]parityGroup{{0, "a", 2}, {1000, "a", 1}, {3000, "a", 2}}},
	{"rs_burst0", []parityZone{{rate: "2r/s", nodelay: true}},
		[]parityGroup{{0, "a", 2}, {250, "a", 1}, {750, "a", 2}, {1750, "a", 1}}},
	{"default_delay", []parityZone{{rate: "10r/s", burst: 5}},
		[]parityGroup{{0, "a", 7}, {350, "a", 3}, {350, "b", 2}}},
	{"delay_2", []parityZone{{rate: "10r/s", burst: 5, delay: 2}},
		[]parityGroup{{0, "a", 7}, {350, "a", 3}, {1550, "a", 3}}},
	{"rm_burst20_delay", []parityZone{{rate: "60r/m", burst: 20, delay: 18}},
		[]parityGroup{{0, "a", 21}, {1500, "a", 3}}},
	{"two_zones", []parityZone{{rate: "10r/s", burst: 2, nodelay: true}, {rate: "2r/s", burst: 3, nodelay: true}},
		[]parityGroup{{0, "k", 4}, {150, "k", 2}, {450, "k", 2}, {1450, "k", 3}}},
	{"two_zones_delay", []parityZone{{rate: "2r/s", burst: 4}, {rate: "10r/s", burst: 3, nodelay: true}},
		[]parityGroup{{0, "k", 5}, {250, "k", 2}}},
	{"two_zones_per_key_and_global", []parityZone{{rate: "10r/s", burst: 5, nodelay: true}, {global: true, rate: "1r/s", burst: 2, nodelay: true}},
		[]parityGroup{{0, "a", 2}, {150, "b", 2}, {450, "c", 1}, {1650, "c", 1}}},
	{"empty_key_not_limited", []parityZone{{rate: "1r/s", nodelay: true}},
		[]parityGroup{{0, "", 5}, {0, "a", 2}}},
	{"idle_key_returns", []parityZone{{rate: "10r/s", burst: 3, nodelay: true}},
		[]parityGroup{{0, "a", 5}, {2050, "a", 5}}},
}

// outcome counts per group: "key:pass", "key:delay", "key:reject".
type outcome map[string]int

func (o outcome) String() string {
	var s []string
	for k, v := range o {
		s = append(s, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// mustRate reads a scenario's rate, written as nginx is configured.
func mustRate(s string) ratelimit.Rate {
	r, err := ratelimit.ParseRate(s)
	if err != nil {
		panic(err)
	}
	return r
}

func scenarioOptions(i int, sc parityScenario) (map[string]ratelimit.Zone, ratelimit.Rule) {
	zones := map[string]ratelimit.Zone{}
	ru := ratelimit.Rule{Prefix: fmt.Sprintf("/s%d/", i)}
	for j, z := range sc.zones {
		name := fmt.Sprintf("s%d_%d", i, j)
		key := "header:X-Key"
		if z.global {
			key = "header:X-Global"
		}
		zones[name] = ratelimit.Zone{Key: key, Rate: mustRate(z.rate), Size: 1 << 20}
		ru.Limits = append(ru.Limits, ratelimit.Limit{Zone: name, Burst: z.burst, NoDelay: z.nodelay, Delay: z.delay})
	}
	return zones, ru
}

// simulate decides sc on a virtual clock, each group moved by shift[g] ms
// and each request by 1 ms after the previous one of its group.
func simulate(t *testing.T, i int, sc parityScenario, shift []int) []outcome {
	zones, ru := scenarioOptions(i, sc)
	var now int64
	l, err := ratelimit.New(ratelimit.Options{Zones: zones, Rules: []ratelimit.Rule{ru}, Now: func() int64 { return now },
		Log: seclog.New(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]outcome, len(sc.groups))
	order := make([]int, len(sc.groups))
	for g := range order {
		order[g] = g
	}
	sort.SliceStable(order, func(a, b int) bool {
		return sc.groups[order[a]].ms+shift[order[a]] < sc.groups[order[b]].ms+shift[order[b]]
	})
	for _, g := range order {
		gr := sc.groups[g]
		out[g] = outcome{}
		for k := 0; k < gr.n; k++ {
			now = int64(1_000_000 + gr.ms + shift[g] + k)
			r := httptest.NewRequest("GET", ru.Prefix+"x", nil)
			r.Header.Set("X-Key", gr.key)
			r.Header.Set("X-Global", "g")
			d, _ := l.Check(r)
			out[g][gr.key+":"+d.Action.String()]++
		}
	}
	return out
}

// robustSchedule fails if moving groups by ±15 ms changes a decision: such
// a schedule would compare clock noise, not semantics.
func robustSchedule(t *testing.T, i int, sc parityScenario) []outcome {
	want := simulate(t, i, sc, make([]int, len(sc.groups)))
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	for trial := 0; trial < 64; trial++ {
		shift := make([]int, len(sc.groups))
		for g := range shift {
			shift[g] = rng.IntN(31) - 15
		}
		got := simulate(t, i, sc, shift)
		for g := range got {
			if got[g].String() != want[g].String() {
				t.Fatalf("%s: schedule not robust: group %d with shifts %v gives %v, unshifted %v", sc.name, g, shift, got[g], want[g])
			}
		}
	}
	return want
}

func TestNginxParity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx")
	}
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	for i, sc := range parityScenarios {
		robustSchedule(t, i, sc)
	}
	dir := t.TempDir()
	port := freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  limit_req_status 429;
`, dir)
	var locs strings.Builder
	for i, sc := range parityScenarios {
		fmt.Fprintf(&locs, "    location /s%d/ {\n", i)
		for j, z := range sc.zones {
			v := "$http_x_key"
			if z.global {
				v = "$http_x_global"
			}
			fmt.Fprintf(&conf, "  limit_req_zone %s zone=s%d_%d:1m rate=%s;\n", v, i, j, z.rate)
			fmt.Fprintf(&locs, "      limit_req zone=s%d_%d", i, j)
			if z.burst > 0 { // nginx rejects "burst=0"; omitted, it is 0
				fmt.Fprintf(&locs, " burst=%d", z.burst)
			}
			switch {
			case z.nodelay:
				locs.WriteString(" nodelay")
			case z.delay > 0:
				fmt.Fprintf(&locs, " delay=%d", z.delay)
			}
			locs.WriteString(";\n")
		}
		fmt.Fprintf(&locs, "      add_header X-Limit-Req $limit_req_status always;\n      root %s/www;\n    }\n", dir)
		if err := os.MkdirAll(filepath.Join(dir, "www", fmt.Sprintf("s%d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "www", fmt.Sprintf("s%d", i), "x"), []byte("ok\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(&conf, "  server {\n    listen 127.0.0.1:%d;\n%s  }\n}\n", port, locs.String())
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	nginxURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", port), dir)

	// rampart with the same zones and rules.
	opts := ratelimit.Options{Zones: map[string]ratelimit.Zone{}, Log: seclog.New(slog.New(slog.DiscardHandler))}
	for i, sc := range parityScenarios {
		zones, ru := scenarioOptions(i, sc)
		for k, v := range zones {
			opts.Zones[k] = v
		}
		opts.Rules = append(opts.Rules, ru)
	}
	type actionKey struct{}
	opts.OnDecision = func(r *http.Request, d ratelimit.Decision) {
		if p, ok := r.Context().Value(actionKey{}).(*ratelimit.Action); ok {
			*p = d.Action
		}
	}
	l, err := ratelimit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	limited := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Context().Value(actionKey{}).(*ratelimit.Action)
		if *a == ratelimit.Delay {
			w.Header().Set("X-Limit-Req", "DELAYED")
		} else {
			w.Header().Set("X-Limit-Req", "PASSED")
		}
		w.Write([]byte("ok\n"))
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a ratelimit.Action
		limited.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actionKey{}, &a)))
	}))
	defer srv.Close()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// The schedules are robust to 15 ms of jitter, which a loaded machine
	// can exceed (a stalled goroutine, a slow nginx event loop). A real
	// difference in semantics shows on every run, clock noise does not: a
	// run that disagrees is repeated with fresh keys, and the test fails
	// only when every run disagrees.
	const runs = 3
	var diffs []string
	for run := range runs {
		diffs = parityRun(t, client, nginxURL, srv.URL, strconv.Itoa(run))
		if len(diffs) == 0 {
			break
		}
		t.Logf("run %d of %d disagrees:\n%s", run+1, runs, strings.Join(diffs, "\n"))
	}
	for _, d := range diffs {
		t.Error(d)
	}
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Logf("nginx error.log:\n%s", b)
	}
}

// parityRun sends every scenario's schedule to nginx and to rampart at
// once and returns the groups whose outcomes differ. suffix is appended to
// every non-empty key so that a run starts from fresh states.
func parityRun(t *testing.T, client *http.Client, nginxURL, rampartURL, suffix string) []string {
	var wg sync.WaitGroup
	results := make([][2][]outcome, len(parityScenarios))
	for i, sc := range parityScenarios {
		for side := range 2 {
			results[i][side] = make([]outcome, len(sc.groups))
			for g := range sc.groups {
				results[i][side][g] = outcome{}
			}
		}
	}
	var mu sync.Mutex
	start := time.Now().Add(200 * time.Millisecond)
	for i, sc := range parityScenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reqs sync.WaitGroup
			for g, gr := range sc.groups {
				time.Sleep(time.Until(start.Add(time.Duration(gr.ms) * time.Millisecond)))
				for k := 0; k < gr.n; k++ {
					for side, base := range []string{nginxURL, rampartURL} {
						reqs.Add(1)
						go func() {
							defer reqs.Done()
							res := send(client, fmt.Sprintf("%s/s%d/x", base, i), gr.key, suffix)
							mu.Lock()
							results[i][side][g][gr.key+":"+res]++
							mu.Unlock()
						}()
					}
				}
			}
			reqs.Wait()
		}()
	}
	wg.Wait()
	var diffs []string
	for i, sc := range parityScenarios {
		want := simulate(t, i, sc, make([]int, len(sc.groups)))
		for g := range sc.groups {
			ng, rp := results[i][0][g].String(), results[i][1][g].String()
			if ng != rp {
				diffs = append(diffs, fmt.Sprintf("%s group %d (%+v): nginx %s, rampart %s", sc.name, g, sc.groups[g], ng, rp))
			} else if ng != want[g].String() {
				t.Logf("%s group %d: both %s, virtual clock %s", sc.name, g, ng, want[g])
			}
		}
	}
	return diffs
}

func send(c *http.Client, url, key, suffix string) string {
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		key += suffix
	}
	req.Header.Set("X-Key", key)
	req.Header.Set("X-Global", "g"+suffix)
	resp, err := c.Do(req)
	if err != nil {
		return "error"
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == 429:
		return "reject"
	case resp.StatusCode != 200:
		return fmt.Sprintf("status%d", resp.StatusCode)
	case resp.Header.Get("X-Limit-Req") == "DELAYED":
		return "delay"
	case resp.Header.Get("X-Limit-Req") == "PASSED":
		return "pass"
	case resp.Header.Get("X-Limit-Req") == "":
		return "pass" // every key empty: nginx leaves $limit_req_status unset
	}
	return "unknown"
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr, dir string) {
	for i := 0; i < 500; i++ { // 10 s: nginx starts slowly on a loaded machine
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	t.Fatalf("nginx did not start: %s", b)
}
