package accesslog

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// server runs h behind the middleware on a loopback listener and returns
// its URL and the log buffer (read it after the response is complete).
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{wrote: make(chan struct{}, 1)}
	l, err := New(Options{Writer: buf})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler(h))
	t.Cleanup(srv.Close)
	return srv, buf
}

type syncBuffer struct {
	mu    sync.Mutex
	data  bytes.Buffer
	wrote chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.data.Write(p)
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// waitLine blocks until the record of the finished request is written:
// the middleware logs after the handler returns, which may be after the
// client has read the response. The timeout only guards against a hang.
func (b *syncBuffer) waitLine(t *testing.T) string {
	t.Helper()
	select {
	case <-b.wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("no log line written")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.String()
}

func TestWriter_InformationalResponsesAreNotTheStatus(t *testing.T) {
	srv, buf := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ok")
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	m := decode(t, buf.waitLine(t))
	if m["status"].(float64) != 202 || m["bytes"].(float64) != 2 {
		t.Fatalf("status/bytes = %v/%v", m["status"], m["bytes"])
	}
}

func TestWriter_ImplicitOKAndNoBody(t *testing.T) {
	out := logOne(t, Options{}, func(http.ResponseWriter, *http.Request) {}, httptest.NewRequest("GET", "/", nil))
	if m := decode(t, out); m["status"].(float64) != 200 || m["bytes"].(float64) != 0 {
		t.Fatalf("record = %v", m)
	}
}

func TestWriter_FirstStatusWins(t *testing.T) {
	out := logOne(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.WriteHeader(http.StatusOK)         // superfluous, ignored by net/http too
		io.Copy(w, strings.NewReader("abc")) // ReadFrom path
	}, httptest.NewRequest("GET", "/", nil))
	if m := decode(t, out); m["status"].(float64) != 404 || m["bytes"].(float64) != 3 {
		t.Fatalf("record = %v", m)
	}
}

func TestWriter_FlushThroughResponseController(t *testing.T) {
	srv, buf := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex through Unwrap: %v", err)
		}
		w.(http.Flusher).Flush()
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	decode(t, buf.waitLine(t))
}

func TestWriter_HijackedRequestLoggedAs101(t *testing.T) {
	srv, buf := server(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
	})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // guard only
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v, %v", resp, err)
	}
	if m := decode(t, buf.waitLine(t)); m["status"].(float64) != 101 {
		t.Fatalf("status = %v", m["status"])
	}
}

// WebSocket through httputil.ReverseProxy, which hijacks through
// http.ResponseController: the wrapper must not break it.
func TestWriter_WebSocketThroughReverseProxy(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("upstream hijack: %v", err)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	srv, buf := server(t, rp.ServeHTTP)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second)) // guard only
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v, %v", resp, err)
	}
	io.WriteString(c, "hi\n")
	if got, _ := br.ReadString('\n'); got != "echo hi\n" {
		t.Fatalf("echo = %q", got)
	}
	c.Close()
	if m := decode(t, buf.waitLine(t)); m["status"].(float64) != 101 || m["path"] != "/ws" {
		t.Fatalf("record = %v", m)
	}
}

func TestWriter_PanicStillLogged(t *testing.T) {
	var buf bytes.Buffer
	l, _ := New(Options{Writer: &buf})
	func() {
		defer func() { recover() }()
		l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	m := decode(t, buf.String())
	if m["aborted"] != true || m["status"].(float64) != 0 {
		t.Fatalf("record = %v", m)
	}
}
