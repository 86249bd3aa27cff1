package seclog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/requestid"
)

func TestEvent_FieldsAndInjection(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	r := httptest.NewRequest("GET", "/login%0a{\"event\":\"authn_login_success\"}", nil)
	r = r.WithContext(clientip.NewContext(requestid.NewContext(r.Context(), "rid"), netip.MustParseAddr("198.51.100.7")))
	l.Event(r.Context(), r, slog.LevelWarn, AuthnLoginFail, "login failed", slog.String("user", "bob\n{\"x\":1}"))
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("one event must be one line, got %d: %q", n, buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["event.action"] != AuthnLoginFail || m["event.category"] != "authentication" || m["event.outcome"] != "failure" ||
		m["source.ip"] != "198.51.100.7" || m["http.request.id"] != "rid" || m["http.request.method"] != "GET" || m["user.name"] == nil {
		t.Errorf("fields: %v", m)
	}
}

func TestEvent_NilLoggerIsNotSilent(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer slog.SetDefault(old)
	var l *Logger
	l.Event(t.Context(), nil, slog.LevelWarn, SysMonitorDisabled, "x")
	if !strings.Contains(buf.String(), SysMonitorDisabled) {
		t.Error("a nil Logger dropped a security event")
	}
}

// A flood of events for one key is logged Burst times per interval; the
// suppressed count is reported with the next logged event.
func TestSampler_FloodIsBounded(t *testing.T) {
	s := &Sampler{Burst: 2, Interval: 50 * time.Millisecond, MaxKeys: 2}
	logged := 0
	for range 1000 {
		if ok, _ := s.Allow("1.2.3.4"); ok {
			logged++
		}
	}
	if logged != 2 {
		t.Errorf("logged %d of a flood, want 2", logged)
	}
	if ok, _ := s.Allow("other"); !ok {
		t.Error("another key was starved")
	}
	if ok, _ := s.Allow("third"); ok {
		t.Error("MaxKeys exceeded")
	}
	time.Sleep(60 * time.Millisecond)
	ok, sup := s.Allow("1.2.3.4")
	if !ok || sup != 998 {
		t.Errorf("after the interval: ok=%v suppressed=%d, want true 998", ok, sup)
	}
	var zero Sampler
	if ok, _ := zero.Allow("k"); !ok {
		t.Error("zero Sampler must log everything")
	}
}

// An attribute the caller passes (a user name from a login form) gets the
// same cleaning as the request fields: no bidi override, no C1 control.
func TestEvent_CallerAttributeBidiNeutralised(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	l.Event(t.Context(), nil, slog.LevelWarn, AuthnLoginFail, "login failed",
		slog.String("user", "admin\u202egnp.exe\u009b31m"), slog.Int("attempts", 3))
	if strings.ContainsAny(buf.String(), "\u202e\u009b") {
		t.Errorf("control characters reached the log: %q", buf.String())
	}
	if !strings.Contains(buf.String(), `"user.name":"admin?gnp.exe?31m"`) || !strings.Contains(buf.String(), `"attempts":3`) {
		t.Errorf("attributes mangled: %s", buf.String())
	}
}

// A request path carrying a C1 CSI (U+009B), a bidi override (U+202E), an
// ANSI escape and invalid UTF-8 must reach the log as '?', and a huge path
// must be cut, so that a log line neither drives the reader's terminal nor
// reads differently than it is, nor floods the log.
func TestEvent_TerminalAndBidiInjectionInRequestFields(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	r := httptest.NewRequest("GET", "https://app.example/", nil)
	r.URL.Path = "/a\u009b2J\u202eevil\x1b[31m\xff" + strings.Repeat("A", 10000)
	r.Method = "G\u202eET"
	l.Event(context.Background(), r, slog.LevelWarn, AuthnLoginFail, "test")
	out := buf.String()
	for _, bad := range []string{"\u009b", "\u202e", "\ufffd"} {
		if strings.Contains(out, bad) {
			t.Errorf("%U reached the log: %s", []rune(bad)[0], out)
		}
	}
	if len(out) > maxPath+512 {
		t.Errorf("path not bounded: %d bytes", len(out))
	}
	if !strings.Contains(out, `"url.path":"/a?2J?evil?[31m?AAA`) {
		t.Errorf("unexpected path rendering: %.200s", out)
	}
}

// Observers see every event, with the client, the user and the count a
// sampler folded into it; a disabled level still reaches them.
func TestObserve(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})))
	var got []Record
	l.Observe(func(r Record) { got = append(got, r) })
	r := httptest.NewRequest("POST", "/login", nil)
	r = r.WithContext(clientip.NewContext(r.Context(), netip.MustParseAddr("198.51.100.7")))
	l.Event(r.Context(), r, slog.LevelWarn, AuthnLoginFail, "login failed", slog.String("user", "bob"), slog.Int("suppressed", 4))
	if len(got) != 1 || got[0].Action != AuthnLoginFail || got[0].Client != netip.MustParseAddr("198.51.100.7") ||
		got[0].User != "bob" || got[0].Count != 5 || got[0].Path != "/login" {
		t.Fatalf("observed %+v", got)
	}
	if buf.Len() != 0 {
		t.Errorf("a warning was written below the error level: %s", buf.String())
	}
}

func TestCategoryAndOutcome(t *testing.T) {
	for _, c := range []struct{ action, category, outcome string }{
		{AuthnLoginSuccess, "authentication", "success"},
		{AuthnLoginFail, "authentication", "failure"},
		{AuthnLoginLock, "authentication", "failure"},
		{AuthnTokenReuse, "authentication", "failure"},
		{SessionLogout, "session", "success"},
		{AuthzFail, "iam", "failure"},
		{MaliciousCSRF, "intrusion_detection", "failure"},
		{ExcessRateLimitExceeded, "intrusion_detection", "failure"},
		{CSPViolation, "web", "unknown"},
		{SysStartup, "process", "success"},
		{SysConfigReload, "configuration", "unknown"},
	} {
		if cat, out := Category(c.action), Outcome(c.action); cat != c.category || out != c.outcome {
			t.Errorf("%s: %s/%s, want %s/%s", c.action, cat, out, c.category, c.outcome)
		}
	}
}

// TestEvent_OutcomeAttribute: an event whose name does not say how it
// ended states it; only ECS's three values are taken.
func TestEvent_OutcomeAttribute(t *testing.T) {
	for _, tc := range []struct{ given, want string }{
		{"success", "success"}, {"failure", "failure"}, {"bogus\n", "unknown"},
	} {
		var buf bytes.Buffer
		New(slog.New(slog.NewJSONHandler(&buf, nil))).Event(context.Background(), nil, slog.LevelInfo, SysConfigReload, "reload", slog.String("outcome", tc.given))
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["event.outcome"] != tc.want || m["outcome"] != nil {
			t.Errorf("outcome %q: logged %v", tc.given, m)
		}
	}
}
