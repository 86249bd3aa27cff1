package secheaders

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/seclog"
)

func newReportPolicy(t *testing.T, buf *bytes.Buffer, o CollectorOptions) *Middleware {
	t.Helper()
	o.Log = seclog.New(slog.New(slog.NewJSONHandler(buf, nil)))
	return mustNew(t, Policy{CSP: CSP{Report: ReportOptions{Enabled: true, Collector: o}}})
}

// mounted serves m's collector at its path inside the header middleware, as
// an application (or rampart's gateway) mounts it.
func mounted(m *Middleware) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(m.ReportPath(), m.Collector())
	return m.Handler(mux)
}

// The header middleware points browsers at the collector but does not
// serve it: whoever mounts it puts it behind the host check and a rate
// limit, where rampart's gateway does.
func TestCollector_NotServedByTheMiddleware(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	reached := false
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	postReport(h, "application/csp-report", legacyReportBody, "")
	if !reached || strings.Contains(buf.String(), seclog.CSPViolation) {
		t.Errorf("the middleware answered the report itself (reached next: %v): %s", reached, buf.String())
	}
	if m.ReportPath() != defaultReportPath || m.Collector() == nil {
		t.Errorf("ReportPath %q, Collector %v", m.ReportPath(), m.Collector())
	}
}

func postReport(h http.Handler, ctype, body, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", defaultReportPath, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not one JSON record: %q", line)
		}
		out = append(out, m)
	}
	return out
}

const legacyReportBody = `{"csp-report":{"document-uri":"https://app.example/page?token=secret#frag","referrer":"",
"violated-directive":"script-src-elem","effective-directive":"script-src-elem",
"original-policy":"default-src 'self'","blocked-uri":"inline","line-number":12,"column-number":5,
"source-file":"https://app.example/page","status-code":200,"disposition":"enforce","script-sample":"alert(1)"}}`

const apiReportBody = `[{"type":"csp-violation","age":1,"url":"https://app.example/","user_agent":"UA",
"body":{"documentURL":"https://app.example/","blockedURL":"https://evil.example/x.js?k=v","effectiveDirective":"script-src-elem",
"originalPolicy":"default-src 'self'","sourceFile":"https://app.example/app.js","lineNumber":3,"columnNumber":7,"disposition":"enforce","statusCode":200}},
{"type":"deprecation","body":{}}]`

func TestCollector_LogsBothFormats(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	h := mounted(m)
	if rec := postReport(h, "application/csp-report", legacyReportBody, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("csp-report: status %d", rec.Code)
	}
	if rec := postReport(h, "application/reports+json", apiReportBody, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("reports+json: status %d", rec.Code)
	}
	recs := logRecords(t, &buf)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %s", len(recs), buf.String())
	}
	r0, r1 := recs[0], recs[1]
	if r0["event.action"] != seclog.CSPViolation || r0["document_uri"] != "https://app.example/page" ||
		r0["blocked_uri"] != "inline" || r0["violated_directive"] != "script-src-elem" || r0["line"] != float64(12) {
		t.Errorf("legacy record: %v", r0)
	}
	if r1["blocked_uri"] != "https://evil.example/x.js" || r1["source_file"] != "https://app.example/app.js" || r1["column"] != float64(7) {
		t.Errorf("reporting API record: %v", r1)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Error("query string of document-uri was logged")
	}
}

// A URL that url.Parse refuses, or a relative one, still loses its query
// and fragment, where session tokens travel.
func TestCollector_TokenInUnparsableURLNotLogged(t *testing.T) {
	c := NewCollector(CollectorOptions{})
	for _, u := range []string{"https://app.example/%zz?token=secret", "/page?token=secret", "https://app.example/a b#secret"} {
		body, _ := json.Marshal(map[string]any{"csp-report": map[string]any{"document-uri": u, "blocked-uri": u, "source-file": u}})
		vs, err := c.Parse("application/csp-report", body)
		if err != nil {
			t.Fatal(err)
		}
		if v := vs[0]; strings.Contains(v.DocumentURI+v.BlockedURI+v.SourceFile, "secret") {
			t.Errorf("%q: token kept: %+v", u, v)
		}
	}
}

// TestCollector_LogForging: a report carrying newlines, ANSI escapes and
// bidi controls in its fields produces one clean record per report.
func TestCollector_LogForging(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	forged := "x\n{\"event\":\"authn_login_success\",\"user\":\"admin\"}\r\n\x1b[31m\u202e"
	body, _ := json.Marshal(map[string]any{"csp-report": map[string]any{
		"document-uri": "https://app.example/" + forged, "blocked-uri": forged,
		"violated-directive": forged, "source-file": forged, "line-number": "7\n8",
	}})
	if rec := postReport(mounted(m), "application/csp-report", string(body), ""); rec.Code != 204 {
		t.Fatalf("status %d", rec.Code)
	}
	recs := logRecords(t, &buf)
	if len(recs) != 1 {
		t.Fatalf("forged report produced %d records: %s", len(recs), buf.String())
	}
	for k, v := range recs[0] {
		s, _ := v.(string)
		if strings.ContainsAny(s, "\n\r\x1b\u202e") {
			t.Errorf("field %s keeps control characters: %q", k, s)
		}
	}
	var text bytes.Buffer
	tl := seclog.New(slog.New(slog.NewTextHandler(&text, nil)))
	c := NewCollector(CollectorOptions{Log: tl})
	postReport(c, "application/csp-report", string(body), "")
	if n := strings.Count(strings.TrimSpace(text.String()), "\n"); n != 0 {
		t.Errorf("text log has %d extra lines: %q", n, text.String())
	}
}

// TestCollector_OversizedReport: a body over the cap is refused with 413
// without being logged as a violation.
func TestCollector_OversizedReport(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{MaxBodyBytes: 1024})
	body := `{"csp-report":{"document-uri":"` + strings.Repeat("A", 4096) + `"}}`
	rec := postReport(mounted(m), "application/csp-report", body, "")
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	if strings.Contains(buf.String(), seclog.CSPViolation) {
		t.Error("oversized body logged as a violation")
	}
}

// TestCollector_MalformedReport: garbage, wrong JSON shapes and wrong types
// are refused (400/415/405) and never logged as violations.
func TestCollector_MalformedReport(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	h := mounted(m)
	for _, tc := range []struct {
		ctype, body string
		code        int
	}{
		{"application/csp-report", "not json", 400},
		{"application/csp-report", `{"other":1}`, 400},
		{"application/csp-report", `{"csp-report":"str"}`, 400},
		{"application/reports+json", `{"type":"csp-violation"}`, 400},
		{"application/reports+json", `[{"type":"deprecation","body":{}}]`, 400},
		{"text/plain", legacyReportBody, 415},
		{"", legacyReportBody, 415},
	} {
		if rec := postReport(h, tc.ctype, tc.body, ""); rec.Code != tc.code {
			t.Errorf("%s %q: status %d, want %d", tc.ctype, tc.body, rec.Code, tc.code)
		}
	}
	req := httptest.NewRequest("GET", defaultReportPath, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Errorf("GET: status %d", rec.Code)
	}
	if strings.Contains(buf.String(), `"event.action":"csp_violation"`) {
		t.Error("malformed report logged as a violation")
	}
}

// TestCollector_ReportFlood: one client posting many reports gets a bounded
// number logged; other clients are unaffected; every answer is 204.
func TestCollector_ReportFlood(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{PerClientBurst: 5, PerClientInterval: time.Hour})
	h := mounted(m)
	for range 200 {
		if rec := postReport(h, "application/csp-report", legacyReportBody, "198.51.100.7:1234"); rec.Code != 204 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	postReport(h, "application/csp-report", legacyReportBody, "203.0.113.9:1")
	if n := strings.Count(buf.String(), `"event.action":"csp_violation"`); n != 6 {
		t.Errorf("logged %d violations, want 5 from the flooder + 1 other", n)
	}
}

// An IPv6 client rotating through the addresses of its /64 gets one burst
// of log records, not one per address.
func TestCollector_ReportFloodIPv6AddressRotation(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{PerClientBurst: 5, PerClientInterval: time.Hour})
	h := mounted(m)
	for i := range 50 {
		postReport(h, "application/csp-report", legacyReportBody, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))
	}
	postReport(h, "application/csp-report", legacyReportBody, "[2001:db8:1:3::1]:443")
	if n := strings.Count(buf.String(), `"event.action":"csp_violation"`); n != 6 {
		t.Errorf("logged %d violations, want 5 from the rotating /64 + 1 from another /64", n)
	}
}

// TestCollector_BatchCap: a Reporting API batch of many reports logs at most
// MaxReportsPerBody.
func TestCollector_BatchCap(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{MaxReportsPerBody: 3})
	one := `{"type":"csp-violation","body":{"documentURL":"https://a.example/","effectiveDirective":"img-src"}}`
	body := "[" + strings.TrimSuffix(strings.Repeat(one+",", 50), ",") + "]"
	postReport(mounted(m), "application/reports+json", body, "")
	if n := strings.Count(buf.String(), `"event.action":"csp_violation"`); n != 3 {
		t.Errorf("logged %d, want 3", n)
	}
}

// FuzzCollectorParse: report bodies are untrusted input.
func FuzzCollectorParse(f *testing.F) {
	f.Add("application/csp-report", legacyReportBody)
	f.Add("application/reports+json", apiReportBody)
	f.Add("application/json", `{"csp-report":{"line-number":"x"}}`)
	c := NewCollector(CollectorOptions{})
	f.Fuzz(func(t *testing.T, ctype, body string) {
		vs, _ := c.Parse(ctype, []byte(body))
		for _, v := range vs {
			for _, s := range []string{v.DocumentURI, v.BlockedURI, v.ViolatedDirective, v.SourceFile, v.Sample} {
				if strings.ContainsAny(s, "\r\n") || len(s) > 310 {
					t.Fatalf("unsanitised field %q", s)
				}
			}
		}
	})
}

// TestCollector_ResponsesCarryPolicy: the collector's answers are responses
// like any other.
func TestCollector_ResponsesCarryPolicy(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	for _, body := range []string{legacyReportBody, "junk"} {
		rec := postReport(mounted(m), "application/csp-report", body, "")
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Errorf("%d response lacks the policy: %v", rec.Code, rec.Header())
		}
	}
}

// TestReportingEndpoints_KeepsApplicationEndpoints: the application's own
// Reporting-Endpoints members survive next to ours, in one header.
func TestReportingEndpoints_KeepsApplicationEndpoints(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Reporting-Endpoints", `nel="https://app.example/nel", rampart-csp="https://evil.example/"`)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	want := []string{`rampart-csp="/.well-known/rampart/csp-report", nel="https://app.example/nel"`}
	if got := rec.Header().Values("Reporting-Endpoints"); len(got) != 1 || got[0] != want[0] {
		t.Errorf("Reporting-Endpoints = %q, want %q", got, want)
	}
}

// An application endpoint whose member text happens to be a substring of
// ours (csp="..." inside rampart-csp="...") is still kept: members are
// compared whole, and a repeated one is sent once.
func TestReportingEndpoints_SubstringMemberKept(t *testing.T) {
	var buf bytes.Buffer
	m := newReportPolicy(t, &buf, CollectorOptions{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Reporting-Endpoints", `csp="/.well-known/rampart/csp-report", nel="/n"`)
		w.Header().Add("Reporting-Endpoints", `nel="/n"`)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	want := `rampart-csp="/.well-known/rampart/csp-report", csp="/.well-known/rampart/csp-report", nel="/n"`
	if got := rec.Header().Values("Reporting-Endpoints"); len(got) != 1 || got[0] != want {
		t.Errorf("Reporting-Endpoints = %q, want %q", got, want)
	}
}
