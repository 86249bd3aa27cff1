package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fixture is one captured upstream response from testdata/debugpages.
type fixture struct {
	name   string
	status int
	header http.Header
	body   []byte
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "debugpages", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return fixture{name: name, status: res.StatusCode, header: res.Header, body: body}
}

// debugFixtures are the captured debug pages and the kind each is.
var debugFixtures = map[string]string{
	"werkzeug3_debugger.http":        "werkzeug_debugger",
	"werkzeug3_traceback.http":       "werkzeug_debugger",
	"werkzeug2_debugger.http":        "werkzeug_debugger",
	"django3_technical500.http":      "django_technical_500",
	"django3_technical500_text.http": "django_technical_500",
	"express5_development.http":      "express_stack",
	"express4_development.http":      "express_stack",
	"go_recovery.http":               "go_panic",
	"go_panic_stderr.http":           "go_panic",
	"rails_exception.http":           "rails_exception",
}

// plainFixtures are captured 5xx pages that show nothing of the
// application.
var plainFixtures = []string{"werkzeug3_nodebugger.http", "express5_production.http"}

// leakMarkers are bytes of the debug pages that must never reach a client:
// source, paths, settings, secrets, stack frames.
var leakMarkers = []string{
	"Traceback", "Werkzeug", "__debugger__", "SECRET", "division by zero", "ZeroDivisionError", "Django",
	"fixture-only-not-a-secret", "goroutine", "panic", "PANIC", "/tmp/", ".py", ".go:", ".js:", "&nbsp;", "at Layer",
	"Action Controller", "RuntimeError", "welcome_controller", "postgres://", "boom",
}

// fixtureUpstream serves /NAME as the fixture NAME. With ?coding=gzip or
// ?coding=deflate the body is compressed; with ?chunked=1 it is sent in
// pieces without a Content-Length and with a trailer.
func fixtureUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := loadFixture(t, strings.TrimPrefix(r.URL.Path, "/"))
		h := w.Header()
		for k, v := range f.header {
			switch k {
			case "Content-Length", "Connection", "Date", "Transfer-Encoding":
			default:
				h[k] = v
			}
		}
		body := f.body
		switch r.URL.Query().Get("coding") {
		case "gzip":
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			body = b.Bytes()
			h.Set("Content-Encoding", "gzip")
		case "deflate":
			var b bytes.Buffer
			zw := zlib.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			body = b.Bytes()
			h.Set("Content-Encoding", "deflate")
		}
		if r.URL.Query().Get("chunked") == "" {
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(f.status)
			w.Write(body)
			return
		}
		h.Set("Trailer", "X-Checksum")
		w.WriteHeader(f.status)
		for len(body) > 0 {
			n := min(len(body), 700)
			w.Write(body[:n])
			w.(http.Flusher).Flush()
			body = body[n:]
		}
		h.Set("X-Checksum", "done")
	}))
	t.Cleanup(up.Close)
	return up
}

// outerStage plays the gateway stages in front of the proxy: a request id,
// a client address, and a security header set before the proxy runs (as
// secheaders does), which must survive on the replaced page.
func outerStage(next http.Handler) http.Handler {
	return withContext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		next.ServeHTTP(w, r)
	}), "rid-debug-7", netip.MustParseAddr("203.0.113.7"))
}

func get(t *testing.T, c *http.Client, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req := newRequest(t, "GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: reading the body: %v", url, err)
	}
	return res, body
}

// TestProxy_DebugPageLeak: each captured debug page (Werkzeug debugger and
// traceback, Django technical 500 in HTML and text, Express development
// page, Go panic stacks, Rails' exception page), plain, gzip or deflate,
// with or without a Content-Length, reaches the client as rampart's
// generic page: the upstream's status, the request id, the outer stage's
// headers, and not one byte of the trace. The log says what was detected
// without quoting the page; a security event is recorded.
func TestProxy_DebugPageLeak(t *testing.T) {
	up := fixtureUpstream(t)
	p, errLog, secLog := testProxy(t, up.URL, Options{})
	fe := front(t, outerStage(p))
	c := fe.Client()
	for name, kind := range debugFixtures {
		f := loadFixture(t, name)
		for _, q := range []string{"", "?coding=gzip", "?coding=deflate", "?chunked=1", "?coding=gzip&chunked=1"} {
			res, body := get(t, c, fe.URL+"/"+name+q, http.Header{"Accept-Encoding": {"gzip, deflate"}})
			what := name + q
			if res.StatusCode != f.status {
				t.Errorf("%s: status %d, want %d", what, res.StatusCode, f.status)
			}
			for _, m := range leakMarkers {
				if bytes.Contains(body, []byte(m)) {
					t.Errorf("%s: %q reached the client", what, m)
				}
			}
			if !bytes.Contains(body, []byte("rid-debug-7")) || !bytes.Contains(body, []byte("Internal Server Error")) {
				t.Errorf("%s: not the generic page: %s", what, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || res.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: Content-Type %q, Content-Encoding %q", what, ct, res.Header.Get("Content-Encoding"))
			}
			if res.ContentLength != int64(len(body)) {
				t.Errorf("%s: Content-Length %d for a %d-byte body", what, res.ContentLength, len(body))
			}
			if v := res.Header.Values("Content-Security-Policy"); len(v) != 1 || v[0] != "default-src 'self'" {
				t.Errorf("%s: the outer stage's headers were lost or mixed: %q", what, v)
			}
			for _, k := range []string{"X-Powered-By", "Server", "X-Runtime", "X-Request-Id", "Trailer"} {
				if v := res.Header.Get(k); v != "" {
					t.Errorf("%s: upstream header %s: %q reached the client", what, k, v)
				}
			}
		}
		if !strings.Contains(errLog.String(), `"detected":"`+kind+`"`) {
			t.Errorf("%s: not logged as %s", name, kind)
		}
	}
	logs := errLog.String() + secLog.String()
	for _, m := range []string{"division by zero", "fixture-only-not-a-secret", "SECRET =", "/tmp/", "postgres://", "&nbsp;", "goroutine"} {
		if strings.Contains(logs, m) {
			t.Errorf("the log quotes the page: %q", m)
		}
	}
	for _, want := range []string{`"request_id":"rid-debug-7"`, `"exception":"ZeroDivisionError"`, `"exception":"RuntimeError"`, `"exception":"Error"`, `"status":500`} {
		if !strings.Contains(errLog.String(), want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if !strings.Contains(secLog.String(), `"event.action":"upstream_debug_page"`) || !strings.Contains(secLog.String(), `"source.ip":"203.0.113.7"`) {
		t.Errorf("no security event: %s", secLog.String())
	}
}

// A client asking for JSON gets the replaced page as problem+json, like
// every other error rampart writes.
func TestProxy_DebugPageLeak_JSONClient(t *testing.T) {
	up := fixtureUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, outerStage(p))
	res, body := get(t, fe.Client(), fe.URL+"/django3_technical500_text.http", http.Header{"Accept": {"application/json"}})
	var prob struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &prob); err != nil || res.Header.Get("Content-Type") != "application/problem+json" ||
		prob.Status != 500 || prob.RequestID != "rid-debug-7" {
		t.Errorf("%s %q: %v", res.Header.Get("Content-Type"), body, err)
	}
}

// TestProxy_Plain5xxPassedThrough: an application's own 5xx pages (the
// frameworks' production pages, a large maintenance page, a compressed one,
// a chunked one with a trailer) pass byte for byte, with their headers,
// Content-Length and trailers.
func TestProxy_Plain5xxPassedThrough(t *testing.T) {
	big := bytes.Repeat([]byte("<p>We are down for maintenance. Please come back later.</p>\n"), 2000) // > DebugPeekBytes
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/maintenance":
			w.Header().Set("Retry-After", "120")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(big)
		case "/maintenance-gzip":
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(big)
			zw.Close()
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(b.Bytes())
		case "/chunked":
			w.Header().Set("Trailer", "X-Checksum")
			w.WriteHeader(http.StatusBadGateway)
			for i := 0; i < len(big); i += 4096 {
				w.Write(big[i:min(i+4096, len(big))])
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Checksum", "sum-1")
		case "/word":
			http.Error(w, "Traceback: the gateway to the payment service timed out; goroutine pools exhausted; panic button pressed", 500)
		}
	}))
	defer up.Close()
	p, errLog, _ := testProxy(t, up.URL, Options{})
	fe := front(t, outerStage(p))
	c := fe.Client()
	c.Transport.(*http.Transport).DisableCompression = true
	res, body := get(t, c, fe.URL+"/maintenance", nil)
	if res.StatusCode != 503 || !bytes.Equal(body, big) || res.ContentLength != int64(len(big)) || res.Header.Get("Retry-After") != "120" {
		t.Errorf("maintenance page: status %d, %d bytes (Content-Length %d), Retry-After %q", res.StatusCode, len(body), res.ContentLength, res.Header.Get("Retry-After"))
	}
	res, body = get(t, c, fe.URL+"/maintenance-gzip", http.Header{"Accept-Encoding": {"gzip"}})
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip maintenance page: %v, Content-Encoding %q", err, res.Header.Get("Content-Encoding"))
	}
	if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, big) {
		t.Errorf("gzip maintenance page changed")
	}
	res, body = get(t, c, fe.URL+"/chunked", nil)
	if res.StatusCode != 502 || !bytes.Equal(body, big) || res.Trailer.Get("X-Checksum") != "sum-1" {
		t.Errorf("chunked 502: status %d, %d bytes, trailer %q", res.StatusCode, len(body), res.Trailer)
	}
	res, body = get(t, c, fe.URL+"/word", nil)
	if res.StatusCode != 500 || !strings.HasPrefix(string(body), "Traceback: the gateway") {
		t.Errorf("a 500 merely mentioning Traceback was replaced: %q", body)
	}
	for _, name := range plainFixtures {
		f := loadFixture(t, name)
		srv := fixtureUpstream(t)
		p2, _, _ := testProxy(t, srv.URL, Options{})
		fe2 := front(t, p2)
		res, body := get(t, fe2.Client(), fe2.URL+"/"+name, nil)
		if res.StatusCode != f.status || !bytes.Equal(body, f.body) {
			t.Errorf("%s: status %d, body %q; want the application's page", name, res.StatusCode, body)
		}
	}
	if strings.Contains(errLog.String(), "replaced") {
		t.Errorf("a plain 5xx was logged as replaced: %s", errLog.String())
	}
}

// TestProxy_SuccessNeverInspected: a 200 showing a traceback (a
// documentation page, a CI log) is not touched, and a streaming 200 is not
// held back: its first bytes reach the client while the upstream is still
// writing.
func TestProxy_SuccessNeverInspected(t *testing.T) {
	page := loadFixture(t, "werkzeug3_debugger.http").body
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "second\n")
			return
		}
		w.Write(page)
	}))
	defer up.Close()
	defer close(release)
	p, _, _ := testProxy(t, up.URL, Options{InterceptErrors: InterceptAll})
	fe := front(t, p)
	res, body := get(t, fe.Client(), fe.URL+"/docs", nil)
	if res.StatusCode != 200 || !bytes.Equal(body, page) {
		t.Errorf("a 200 holding a traceback was changed: status %d, %d bytes", res.StatusCode, len(body))
	}
	res, err := fe.Client().Get(fe.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if line != "first\n" {
		t.Errorf("first line %q, %v", line, err)
	}
}

// TestProxy_InterceptAll: every 5xx is replaced, HEAD included; a 503's
// Retry-After is kept; other statuses pass.
func TestProxy_InterceptAll(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/busy":
			w.Header().Set("Retry-After", "30")
			w.Header().Set("X-Internal", "shard-7")
			http.Error(w, "shard-7 is overloaded", http.StatusServiceUnavailable)
		case "/teapot":
			http.Error(w, "short and stout", http.StatusTeapot)
		default:
			http.Error(w, "our own friendly error page", http.StatusInternalServerError)
		}
	}))
	defer up.Close()
	p, errLog, _ := testProxy(t, up.URL, Options{InterceptErrors: InterceptAll})
	fe := front(t, outerStage(p))
	c := fe.Client()
	res, body := get(t, c, fe.URL+"/", nil)
	if res.StatusCode != 500 || bytes.Contains(body, []byte("friendly")) || !bytes.Contains(body, []byte("rid-debug-7")) {
		t.Errorf("500: status %d body %q", res.StatusCode, body)
	}
	res, body = get(t, c, fe.URL+"/busy", nil)
	if res.StatusCode != 503 || bytes.Contains(body, []byte("shard-7")) || res.Header.Get("X-Internal") != "" || res.Header.Get("Retry-After") != "30" {
		t.Errorf("503: status %d body %q headers %v", res.StatusCode, body, res.Header)
	}
	req := newRequest(t, "HEAD", fe.URL+"/", nil)
	hres, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != 500 || hres.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD: status %d, Content-Type %q", hres.StatusCode, hres.Header.Get("Content-Type"))
	}
	if res, body = get(t, c, fe.URL+"/teapot", nil); res.StatusCode != 418 || !bytes.Contains(body, []byte("stout")) {
		t.Errorf("418 was replaced: %q", body)
	}
	if !strings.Contains(errLog.String(), `"msg":"upstream error page replaced"`) {
		t.Errorf("no log record: %s", errLog.String())
	}
}

// TestProxy_InsecureInterceptOff: off passes debug pages byte for byte,
// and is reported.
func TestProxy_InsecureInterceptOff(t *testing.T) {
	up := fixtureUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{InterceptErrors: InsecureInterceptOff})
	fe := front(t, p)
	f := loadFixture(t, "werkzeug3_debugger.http")
	res, body := get(t, fe.Client(), fe.URL+"/werkzeug3_debugger.http", nil)
	if res.StatusCode != 500 || !bytes.Equal(body, f.body) {
		t.Errorf("off: status %d, the page was changed", res.StatusCode)
	}
	if w := (&Options{InterceptErrors: InsecureInterceptOff}).Validate().Warnings(); len(w) != 1 || w[0].Path != "InterceptErrors" {
		t.Errorf("warnings %q", w)
	}
	if _, err := New(Options{Upstream: mustURL(t, up.URL), InterceptErrors: 7}); err == nil || !strings.Contains(err.Error(), "InterceptErrors") {
		t.Errorf("an unknown mode was accepted: %v", err)
	}
}

// TestProxy_DebugPageHEAD: a HEAD answered 500 has no body to leak and
// passes in the default mode, without a read-ahead.
func TestProxy_DebugPageHEAD(t *testing.T) {
	up := fixtureUpstream(t)
	p, errLog, _ := testProxy(t, up.URL, Options{})
	fe := front(t, p)
	res, err := fe.Client().Head(fe.URL + "/werkzeug3_debugger.http")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 500 || strings.Contains(errLog.String(), "replaced") {
		t.Errorf("HEAD: status %d, log %s", res.StatusCode, errLog.String())
	}
}

// TestProxy_UninspectableCoding: a 5xx in a content coding rampart cannot
// decode (br, zstd) could be a debug page: it is replaced, and the log
// says why. A 200 in the same coding is untouched.
func TestProxy_UninspectableCoding(t *testing.T) {
	opaque := []byte("\x1b\x8b\x00\xf8\x25\x14\x00\x00not really brotli")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		if r.URL.Path == "/ok" {
			w.Write(opaque)
			return
		}
		w.WriteHeader(500)
		w.Write(opaque)
	}))
	defer up.Close()
	p, errLog, _ := testProxy(t, up.URL, Options{})
	fe := front(t, outerStage(p))
	c := fe.Client()
	c.Transport.(*http.Transport).DisableCompression = true
	res, body := get(t, c, fe.URL+"/", http.Header{"Accept-Encoding": {"br"}})
	if res.StatusCode != 500 || bytes.Equal(body, opaque) || res.Header.Get("Content-Encoding") != "" {
		t.Errorf("br 500: status %d, Content-Encoding %q, body %q", res.StatusCode, res.Header.Get("Content-Encoding"), body)
	}
	if !strings.Contains(errLog.String(), `"content_encoding":"br"`) {
		t.Errorf("the log does not say why: %s", errLog.String())
	}
	if res, body = get(t, c, fe.URL+"/ok", http.Header{"Accept-Encoding": {"br"}}); res.StatusCode != 200 || !bytes.Equal(body, opaque) {
		t.Errorf("br 200 changed")
	}
}

// TestProxy_DebugPageTruncated: an upstream that breaks off a 5xx body
// within the read-ahead is still judged on what arrived: a debug page is
// replaced; any other page reaches the client cut short, as it would
// without the read-ahead.
func TestProxy_DebugPageTruncated(t *testing.T) {
	page := loadFixture(t, "werkzeug3_debugger.http").body
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				body := page[:2000]
				if req.URL.Path == "/plain" {
					body = bytes.Repeat([]byte("x"), 2000)
				}
				io.WriteString(conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 20000\r\n\r\n")
				conn.Write(body)
			}()
		}
	}()
	p, _, _ := testProxy(t, "http://"+ln.Addr().String(), Options{})
	fe := front(t, outerStage(p))
	res, body := get(t, fe.Client(), fe.URL+"/debug", nil)
	if res.StatusCode != 500 || bytes.Contains(body, []byte("Werkzeug")) {
		t.Errorf("truncated debug page: status %d body %q", res.StatusCode, body)
	}
	// The plain page: what the client sees is what it sees with
	// interception off (net/http buffers the start of a response with
	// a Content-Length, so a body that breaks off early closes the
	// connection before anything is sent).
	off, _, _ := testProxy(t, "http://"+ln.Addr().String(), Options{InterceptErrors: InsecureInterceptOff})
	feOff := front(t, off)
	outcome := func(url string) string {
		res, err := fe.Client().Get(url)
		if err != nil {
			return "request error"
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return strconv.Itoa(res.StatusCode) + " " + strconv.Itoa(len(b)) + " " + strconv.FormatBool(err != nil)
	}
	if got, want := outcome(fe.URL+"/plain"), outcome(feOff.URL+"/plain"); got != want {
		t.Errorf("truncated plain page: %s, with interception off %s", got, want)
	}
}

func TestDetectDebugPage_Fixtures(t *testing.T) {
	for name, want := range debugFixtures {
		f := loadFixture(t, name)
		if got, _ := detectDebugPage(f.body); got != want {
			t.Errorf("%s: detected %q, want %q", name, got, want)
		}
		if len(f.body) > DebugPeekBytes {
			if got, _ := detectDebugPage(f.body[:DebugPeekBytes]); got != want {
				t.Errorf("%s: not detected within the first %d bytes", name, DebugPeekBytes)
			}
		}
	}
	for _, name := range plainFixtures {
		if got, _ := detectDebugPage(loadFixture(t, name).body); got != "" {
			t.Errorf("%s: detected %q", name, got)
		}
	}
}

func TestDetectDebugPage(t *testing.T) {
	tests := []struct{ body, want string }{
		{"Traceback (most recent call last):\n  File \"/srv/app.py\", line 3, in <module>\nValueError: x\n", "python_traceback"},
		{"<pre>Traceback (most recent call last):\n  File &quot;/srv/app.py&quot;, line 3</pre>", "python_traceback"},
		{"TypeError: x is undefined\n    at f (/srv/app.js:3:9)\n    at Object.<anonymous> (/srv/app.js:5:1)\n", "node_stack"},
		{"java.lang.NullPointerException\n\tat com.example.Foo.bar(Foo.java:42)\n", "java_stack"},
		{"<b>Fatal error</b>: Uncaught Exception: x in /var/www/a.php:3\nStack trace:\n#0 {main}", "php_stack"},
		{"goroutine 17 [chan receive]:\nmain.worker()\n", "go_panic"},
		{"Internal Server Error", ""},
		{`{"error":"Traceback","detail":"see logs"}`, ""},
		{"<p>Our goroutine pool is exhausted; do not panic: retry.</p>", ""},
		{"<p>at /home the Django Version: page</p>", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got, _ := detectDebugPage([]byte(tc.body)); got != tc.want {
			t.Errorf("%q: detected %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestDecodePrefix(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(bytes.Repeat([]byte{0}, 100<<20)) // 100 MiB of zeros in about 100 KiB
	zw.Close()
	out, ok := decodePrefix("gzip", b.Bytes()[:DebugPeekBytes])
	if !ok || len(out) != DebugPeekBytes {
		t.Errorf("gzip bomb prefix: %d bytes, %v; want exactly %d", len(out), ok, DebugPeekBytes)
	}
	page := loadFixture(t, "django3_technical500.http").body
	b.Reset()
	zw = gzip.NewWriter(&b)
	zw.Write(page)
	zw.Close()
	out, ok = decodePrefix("GZIP", b.Bytes()[:2000]) // cut mid-stream
	if !ok || len(out) == 0 || !bytes.HasPrefix(page, out) {
		t.Errorf("cut gzip stream: %d bytes, %v", len(out), ok)
	}
	for _, enc := range []string{"br", "zstd", "gzip, br", "compress"} {
		if _, ok := decodePrefix(enc, []byte("x")); ok {
			t.Errorf("%q decoded", enc)
		}
	}
	if _, ok := decodePrefix("gzip", []byte("not gzip")); ok {
		t.Error("garbage decoded as gzip")
	}
}

var exceptionName = regexp.MustCompile(`^[A-Za-z_$][\w$.:]{0,127}$`)

// FuzzDetectDebugPage: the detector never panics; what it detects stays
// detected when more of the body follows (it decides on a prefix); the
// exception it reports is a bare class name; and each framework's marker
// is found wherever it sits in arbitrary bytes.
func FuzzDetectDebugPage(f *testing.F) {
	for name := range debugFixtures {
		body := loadFixture(f, name).body
		f.Add(body[:min(len(body), 2048)], []byte("tail"))
	}
	f.Add([]byte("Traceback (most recent call last):\n  File \""), []byte{})
	f.Add([]byte("goroutine 1 [running]:\n"), []byte("x"))
	markers := []string{
		"<title>E: x\n // Werkzeug Debugger</title>",
		"<meta name=\"robots\" content=\"NONE,NOARCHIVE\">\n<title>E at /x</title>",
		"\nDjango Version: 5.0\nPython Executable: /usr/bin/python3",
		"<title>Action Controller: Exception caught</title>",
		"<pre>Error: x<br> &nbsp; &nbsp;at f (/a.js:1:2)",
		"goroutine 1 [running]:\n",
	}
	f.Fuzz(func(t *testing.T, b, more []byte) {
		kind, exc := detectDebugPage(b)
		if exc != "" && (kind == "" || !exceptionName.MatchString(exc)) {
			t.Fatalf("exception %q (kind %q)", exc, kind)
		}
		if kind != "" {
			if k, _ := detectDebugPage(append(b[:len(b):len(b)], more...)); k == "" {
				t.Fatalf("%q detected as %s, but not once followed by %q", b, kind, more)
			}
		}
		for _, m := range markers {
			page := append(append(append([]byte{}, b...), m...), more...)
			if k, _ := detectDebugPage(page); k == "" {
				t.Fatalf("marker %q not found in %q", m, page)
			}
		}
	})
}

// BenchmarkDetectDebugPage measures the detector on a full read-ahead of a
// 5xx that is not a debug page (every pattern is tried): the cost added to
// each ordinary 5xx.
func BenchmarkDetectDebugPage(b *testing.B) {
	body := bytes.Repeat([]byte("<p>We are down for maintenance. Please come back later.</p>\n"), DebugPeekBytes/10)[:DebugPeekBytes]
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if k, _ := detectDebugPage(body); k != "" {
			b.Fatal(k)
		}
	}
}
