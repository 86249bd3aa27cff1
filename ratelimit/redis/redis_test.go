package redis_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/ratelimit/internal/vectortest"
	"github.com/rampart-dev/rampart/ratelimit/redis"
	"github.com/rampart-dev/rampart/seclog"
)

// prefix returns a key prefix unique to the test, so parallel runs and
// earlier runs never share state.
func prefix(t *testing.T) string {
	return fmt.Sprintf("rampart-test:%s:%d:", t.Name(), time.Now().UnixNano())
}

// newStore returns a store for o. Without a Timeout of its own, a test
// gets a generous one: the 100 ms default is a production budget, and a
// loaded test machine can stall a healthy Redis round trip past it, which
// would turn a decision into a backend error and fail an exact count.
func newStore(t *testing.T, o redis.Options) *redis.Store {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	s, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestVectors_Redis(t *testing.T) {
	addr := testenv.Redis(t)
	for _, v := range vectortest.Load(t, "../testdata/vectors.json") {
		if v.MemoryOnly {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			var now int64
			st := newStore(t, redis.Options{URL: "redis://" + addr, Prefix: prefix(t), Now: func() int64 { return now }})
			opts := vectortest.Options(v, &now, func(_ string, z *ratelimit.Zone) { z.Shared = st })
			l, err := ratelimit.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			vectortest.Run(t, v, l, &now)
			for _, z := range l.Zones() {
				if c, _ := l.Stats(z); c.BackendErrors != 0 {
					t.Errorf("zone %s: %d backend errors", z, c.BackendErrors)
				}
			}
		})
	}
}

func sharedLimiter(t *testing.T, st ratelimit.SharedStore, policy ratelimit.BackendErrorPolicy, log io.Writer) (*ratelimit.Limiter, http.Handler) {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	l, err := ratelimit.New(ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Rate: ratelimit.PerMinute(1), Shared: st, OnBackendError: policy}},
		Rules: []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 4, NoDelay: true}}}},
		Log:   seclog.New(slog.New(slog.NewJSONHandler(log, nil))),
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
}

func get(h http.Handler, ip string) int {
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.RemoteAddr = ip + ":1234"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// Two instances sharing a zone enforce one combined limit: a client
// spreading its requests over both gets burst+1, not twice that.
func TestShared_TwoInstancesOneLimit(t *testing.T) {
	addr := testenv.Redis(t)
	p := prefix(t)
	a := newStore(t, redis.Options{URL: "redis://" + addr, Prefix: p})
	b := newStore(t, redis.Options{URL: "redis://" + addr, Prefix: p})
	_, ha := sharedLimiter(t, a, "", nil)
	_, hb := sharedLimiter(t, b, "", nil)
	passed := 0
	for i := 0; i < 10; i++ {
		h := ha
		if i%2 == 1 {
			h = hb
		}
		if get(h, "192.0.2.1") == 200 {
			passed++
		}
	}
	if passed != 5 {
		t.Errorf("%d requests passed over two instances, want 5 (burst 4 + 1)", passed)
	}
	if get(ha, "192.0.2.2") != 200 || get(hb, "192.0.2.2") != 200 {
		t.Error("another client is limited")
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestShared_RedisDown(t *testing.T) {
	for _, c := range []struct {
		policy ratelimit.BackendErrorPolicy
		want   []int // codes of 6 requests from one client
	}{
		{ratelimit.FailClosed, []int{429, 429, 429, 429, 429, 429}},
		{ratelimit.FailOpen, []int{200, 200, 200, 200, 200, 200}},
		{ratelimit.FailLocal, []int{200, 200, 200, 200, 200, 429}},
		{"", []int{200, 200, 200, 200, 200, 429}},
	} {
		t.Run(string(c.policy), func(t *testing.T) {
			st := newStore(t, redis.Options{URL: "redis://" + closedPort(t), Prefix: prefix(t)})
			var log bytes.Buffer
			l, h := sharedLimiter(t, st, c.policy, &log)
			for i, want := range c.want {
				if got := get(h, "192.0.2.1"); got != want {
					t.Errorf("request %d: %d, want %d", i+1, got, want)
				}
			}
			if cnt, _ := l.Stats("api"); cnt.BackendErrors != 6 {
				t.Errorf("backend errors %d, want 6", cnt.BackendErrors)
			}
			if n := strings.Count(log.String(), `"event.action":"sys_monitor_disabled"`); n != 1 {
				t.Errorf("%d backend events logged, want 1 (sampled): %s", n, log.String())
			}
		})
	}
}

// proxy forwards TCP to Redis and can be cut and restored on the same port.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func (p *proxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Redis going away and coming back: decisions fall to the policy, then
// return to Redis by themselves.
func TestShared_RecoversAfterOutage(t *testing.T) {
	addr := testenv.Redis(t)
	p := &proxy{addr: "127.0.0.1:0", target: addr}
	p.start(t)
	defer p.cut()
	st := newStore(t, redis.Options{URL: "redis://" + p.addr, Prefix: prefix(t), MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	l, h := sharedLimiter(t, st, ratelimit.FailOpen, nil)
	for i := 0; i < 5; i++ {
		get(h, "192.0.2.1")
	}
	if get(h, "192.0.2.1") != 429 {
		t.Fatal("limit not enforced through Redis")
	}
	p.cut()
	if get(h, "192.0.2.1") != 200 {
		t.Fatal("fail_open did not open")
	}
	p.start(t)
	deadline := time.Now().Add(30 * time.Second) // guard only
	for get(h, "192.0.2.1") != 429 {
		if time.Now().After(deadline) {
			t.Fatal("did not recover")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, _ := l.Stats("api"); c.BackendErrors == 0 {
		t.Error("outage not counted")
	}
}

func TestNew_BadURLDoesNotEchoPassword(t *testing.T) {
	for _, u := range []string{"http://user:s3cret@host", "redis://user:s3cret@host:x/0", "redis://:s3cret@127.0.0.1:6379/abc"} {
		_, err := redis.New(redis.Options{URL: u})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v", u, err)
		}
	}
}

// Validate refuses what New refuses, without connecting: a URL go-redis
// cannot read passed a configuration check and stopped the server at
// start-up.
func TestValidate_RefusesWhatNewRefuses(t *testing.T) {
	for u, bad := range map[string]bool{
		"":                                   true,
		"redis://127.0.0.1:6379/abc":         true,
		"redis://127.0.0.1:6379/0?foo=bar":   true,
		"redis://127.0.0.1:6379/0/1":         true,
		"redis://127.0.0.1:6379/0":           false,
		"rediss://user@redis.example:6380/2": false,
	} {
		errs := redis.Options{URL: u}.Validate()
		_, err := redis.New(redis.Options{URL: u})
		if errs.HasErrors() != bad || (err != nil) != bad {
			t.Errorf("%q: Validate %v, New %v; want refused=%v", u, errs, err, bad)
		}
		if bad && (len(errs) != 1 || errs[0].Path != "URL") {
			t.Errorf("%q: findings %v, want one on URL", u, errs)
		}
	}
}

// Every state written has a TTL, so Redis memory is bounded by the keys
// active in the last minute, whatever the number of distinct clients.
func TestShared_StatesExpire(t *testing.T) {
	addr := testenv.Redis(t)
	p := prefix(t)
	st := newStore(t, redis.Options{URL: "redis://" + addr, Prefix: p})
	_, h := sharedLimiter(t, st, "", nil)
	for i := 0; i < 50; i++ {
		get(h, fmt.Sprintf("198.51.100.%d", i))
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := st.Key("api", "198.51.100.7/32")
	fmt.Fprintf(c, "PTTL %s\r\n", key)
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	reply := strings.TrimSpace(string(buf[:n]))
	var ttl int64
	if _, err := fmt.Sscanf(reply, ":%d", &ttl); err != nil || ttl <= 0 || ttl > 61000+4*62500 {
		t.Errorf("PTTL %s = %q", key, reply)
	}
}

// A Redis host that silently drops packets costs each decision the full
// timeout. When the backoff ends, one request probes it; the others keep
// their zone's policy at once instead of all waiting on the same dead host.
func TestShared_BlackholedRedisProbedByOneRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // accept, never answer
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	s := newStore(t, redis.Options{URL: "redis://" + ln.Addr().String() + "/0", Timeout: 300 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	limits := []ratelimit.SharedLimit{{Zone: "z", Key: "k", Rate: 1000, Burst: 0, Last: true}}
	if _, err := s.Take(t.Context(), limits, make([]int64, 1)); err == nil {
		t.Fatal("a blackholed Redis answered")
	}
	time.Sleep(50 * time.Millisecond) // past the backoff
	const n = 20
	var wg sync.WaitGroup
	var unavailable, probed int
	var cmu sync.Mutex
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Take(t.Context(), limits, make([]int64, 1))
			cmu.Lock()
			defer cmu.Unlock()
			if err == redis.ErrUnavailable {
				unavailable++
			} else {
				probed++
			}
		}()
	}
	wg.Wait()
	if probed != 1 || unavailable != n-1 {
		t.Errorf("%d requests waited on the dead host, %d failed fast; want 1 and %d", probed, unavailable, n-1)
	}
}
