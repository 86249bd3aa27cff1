package listen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/internal/tlsconf"
)

// TestSlowloris_HeaderTrickleDisconnected: a client sending its headers a
// byte at a time, slower than ReadHeaderTimeout allows in total, is
// disconnected before it finishes and never gets a response.
func TestSlowloris_HeaderTrickleDisconnected(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{ReadHeaderTimeout: 100 * time.Millisecond})
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	head := "GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + strings.Repeat("a", 200) + "\r\n\r\n"
	finished := make(chan bool, 1)
	go func() {
		for i := 0; i < len(head); i++ {
			if _, err := c.Write([]byte{head[i]}); err != nil {
				finished <- false
				return
			}
			time.Sleep(20 * time.Millisecond) // 200+ bytes: several seconds in all
		}
		finished <- true
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // guard only
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept the slow connection open")
	}
	// net/http closes the connection, at most after a 400; the request
	// never reaches the handler.
	if len(b) != 0 && !strings.HasPrefix(string(b), "HTTP/1.1 400 ") {
		t.Errorf("slow client got a response: %q", b)
	}
	if <-finished {
		t.Error("slow client managed to send all its headers")
	}
}

func TestOversizedHeaders_431(t *testing.T) {
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, okHandler(), cfg, Options{MaxHeaderBytes: 4096})
	for _, h2 := range []bool{false, true} {
		var protos http.Protocols
		protos.SetHTTP1(!h2)
		protos.SetHTTP2(h2)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: client, Protocols: &protos}}
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		// Many small fields: one huge field is refused by HTTP/2's HPACK
		// decoder as a connection error before the size check can answer.
		for i := range 32 {
			req.Header.Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("b", 512))
		}
		resp, err := hc.Do(req)
		if h2 && err != nil && strings.Contains(err.Error(), "larger than peer's advertised limit") {
			// The Go client saw the server's SETTINGS_MAX_HEADER_LIST_SIZE
			// first and refused locally: the limit is advertised.
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("h2=%v: status %d, want 431", h2, resp.StatusCode)
		}
	}
}

// TestSlowBody_Disconnected (R-U-D-Y): a client that sends its headers at
// once then trickles the body cannot hold the request past ReadTimeout.
func TestSlowBody_Disconnected(t *testing.T) {
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	addr, _ := startServer(t, h, nil, Options{ReadTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	go func() {
		for i := 0; i < 1000; i++ {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("slow body read to the end")
		}
	case <-time.After(15 * time.Second): // guard only
		t.Fatal("slow body still being read")
	}
}

// TestStreaming_OutlivesWriteTimeout: a response that lasts several times
// WriteTimeout, with each write prompt, is delivered whole; and a long
// response after a request body is not cancelled by the body deadline.
func TestStreaming_OutlivesWriteTimeout(t *testing.T) {
	// The response lasts 1.6 s against 1 s timeouts; the margins are wide
	// so a loaded machine cannot stall one write past the deadline.
	const chunks = 4
	ctxErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		defer func() { ctxErr <- err }() // always report: the test waits for it
		io.ReadAll(r.Body)
		rc := http.NewResponseController(w)
		for i := 0; i < chunks; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			if err = rc.Flush(); err != nil {
				return
			}
			time.Sleep(400 * time.Millisecond)
		}
		err = r.Context().Err()
	})
	cfg, client := dualCertConfig(t)
	o := Options{WriteTimeout: time.Second, ReadTimeout: time.Second}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{{"http1", nil}, {"h2", cfg}} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startServer(t, h, tc.cfg, o)
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: client, ForceAttemptHTTP2: true}}
			scheme := "http://"
			if tc.cfg != nil {
				scheme = "https://"
			}
			resp, err := hc.Post(scheme+addr+"/", "text/plain", strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n := 0
			for sc := bufio.NewScanner(resp.Body); sc.Scan(); n++ {
			}
			if n != chunks {
				t.Errorf("%s: got %d chunks, want %d", resp.Proto, n, chunks)
			}
			if err := <-ctxErr; err != nil {
				t.Errorf("long response cut (flush failed or request context cancelled): %v", err)
			}
		})
	}
}

// TestSlowRead_Disconnected: a client that stops reading a large response
// is dropped once a write stalls longer than WriteTimeout: over plain
// HTTP, which net/http serves, and over TLS, where the lane does.
func TestSlowRead_Disconnected(t *testing.T) {
	for _, overTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", overTLS), func(t *testing.T) {
			writeErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { write64MB(w, writeErr) })
			o := Options{WriteTimeout: 100 * time.Millisecond}
			var c net.Conn
			if overTLS {
				addr, l, client, _ := serveTLS(t, h, o, true)
				c = dialLane(t, addr, client)
				defer func() {
					if n := l.handOvers.Load(); n != 0 {
						t.Errorf("served by net/http (%d hand-overs), not the lane", n)
					}
				}()
			} else {
				addr, _ := startServer(t, h, nil, o)
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			// Never read.
			wantWriteFailed(t, writeErr)
		})
	}
}

// write64MB writes 64 MB to w, far beyond socket buffers, and sends the
// first write error, or nil, on errc.
func write64MB(w http.ResponseWriter, errc chan<- error) {
	buf := make([]byte, 64<<10)
	for range 1000 {
		if _, err := w.Write(buf); err != nil {
			errc <- err
			return
		}
	}
	errc <- nil
}

// wantWriteFailed waits for write64MB, writing to a client that reads
// nothing, to fail.
func wantWriteFailed(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("64 MB written to a client that reads nothing")
		}
	case <-time.After(15 * time.Second): // guard only
		t.Fatal("write to a non-reading client still blocked")
	}
}

func TestRun_GracefulShutdownLetsInflightFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	addr, stop := startServer(t, h, nil, Options{ShutdownTimeout: 30 * time.Second})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{string(b), err}
	}()
	guard := time.After(60 * time.Second) // guard only: every wait below is bounded by it
	select {
	case <-started:
	case r := <-got:
		t.Fatalf("request ended before reaching the handler: %q %v", r.body, r.err)
	case <-guard:
		t.Fatal("request never reached the handler")
	}
	runErr := make(chan error, 1)
	go func() { runErr <- stop() }()
	// The listener closes at once: new connections are refused while the
	// in-flight request is still running.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		select {
		case <-guard:
			close(release)
			t.Fatal("listener still accepting after shutdown began")
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(release)
	var r result
	select {
	case r = <-got:
	case <-guard:
		t.Fatal("in-flight request never finished")
	}
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-guard:
		t.Fatal("Run did not return after the in-flight request finished")
	}
}

func TestRun_PortInUseFailsBeforeServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, _ := NewServer("127.0.0.1:0", okHandler(), nil, Options{})
	b, _ := NewServer(ln.Addr().String(), okHandler(), nil, Options{})
	if err := Run(context.Background(), a, b); err == nil {
		t.Fatal("Run started with a port in use")
	}
}

func TestNewServer_BadOptionsNamed(t *testing.T) {
	_, err := NewServer(":0", okHandler(), nil, Options{ReadHeaderTimeout: -1, MaxHeaderBytes: -1})
	if err == nil || !strings.Contains(err.Error(), "ReadHeaderTimeout: must not be negative") || !strings.Contains(err.Error(), "MaxHeaderBytes") {
		t.Fatalf("err = %v", err)
	}
	s, err := NewServer(":0", okHandler(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTP.ReadHeaderTimeout != DefaultReadHeaderTimeout || s.HTTP.MaxHeaderBytes != DefaultMaxHeaderBytes ||
		s.HTTP.IdleTimeout != DefaultIdleTimeout || s.HTTP.ReadTimeout != 0 || s.HTTP.WriteTimeout != 0 ||
		s.ShutdownTimeout != DefaultShutdownTimeout {
		t.Errorf("defaults not applied: %+v", s.HTTP)
	}
}

// TestCertReload_NewHandshakeSeesNewCertExistingConnectionKeeps rewrites
// the certificate files under a running server: a new handshake gets the
// new certificate while a connection opened before keeps working.
func TestCertReload_NewHandshakeSeesNewCertExistingConnectionKeeps(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, second := newTestCert(t, false), newTestCert(t, false)
	first.write(t, cf, kf)
	s, err := tlsconf.New(tlsconf.Options{CertFile: cf, KeyFile: kf, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startServer(t, okHandler(), s.TLSConfig(), Options{})
	client := &tls.Config{RootCAs: rootsOf(first, second), ServerName: "localhost", NextProtos: []string{"http/1.1"}}

	old, err := tls.Dial("tcp", addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	br := bufio.NewReader(old)
	get := func() {
		t.Helper()
		io.WriteString(old, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("existing connection: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("existing connection: %q", b)
		}
	}
	get()

	second.write(t, cf, kf)
	later := time.Now().Add(time.Minute)
	os.Chtimes(cf, later, later)
	os.Chtimes(kf, later, later)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}

	st, err := handshake(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if !st.PeerCertificates[0].Equal(second.leaf()) {
		t.Error("new handshake did not get the new certificate")
	}
	get()
	if !old.ConnectionState().PeerCertificates[0].Equal(first.leaf()) {
		t.Error("existing connection's certificate changed")
	}
}

func TestOptions_Validate(t *testing.T) {
	if w := (Options{}).Validate(); len(w) != 0 {
		t.Errorf("defaults: %v", w)
	}
	w := Options{ReadHeaderTimeout: time.Hour, ReadTimeout: 11 * time.Minute}.Validate()
	if len(w) != 2 || w.HasErrors() || w[0].Path != "ReadHeaderTimeout" || w[1].Path != "ReadTimeout" {
		t.Errorf("warnings = %v", w)
	}
	for _, n := range []int{-1, 1000, 2 << 20} {
		if e := (Options{MaxHeaderBytes: n}).Validate(); !e.HasErrors() || e[0].Path != "MaxHeaderBytes" {
			t.Errorf("MaxHeaderBytes %d: %v", n, e)
		}
	}
	if e := (Options{MaxConnsPerClient: MaxMaxConnsPerClient + 1}).Validate(); !e.HasErrors() {
		t.Errorf("MaxConnsPerClient over the maximum accepted")
	}
}

// TestErrorLog_RoutedToSlog: net/http's own errors reach slog; failed
// handshakes (scanners, old clients) are demoted to debug.
func TestErrorLog_RoutedToSlog(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, client := dualCertConfig(t)
	addr, stop := startServer(t, okHandler(), cfg, Options{Logger: logger})
	c := client.Clone()
	c.MaxVersion = tls.VersionTLS11
	c.MinVersion = tls.VersionTLS10
	handshake(addr, c)
	stop()
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "TLS handshake error") {
		t.Errorf("log = %q", got)
	}
}

func BenchmarkDeadlines(b *testing.B) {
	h := withDeadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	}), time.Minute, time.Minute)
	r, _ := http.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(discardWriter{}, r)
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// BenchmarkTLS13Handshake measures a full TLS 1.3 handshake (ECDSA P-256,
// X25519MLKEM768) over loopback.
func BenchmarkTLS13Handshake(b *testing.B) {
	cfg, client := dualCertConfig(b)
	addr, _ := startServer(b, okHandler(), cfg, Options{})
	c := client.Clone()
	c.ClientSessionCache = nil
	b.ReportAllocs()
	for b.Loop() {
		if _, err := handshake(addr, c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWebSocketHijack_NotBoundByTimeouts: a hijacked connection (WebSocket)
// outlives WriteTimeout and ReadTimeout, through a plain http.Hijacker
// type assertion as older WebSocket libraries do.
func TestWebSocketHijack_NotBoundByTimeouts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("ResponseWriter is not an http.Hijacker")
			return
		}
		c, brw, err := hj.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, err := brw.ReadString('\n') // arrives after both timeouts
		if err != nil {
			t.Errorf("hijacked read: %v", err)
			return
		}
		time.Sleep(300 * time.Millisecond)
		io.WriteString(c, "echo "+line)
	})
	addr, _ := startServer(t, h, nil, Options{WriteTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	time.Sleep(300 * time.Millisecond)
	io.WriteString(c, "ping\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // guard only
	got, err := br.ReadString('\n')
	if err != nil || got != "echo ping\n" {
		t.Fatalf("after the timeouts: %q %v", got, err)
	}
}

// TestSlowloris_SilentOrTricklingHandshakeDisconnected: a client that opens
// a connection and sends nothing, or only the start of a TLS ClientHello,
// is dropped once ReadHeaderTimeout expires (net/http applies it to the
// TLS handshake too).
func TestSlowloris_SilentOrTricklingHandshakeDisconnected(t *testing.T) {
	cfg, _ := dualCertConfig(t)
	o := Options{ReadHeaderTimeout: 100 * time.Millisecond}
	tlsAddr, _ := startServer(t, okHandler(), cfg, o)
	plainAddr, _ := startServer(t, okHandler(), nil, o)
	for _, tc := range []struct {
		name, addr, send string
	}{
		{"SilentTLS", tlsAddr, ""},
		{"PartialClientHello", tlsAddr, "\x16\x03\x01\x02\x00\x01"},
		{"SilentPlain", plainAddr, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.send)
			c.SetReadDeadline(time.Now().Add(30 * time.Second)) // guard only
			_, err = io.ReadAll(c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server kept the connection open")
			}
		})
	}
}
