package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// resultLog collects what OnResult reports.
type resultLog struct {
	mu   sync.Mutex
	list []Result
}

func (l *resultLog) add(_ *http.Request, r Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, r)
}

func (l *resultLog) all() []Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Result(nil), l.list...)
}

// Every request the proxy forwards is reported once, on the direct path
// and through ReverseProxy (a flush interval turns the direct path off),
// with the upstream's status; each failure once, with its reason and the
// status of the page the proxy answers, not a second time for that page.
func TestOnResult_ReportsEachRequestOnce(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	for _, flush := range []time.Duration{0, time.Second} {
		var log resultLog
		p, _, _ := testProxy(t, up.URL, Options{OnResult: log.add, FlushInterval: flush, MaxBodyBytes: 10})
		for _, tc := range []struct {
			method, path, body string
			want               Result
		}{
			{"GET", "/", "", Result{Status: 200}},
			{"GET", "/missing", "", Result{Status: 404}},
			{"POST", "/", "far more than ten bytes", Result{Failed: true, Reason: ReasonBodyTooLarge, Status: 413}},
		} {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, body))
			got := log.all()
			if len(got) != 1 {
				t.Fatalf("flush %v, %s %s: %d results, want 1: %+v", flush, tc.method, tc.path, len(got), got)
			}
			g := got[0]
			if g.Failed != tc.want.Failed || g.Reason != tc.want.Reason || g.Status != tc.want.Status || g.Status != rec.Code || g.Duration < 0 {
				t.Errorf("flush %v, %s %s: %+v, want %+v (client got %d)", flush, tc.method, tc.path, g, tc.want, rec.Code)
			}
			log.list = nil
		}
	}
}

// An upstream that is down is reported as a failure with its reason.
func TestOnResult_UpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var log resultLog
	p, _, _ := testProxy(t, "http://"+addr, Options{OnResult: log.add})
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	got := log.all()
	if len(got) != 1 || !got[0].Failed || got[0].Reason != ReasonUnavailable || got[0].Status != http.StatusBadGateway || rec.Code != 502 {
		t.Fatalf("results %+v, client got %d", got, rec.Code)
	}
}

// BodyBufferUse shows a body being buffered while it is, and nothing once
// every request has ended.
func TestBodyBufferUse(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer up.Close()
	p, _, _ := testProxy(t, up.URL, Options{BodyMemoryBytes: 1024})
	front := httptest.NewServer(p)
	defer front.Close()

	pr, pw := io.Pipe()
	defer pw.Close() // a failure below must not leave the request hanging
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", front.URL+"/upload", pr)
		req.ContentLength = -1 // chunked: kept in memory while it fits
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	wait := func(what string, ok func(mem, disk int64) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mem, disk := p.BodyBufferUse()
			if ok(mem, disk) {
				return
			}
			if time.Now().After(deadline) {
				pw.CloseWithError(io.ErrUnexpectedEOF)
				t.Fatalf("%s: memory %d, disk %d", what, mem, disk)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// 512 bytes fit in memory (reserved in steps, up to 1 KiB); 8 KiB
	// more do not, and go to a file.
	if _, err := pw.Write(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	wait("after 512 bytes", func(mem, disk int64) bool { return mem > 0 && disk == 0 })
	if _, err := pw.Write(make([]byte, 8192)); err != nil {
		t.Fatal(err)
	}
	wait("after 8704 bytes", func(mem, disk int64) bool { return disk > 0 })
	pw.Write(make([]byte, 4096))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if mem, disk := p.BodyBufferUse(); mem != 0 || disk != 0 {
		t.Errorf("after the request: memory %d, disk %d; want 0", mem, disk)
	}
}
