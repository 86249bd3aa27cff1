package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/safe"
)

// deadUpstream returns the URL of a loopback port nobody listens on.
func deadUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestProxy_UpstreamDown_NoInternalsLeaked: a refused connection is a
// generic 502, as HTML or problem+json, without the upstream's address or
// the error text; both go to the log, with the request id and client.
func TestProxy_UpstreamDown_NoInternalsLeaked(t *testing.T) {
	upURL := deadUpstream(t)
	upHost := mustURL(t, upURL).Host
	p, errLog, secLog := testProxy(t, upURL, Options{})
	h := withContext(p, "rid-502", netip.MustParseAddr("198.51.100.9"))
	fe := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY") // set earlier in the pipeline
		h.ServeHTTP(w, r)
	}))
	for _, tc := range []struct {
		accept, ctype string
	}{
		{"text/html", "text/html; charset=utf-8"},
		{"application/json", "application/problem+json"},
	} {
		req := newRequest(t, "GET", fe.URL+"/api/x", nil)
		req.Header.Set("Accept", tc.accept)
		res, err := fe.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("Accept %s: status %d, want 502", tc.accept, res.StatusCode)
		}
		if got := res.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("Accept %s: Content-Type %q, want %q", tc.accept, got, tc.ctype)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("Accept %s: header set before the proxy was lost", tc.accept)
		}
		for _, leak := range []string{upHost, "127.0.0.1", "refused", "dial", "tcp"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("Accept %s: response leaks %q: %s", tc.accept, leak, body)
			}
		}
		if !strings.Contains(string(body), "rid-502") {
			t.Errorf("Accept %s: request id missing from the error page: %s", tc.accept, body)
		}
		if tc.ctype == "application/problem+json" {
			var pr struct{ Status int }
			if err := json.Unmarshal(body, &pr); err != nil || pr.Status != 502 {
				t.Errorf("problem+json: %v %s", err, body)
			}
		}
	}
	logs := errLog.String()
	for _, want := range []string{`"msg":"proxy request failed"`, upHost, "refused", `"request_id":"rid-502"`, `"client_ip":"198.51.100.9"`, `"status":502`} {
		if !strings.Contains(logs, want) {
			t.Errorf("error log lacks %s:\n%s", want, logs)
		}
	}
	if !strings.Contains(secLog.String(), `"event.action":"upstream_unavailable"`) {
		t.Errorf("no upstream_unavailable security event:\n%s", secLog.String())
	}
}

// TestProxy_SlowUpstream_GatewayTimeout: an upstream that accepts the
// request and never answers is a 504 once ResponseHeaderTimeout passes.
func TestProxy_SlowUpstream_GatewayTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	p, errLog, _ := testProxy(t, up.URL, Options{ResponseHeaderTimeout: 50 * time.Millisecond})
	fe := front(t, p)
	req := newRequest(t, "GET", fe.URL, nil)
	req.Header.Set("Accept", "application/json")
	res, err := fe.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", res.StatusCode)
	}
	if strings.Contains(string(body), "timeout awaiting") {
		t.Errorf("error text leaked: %s", body)
	}
	if !strings.Contains(errLog.String(), `"reason":"upstream_timeout"`) {
		t.Errorf("log lacks the timeout:\n%s", errLog.String())
	}
}

// countingUpstream reads the whole body and answers its length; calls
// counts the requests that reached it.
func countingUpstream(t *testing.T, calls *atomic.Int32) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		io.WriteString(w, strconv.FormatInt(n, 10))
	}))
	t.Cleanup(up.Close)
	return up
}

// TestProxy_OversizedBody_ContentLength: a declared length over the limit
// is refused at once, before any byte is read or the upstream contacted.
func TestProxy_OversizedBody_ContentLength(t *testing.T) {
	var calls atomic.Int32
	up := countingUpstream(t, &calls)
	p, _, _ := testProxy(t, up.URL, Options{MaxBodyBytes: 1 << 20})
	fe := front(t, p)
	conn, err := net.Dial("tcp", mustURL(t, fe.URL).Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers only: a proxy that waited for the body would hang here.
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: app.example\r\nContent-Length: 1073741824\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", res.StatusCode)
	}
	if !res.Close {
		t.Error("connection kept open with an unread body on it")
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("upstream contacted %d times", n)
	}
}

// TestProxy_OversizedBody_Chunked: a chunked body is cut at the limit and
// answered 413; one under the limit passes whole.
func TestProxy_OversizedBody_Chunked(t *testing.T) {
	var calls atomic.Int32
	up := countingUpstream(t, &calls)
	const limit = 64 << 10
	p, errLog, secLog := testProxy(t, up.URL, Options{MaxBodyBytes: limit})
	fe := front(t, p)
	for _, tc := range []struct {
		size int64
		code int
	}{{limit, 200}, {limit + 1, 413}, {10 * limit, 413}} {
		req := newRequest(t, "POST", fe.URL, nil)
		req.Body = io.NopCloser(io.LimitReader(zeros{}, tc.size))
		req.ContentLength = -1 // chunked
		res, err := fe.Client().Do(req)
		if err != nil {
			t.Fatalf("size %d: %v", tc.size, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code {
			t.Errorf("size %d: status %d, want %d", tc.size, res.StatusCode, tc.code)
		}
		if tc.code == 200 && string(body) != strconv.FormatInt(tc.size, 10) {
			t.Errorf("size %d: upstream read %s bytes", tc.size, body)
		}
	}
	if strings.Contains(errLog.String(), "proxy request failed") || secLog.String() != "" {
		t.Errorf("a client's oversized body was logged as an upstream failure:\n%s%s", errLog, secLog)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// TestProxy_ClientDisconnect_NotUpstreamFailure: a client that leaves
// while the upstream works is logged at debug level, not as a 502 or an
// upstream_unavailable event.
func TestProxy_ClientDisconnect_NotUpstreamFailure(t *testing.T) {
	arrived := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	t.Cleanup(up.Close)
	p, errLog, secLog := testProxy(t, up.URL, Options{})
	done := make(chan int, 1)
	fe := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		p.ServeHTTP(sw, r)
		done <- sw.code
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	req := newRequest(t, "GET", fe.URL, nil).WithContext(ctx)
	_, err := fe.Client().Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want context.Canceled", err)
	}
	if code := <-done; code != safe.StatusClientClosedRequest {
		t.Errorf("recorded status %d, want %d", code, safe.StatusClientClosedRequest)
	}
	logs := errLog.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) || !strings.Contains(logs, "client closed request") {
		t.Errorf("no debug record of the disconnect:\n%s", logs)
	}
	if strings.Contains(logs, `"level":"ERROR"`) || secLog.String() != "" {
		t.Errorf("disconnect logged as an upstream failure:\n%s%s", logs, secLog)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// TestClassify names each failure the transport reports.
func TestClassify(t *testing.T) {
	live := httptest.NewRequest("GET", "/", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	tests := []struct {
		name string
		r    *http.Request
		err  error
		want Reason
	}{
		{"refused", live, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, ReasonUnavailable},
		{"dial timeout", live, &net.OpError{Op: "dial", Err: timeoutErr{}}, ReasonTimeout},
		{"deadline", live, context.DeadlineExceeded, ReasonTimeout},
		{"body", live, &http.MaxBytesError{Limit: 1}, ReasonBodyTooLarge},
		{"client gone", gone, context.Canceled, ReasonClientGone},
		{"client gone, body read failed", gone, io.ErrUnexpectedEOF, ReasonClientGone},
		{"canceled upstream-side", live, context.Canceled, ReasonUnavailable},
		{"eof", live, io.ErrUnexpectedEOF, ReasonUnavailable},
	}
	for _, tc := range tests {
		if got := Classify(tc.r, tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// The error record of a failed request names its path; a path carrying a
// bidi override or a C1 control (Trojan Source, 8-bit CSI) must not reach
// whoever reads the log in a terminal.
func TestProxy_ErrorLogPathBidiInjection(t *testing.T) {
	p, errLog, _ := testProxy(t, deadUpstream(t), Options{})
	fe := front(t, p)
	res, err := fe.Client().Do(newRequest(t, "GET", fe.URL+"/admin%E2%80%AE%C2%9Bgnp.exe", nil))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := errLog.String(); strings.ContainsAny(got, "\u202e\u009b") || !strings.Contains(got, "/admin??gnp.exe") {
		t.Errorf("path not cleaned in the error log: %q", got)
	}
}
