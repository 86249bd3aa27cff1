package dashboard

import (
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/seclog"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hostile values a client can put into events.
const (
	hostileScript = `<script>alert(1)</script>`
	hostileBidi   = "admin\u202egnp.exe\u2066x"
)

// fixture is a dashboard with an hour of traffic, events (some hostile),
// bans, zones, certificates and a grade, on a fixed clock.
func fixture(t testing.TB) (*Dashboard, *Recorder, *clock) {
	t.Helper()
	c := newClock()
	start := c.Now()
	c.Add(-59 * time.Minute)
	rec := NewRecorder(RecorderOptions{Now: c.Now})
	for m := range 60 {
		// A daily pattern, a burst of rejections at minute 40 and 5xx
		// around 50.
		n := 40 + (m*7)%25
		for i := range n {
			status, by := 200, ""
			switch {
			case i%11 == 0:
				status = 404
			case m >= 38 && m <= 42 && i%3 == 0:
				status, by = 429, "ratelimit"
			case m >= 49 && m <= 51 && i%6 == 0:
				status = 502
			case i%17 == 0:
				status, by = 403, "csrf"
			}
			rec.Request(status, by)
		}
		if m >= 38 && m <= 42 {
			rec.Observe(seclog.Record{Time: c.Now(), Action: seclog.ExcessRateLimitExceeded,
				Client: netip.MustParseAddr("203.0.113.7"), Method: "GET", Path: "/api/search", Count: 3,
				Attrs: []slog.Attr{slog.String("zone", "api"), slog.Bool("dry_run", false)}})
		}
		if m%6 == 0 {
			rec.Observe(seclog.Record{Time: c.Now(), Action: seclog.AuthnLoginFail,
				Client: netip.MustParseAddr("198.51.100.23"), Method: "POST", Path: "/.rampart/login", User: "admin", Count: 1})
		}
		if m == 55 {
			rec.Observe(seclog.Record{Time: c.Now(), Action: seclog.MaliciousCSRF,
				Client: netip.MustParseAddr("2001:db8::bad"), Method: "POST", Path: "/transfer", Count: 1,
				Attrs: []slog.Attr{slog.String("reason", "cross-site origin")}})
			rec.Observe(seclog.Record{Time: c.Now(), Action: seclog.InputValidationFail,
				Client: netip.MustParseAddr("192.0.2.99"), Method: "GET", Path: "/" + hostileScript, User: hostileBidi, Count: 1,
				Attrs: []slog.Attr{slog.String("reason", hostileScript+hostileBidi)}})
			rec.Observe(seclog.Record{Time: c.Now(), Action: seclog.AuthnLoginSuccess,
				Client: netip.MustParseAddr("192.0.2.10"), Method: "POST", Path: "/.rampart/login", User: "alice", Count: 1})
		}
		if m < 59 {
			c.Add(time.Minute)
		}
	}
	if !c.Now().Equal(start) {
		t.Fatalf("fixture clock at %v, want %v", c.Now(), start)
	}
	now := c.Now()
	d, err := New(Options{
		Recorder: rec,
		Title:    "app.example.com, api.example.com",
		Now:      c.Now,
		Sources: Sources{
			Bans: func() []Ban {
				return []Ban{
					{Client: "203.0.113.7", Until: now.Add(47 * time.Minute), Reason: "20 excess_rate_limit_exceeded in 10m"},
					{Client: "198.51.100.23", Until: now.Add(3*time.Hour + 12*time.Minute), Reason: "5 authn_login_fail in 10m (2nd ban)"},
					{Client: "192.0.2.99", Reason: hostileScript + hostileBidi},
				}
			},
			Zones: func() []Zone {
				return []Zone{
					{Name: "api", Rate: "10r/s", Burst: 20, Key: "client"},
					{Name: "login", Rate: "5r/m", Burst: 5, Key: "client"},
				}
			},
			Certificates: func() []Cert {
				return []Cert{
					{Name: "/etc/rampart/tls/app.pem", Hosts: []string{"app.example.com", "api.example.com"}, NotAfter: now.Add(63 * 24 * time.Hour)},
					{Name: "/etc/rampart/tls/old.pem", Hosts: []string{"old.example.com"}, NotAfter: now.Add(9*24*time.Hour + time.Hour)},
				}
			},
			Grade: func() Grade {
				return Grade{Target: "https://app.example.com/", Grade: "A+", Score: 115, Checked: now.Add(-4 * time.Minute)}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, rec, c
}
