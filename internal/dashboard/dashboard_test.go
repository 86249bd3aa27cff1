package dashboard

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/check"
	"github.com/rampart-dev/rampart/seclog"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func get(t testing.TB, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// Every response, the page, its stylesheet, its icon and the errors,
// carries the strict policy, nosniff and no-store.
func TestDashboard_SecurityHeaders(t *testing.T) {
	d, _, _ := fixture(t)
	for _, x := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/dashboard.css", 200, "text/css; charset=utf-8"},
		{"GET", "/favicon.svg", 200, "image/svg+xml"},
		{"GET", "/favicon.ico", 200, "image/svg+xml"},
		{"GET", "/nope", 404, ""},
		{"GET", "/dashboard.css/", 404, ""},
		{"POST", "/", 405, ""},
		{"DELETE", "/dashboard.css", 405, ""},
	} {
		w := get(t, d, x.method, x.path)
		h := w.Header()
		if w.Code != x.status {
			t.Errorf("%s %s: %d, want %d", x.method, x.path, w.Code, x.status)
		}
		if x.ctype != "" && h.Get("Content-Type") != x.ctype {
			t.Errorf("%s %s: Content-Type %q", x.method, x.path, h.Get("Content-Type"))
		}
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-store",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s %s: %s = %q, want %q", x.method, x.path, k, h.Get(k), v)
			}
		}
		if x.method == "HEAD" && w.Body.Len() != 0 {
			t.Errorf("HEAD answered with a body")
		}
	}
	if w := get(t, d, "POST", "/"); w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("405 without Allow: %q", w.Header().Get("Allow"))
	}
}

// The page has no script, no inline style or handler and nothing from
// elsewhere: what the CSP would refuse is not there to refuse.
func TestDashboard_NoScriptNoInlineStyle(t *testing.T) {
	d, _, _ := fixture(t)
	body := get(t, d, "GET", "/").Body.String()
	for _, bad := range []string{"<script", "<style", " style=", " onclick", " onload", "javascript:", "http://", "https://fonts", "<iframe", "<form"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, must := range []string{`<meta http-equiv="refresh" content="10">`, `<link rel="stylesheet" href="dashboard.css">`, `<html lang="en">`} {
		if !strings.Contains(body, must) {
			t.Errorf("page lacks %s", must)
		}
	}
}

// Hostile values in events (the request path, the user, an attribute)
// and in the sources (a ban's reason, a zone, a certificate's name, the
// title) are shown as text: html/template escapes them, and the bidi and
// other format characters are gone.
func TestDashboard_EscapesHostileValues(t *testing.T) {
	c := newClock()
	rec := NewRecorder(RecorderOptions{Now: c.Now})
	evil := hostileScript + `"'><img src=x onerror=alert(2)>` + hostileBidi + "\x1b[31m\u200b"
	rec.Observe(seclog.Record{Time: c.Now(), Action: seclog.InputValidationFail + evil, Client: netip.MustParseAddr("192.0.2.1"),
		Method: evil, Path: "/" + evil, User: evil, Count: 1,
		Attrs: []slog.Attr{slog.String("reason", evil), slog.String("zone", evil)}})
	d, err := New(Options{
		Recorder: rec, Now: c.Now, Title: evil,
		Sources: Sources{
			Bans:         func() []Ban { return []Ban{{Client: evil, Reason: evil, Until: c.Now().Add(time.Hour)}} },
			Zones:        func() []Zone { return []Zone{{Name: evil, Rate: evil, Key: evil}} },
			Certificates: func() []Cert { return []Cert{{Name: evil, Hosts: []string{evil}, NotAfter: c.Now()}} },
			Grade:        func() Grade { return Grade{Target: evil, Err: evil, Checked: c.Now()} },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := get(t, d, "GET", "/").Body.String()
	for _, bad := range []string{"<script", "<img", "onerror=alert(2)>", "\u202e", "\u2066", "\u200b", "\x1b"} {
		if strings.Contains(body, bad) {
			t.Errorf("hostile value reached the page raw: %q", bad)
		}
	}
	if n := strings.Count(body, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 8 {
		t.Errorf("the hostile value is shown escaped %d times, want it in every section", n)
	}
}

// The zero Options is a valid dashboard that says what is missing.
func TestDashboard_NotConfigured(t *testing.T) {
	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := get(t, d, "GET", "/")
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	if n := strings.Count(body, "Not configured"); n != 7 {
		t.Errorf(`%d "Not configured" sections, want 7`, n)
	}
	if strings.Contains(body, "<svg viewBox=\"0 0 640") {
		t.Errorf("charts drawn without a recorder")
	}
}

// A source that panics shows as unavailable; the rest of the page renders.
func TestDashboard_SourcePanics(t *testing.T) {
	d, err := New(Options{
		Recorder: NewRecorder(RecorderOptions{}),
		Logger:   slog.New(slog.DiscardHandler),
		Sources: Sources{
			Bans:         func() []Ban { panic("store closed") },
			Zones:        func() []Zone { panic("nil map") },
			Certificates: func() []Cert { panic("boom") },
			Grade:        func() Grade { panic("boom") },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := get(t, d, "GET", "/")
	body := w.Body.String()
	if w.Code != 200 || strings.Count(body, "Unavailable") != 3 || !strings.Contains(body, "the grade source failed") {
		t.Errorf("status %d; body:\n%s", w.Code, body)
	}
}

// Charts: one bar per non-zero series value, each with a title, the SVG
// labelled by its title and description, the summary and the table.
func TestDashboard_Charts(t *testing.T) {
	d, rec, _ := fixture(t)
	body := get(t, d, "GET", "/").Body.String()
	s := rec.Stats(10)
	want := 0
	for i := range buckets {
		ok := s.Requests[i] - s.ClientErrors[i] - s.ServerErrors[i]
		for _, v := range []uint64{ok, s.ClientErrors[i], s.ServerErrors[i], s.Rejected[i]} {
			if v > 0 {
				want++
			}
		}
	}
	if got := strings.Count(body, "<rect "); got != want || want == 0 {
		t.Errorf("%d bars drawn, want %d", got, want)
	}
	for _, must := range []string{
		`role="img" aria-labelledby="requests-t requests-d"`,
		`<title id="requests-t">Requests per minute</title>`,
		`<polyline class="s-line"`,
		"Last 60 minutes, 14:10 to 15:09 UTC, per minute: 2554 1xx–3xx, 539 4xx, 22 5xx in all",
		`<th scope="col">Minute (UTC)</th>`,
	} {
		if !strings.Contains(body, must) {
			t.Errorf("page lacks %s", must)
		}
	}
}

// The whole page for the fixture, against testdata/page.golden (rewrite
// with -update and review the diff).
func TestDashboard_Golden(t *testing.T) {
	d, _, _ := fixture(t)
	body := get(t, d, "GET", "/").Body.Bytes()
	path := filepath.Join("testdata", "page.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want) {
		t.Errorf("page differs from %s (run with -update and review the diff)", path)
	}
}

func TestDashboard_Sections(t *testing.T) {
	d, _, _ := fixture(t)
	body := get(t, d, "GET", "/").Body.String()
	for _, must := range []string{
		// bans, soonest first, the permanent one last
		`<code>203.0.113.7</code></th><td><time datetime="2026-03-14T15:56:26Z">15:56:26 UTC</time> <span class="muted">(in 47m)</span>`,
		`until removed`,
		// zones with their rejections from the events: 5 events × 3
		`<code>api</code></th><td>10r/s</td><td class="num">20</td><td><code>client</code></td><td class="num">15</td>`,
		// certificates, soonest first, flagged
		`2026-03-23</time> <span class="tag warn">renew soon</span></td><td class="num">9</td>`,
		// the grade
		`<span class="visually-hidden">Grade </span>A&#43;</p>`,
		// top offender
		`<code>203.0.113.7</code></th><td class="num">15</td>`,
	} {
		if !strings.Contains(body, must) {
			t.Errorf("page lacks %s", must)
		}
	}
}

func TestOptions_Validate(t *testing.T) {
	if errs := (Options{}).Validate(); errs.HasErrors() {
		t.Errorf("zero Options: %v", errs)
	}
	for _, o := range []Options{
		{Refresh: time.Second},
		{TopOffenders: -1},
		{TopOffenders: 5000},
		{CertWarn: -time.Hour},
		{Title: strings.Repeat("x", 201)},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestGrader(t *testing.T) {
	c := newClock()
	fail := false
	g := NewGrader(GraderOptions{
		Target: "https://app.example.com/",
		Now:    c.Now,
		Run: func(ctx context.Context, target string, o check.Options) (*check.Report, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("audit without a deadline")
			}
			if fail {
				return nil, errors.New("dial tcp: connection refused\x1b[2J")
			}
			return &check.Report{Grade: "B+", Score: 80}, nil
		},
	})
	if got := g.Grade(); !got.Checked.IsZero() || got.Grade != "" {
		t.Fatalf("before any audit: %+v", got)
	}
	g.Once(context.Background())
	if got := g.Grade(); got.Grade != "B+" || got.Score != 80 || !got.Checked.Equal(c.Now()) {
		t.Fatalf("after an audit: %+v", got)
	}
	fail = true
	g.Once(context.Background())
	if got := g.Grade(); got.Grade != "" || got.Err != "dial tcp: connection refused?[2J" {
		t.Fatalf("after a failed audit: %+v", got)
	}

	// Run audits at once and stops with its context.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	fail = false
	g2 := NewGrader(GraderOptions{Target: "https://x.test/", Run: func(context.Context, string, check.Options) (*check.Report, error) {
		cancel()
		return &check.Report{Grade: "A"}, nil
	}})
	go func() { g2.Run(ctx); close(done) }()
	<-done
	if g2.Grade().Grade != "A" {
		t.Errorf("Run did not audit at once: %+v", g2.Grade())
	}
}

// eventPage renders a page with one event.
func eventPage(t testing.TB, path, user, attr string) string {
	rec := NewRecorder(RecorderOptions{})
	rec.Observe(seclog.Record{Action: seclog.AuthzFail, Path: path, User: user, Client: netip.MustParseAddr("192.0.2.1"),
		Attrs: []slog.Attr{slog.String("reason", attr)}})
	d, err := New(Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return get(t, d, "GET", "/").Body.String()
}

// FuzzDashboard_Event: whatever a client puts into an event, the page has
// exactly the markup of a page with a plain event (every '<' of the value
// escaped), and no format character.
func FuzzDashboard_Event(f *testing.F) {
	f.Add("/"+hostileScript, hostileBidi, "x")
	f.Add("/a", "b", `"><svg onload=alert(1)>`)
	f.Add("/\u003c", "<!--", "]]><![CDATA[")
	tags := strings.Count(eventPage(f, "/a", "u", "r"), "<")
	f.Fuzz(func(t *testing.T, path, user, attr string) {
		body := eventPage(t, path, user, attr)
		if got := strings.Count(body, "<"); got != tags {
			t.Fatalf("%d '<' in the page, want %d: a value became markup", got, tags)
		}
		if strings.ContainsAny(body, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200e\u200f") {
			t.Fatal("a format character reached the page")
		}
	})
}

func BenchmarkDashboard_Page(b *testing.B) {
	d, _, _ := fixture(b)
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		d.ServeHTTP(httptest.NewRecorder(), req)
	}
}
