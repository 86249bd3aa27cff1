package accesslog

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/logfile"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// logOne serves r through the middleware around h and returns the output.
func logOne(t testing.TB, o Options, h http.HandlerFunc, r *http.Request) string {
	t.Helper()
	var buf bytes.Buffer
	o.Writer = &buf
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	l.Handler(h).ServeHTTP(httptest.NewRecorder(), r)
	return buf.String()
}

// decode checks out is exactly one JSON line and returns its fields.
func decode(t testing.TB, out string) map[string]any {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got %q", out)
	}
	for i := 0; i < len(out)-1; i++ {
		if out[i] < 0x20 || out[i] == 0x7f {
			t.Fatalf("raw control byte %#x at %d in %q", out[i], i, out)
		}
	}
	if strings.ContainsAny(out, "\u2028\u2029") {
		t.Fatalf("raw line separator in %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v: %q", err, out)
	}
	for k, v := range m {
		if s, ok := v.(string); ok && safe.Clean(s, len(s)) != s {
			t.Fatalf("field %s holds a control, format or separator character: %q", k, s)
		}
	}
	return m
}

var (
	timeRE     = regexp.MustCompile(`"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`)
	durationRE = regexp.MustCompile(`"duration_ms":[0-9.e+-]+`)
)

func TestGolden(t *testing.T) {
	r := httptest.NewRequest("GET", "https://example.com/search?q=secret+words&page=2&lang=fr", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
	r.Proto = "HTTP/2.0"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	r.Header.Set("Referer", "https://user:pw@example.com/login?next=/account&token=abc#frag")
	r.Header.Set("Cookie", "session=COOKIE_SECRET")
	r.Header.Set("Authorization", "Bearer AUTH_SECRET")
	r = r.WithContext(requestid.NewContext(clientip.NewContext(r.Context(), netip.MustParseAddr("198.51.100.7")), "req-1"))
	out := logOne(t, Options{KeepQueryParams: []string{"page", "next"}}, func(w http.ResponseWriter, r *http.Request) {
		AddAttrs(r, slog.String("ratelimit", "allowed"), slog.String("user", "alice"))
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("hello"))
	}, r)
	decode(t, out)
	if !timeRE.MatchString(out) || !durationRE.MatchString(out) {
		t.Fatalf("time or duration_ms malformed: %s", out)
	}
	got := durationRE.ReplaceAllString(timeRE.ReplaceAllString(out, `"time":"TIME"`), `"duration_ms":0`)
	golden := "testdata/golden.json"
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("record differs from %s\n got: %s\nwant: %s", golden, got, want)
	}
}

func TestNeverLogsCookieAuthorizationOrTokens(t *testing.T) {
	r := httptest.NewRequest("GET", "/cb?code=S1&state=S2&access_token=S3", nil)
	r.Header.Set("Cookie", "session=S4")
	r.Header.Set("Authorization", "Basic S5")
	r.Header.Set("Referer", "https://u:S6@idp.example/authorize?token=S7&x=S8;id_token=S9#S10")
	out := logOne(t, Options{KeepQueryParams: []string{"x"}}, func(http.ResponseWriter, *http.Request) {}, r)
	decode(t, out)
	for _, s := range []string{"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S9", "S10", "Cookie", "Authorization", "Basic"} {
		if strings.Contains(out, `"`+s) || strings.Contains(out, "="+s) || strings.Contains(out, ":"+s) || strings.Contains(out, s+"@") || strings.Contains(out, "#"+s) {
			t.Errorf("secret %q leaked: %s", s, out)
		}
	}
	if !strings.Contains(out, "x=S8") {
		t.Errorf("kept parameter missing: %s", out)
	}
}

// The seed's after_request logged request.path raw: a %0a in the URL
// started a new log line that the attacker wrote.
func TestInjection_EncodedNewlineInPathOverTheWire(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	resp, err := http.Get(srv.URL + `/x%0a{"status":200,"path":"/admin"}%0d%0a?a=%0a{"forged":1}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := decode(t, buf.String())
	if p := m["path"].(string); strings.ContainsAny(p, "\r\n") || !strings.HasPrefix(p, "/x%0A") {
		t.Fatalf("path = %q", p)
	}
	if m["status"].(float64) != 200 || m["forged"] != nil {
		t.Fatalf("record = %v", m)
	}
}

func TestInjection_HostileHeaderValues(t *testing.T) {
	// net/http rejects most of these on the wire; the library may sit
	// behind another server, so the middleware must not rely on it.
	cases := map[string]string{
		"CRLFInUserAgent":     "curl\r\n{\"time\":\"2020-01-01\",\"status\":200}",
		"LFInUserAgent":       "a\n{\"forged\":true}",
		"InvalidUTF8":         "\xff\xfe\xc3(",
		"ControlCharacters":   "\x00\x01\x1b[31mred\x7f",
		"LineSeparators":      "a\u2028b\u2029c",
		"QuotesAndBackslash":  `",\"status\":999,"x":"\`,
		"OversizedUserAgent":  strings.Repeat("A", 1<<20),
		"HTMLForLogViewers":   "<script>alert(1)</script>",
		"TruncatedMultiByte":  strings.Repeat("é", 400),
		"NULAndEscapeInMixed": "ok\x00\r\x1b]0;title\x07",
		"C1CSI":               "a\u009b31mred\u0085next",
		"BidiOverride":        "user\u202eevil\u2066x\u2069",
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("User-Agent", v)
			r.Header.Set("Referer", "https://a.example/"+v)
			r.Host = v
			r.Method = "GET\n" + v
			out := logOne(t, Options{}, func(http.ResponseWriter, *http.Request) {}, r)
			m := decode(t, out)
			if m["status"].(float64) != 200 {
				t.Fatalf("status overwritten: %v", m["status"])
			}
			if len(out) > 8<<10 {
				t.Fatalf("line of %d bytes", len(out))
			}
			for _, k := range []string{"forged", "x"} {
				if _, ok := m[k]; ok {
					t.Fatalf("forged key %q in %s", k, out)
				}
			}
		})
	}
}

func TestInjection_ControlCharactersInPathDirect(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.URL.Path = "/a\r\n{\"status\":200}\x00\xff"
	r.URL.RawQuery = "q=\n{\"x\":1}&k=\r\n"
	out := logOne(t, Options{KeepQueryParams: []string{"k"}}, func(http.ResponseWriter, *http.Request) {}, r)
	m := decode(t, out)
	if m["path"] != "/a%0D%0A%7B%22status%22:200%7D%00%FF" {
		t.Fatalf("path = %q", m["path"])
	}
}

func TestNoMiddleware_AddAttrsIsNoOp(t *testing.T) {
	AddAttrs(httptest.NewRequest("GET", "/", nil), slog.String("a", "b"))
}

func TestOptions_Validation(t *testing.T) {
	if _, err := New(Options{KeepQueryParams: []string{"ok", ""}}); err == nil || !strings.Contains(err.Error(), "KeepQueryParams[1]") {
		t.Fatalf("err = %v", err)
	}
	w := Options{KeepQueryParams: []string{"page", "access_token"}}.Validate()
	if len(w) != 1 || w.HasErrors() || w[0].Path != "KeepQueryParams[1]" {
		t.Fatalf("Warnings = %q", w)
	}
}

// A later stage may add a value that came from the client (a user name
// taken from an identity header): it is clipped and cleaned like the fixed
// fields, so it can neither reorder the line on a terminal (Trojan Source)
// nor make it long enough for a shipper to split.
func TestAddAttrs_ClientValueBidiAndLengthBounded(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	evil := "admin\u202e\u0085" + strings.Repeat("x", 20000)
	out := logOne(t, Options{}, func(_ http.ResponseWriter, r *http.Request) {
		AddAttrs(r, slog.String("user", evil), slog.Int("n", 1))
	}, r)
	m := decode(t, out)
	u, _ := m["user"].(string)
	if strings.ContainsAny(u, "\u202e\u0085") || len(u) > 1024 || !strings.HasPrefix(u, "admin") || m["n"] != 1.0 {
		t.Errorf("user = %q (%d bytes), n = %v", u, len(u), m["n"])
	}
}

// Rotation at the 1 MB minimum: more than a megabyte of records through
// the middleware produces a rotated file that keeps the mode, and every
// line in both files is a whole record.
func TestLogfile_RotatesThroughMiddleware(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w, err := logfile.Open(logfile.Options{Path: path, MaxSizeMB: 1, MaxBackups: 2, NoCompress: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/"+strings.Repeat("p", 1000), nil)
	for i := 0; i < 1200; i++ { // ~1.4 MB
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "access-*.log"))
	if len(backups) != 1 {
		t.Fatalf("backups = %v, want 1", backups)
	}
	total := 0
	for _, f := range append(backups, path) {
		fi, _ := os.Stat(f)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s mode = %v", f, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(f)
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		for _, line := range lines {
			decode(t, string(line)+"\n")
		}
		total += len(lines)
	}
	if total != 1200 {
		t.Fatalf("%d records, want 1200", total)
	}
}

// Two access logs in one chain: what a handler adds goes to the record of
// the innermost log around it only.
func TestAddAttrs_NestedLogsKeepTheirOwnRecords(t *testing.T) {
	var outerBuf, innerBuf bytes.Buffer
	outer, err := New(Options{Writer: &outerBuf})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := New(Options{Writer: &innerBuf})
	if err != nil {
		t.Fatal(err)
	}
	h := outer.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AddAttrs(r, slog.String("where", "outer"))
		inner.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			AddAttrs(r, slog.String("where", "inner"))
			w.WriteHeader(http.StatusTeapot)
		})).ServeHTTP(w, r)
		AddAttrs(r, slog.String("after", "inner"))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	o, i := decode(t, outerBuf.String()), decode(t, innerBuf.String())
	if o["where"] != "outer" || i["where"] != "inner" || o["after"] != "inner" {
		t.Errorf("outer record has where=%v after=%v, inner where=%v", o["where"], o["after"], i["where"])
	}
	if o["status"] != 418.0 || i["status"] != 418.0 {
		t.Errorf("statuses %v and %v", o["status"], i["status"])
	}
}
