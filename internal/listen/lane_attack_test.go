package listen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// A head trickled byte by byte is cut when ReadHeaderTimeout expires,
// and the connection is not handed to net/http, which would give the
// client a second ReadHeaderTimeout: on a new connection, where the time
// counts from the handshake, and on one kept alive, where it counts from
// the head's first bytes.
func TestLane_SlowHeadCutNotHandedOver(t *testing.T) {
	for _, after := range []int{0, 1} {
		t.Run(fmt.Sprintf("after %d requests", after), func(t *testing.T) {
			addr, l, client, _ := serveTLS(t, okHandler(), Options{ReadHeaderTimeout: 300 * time.Millisecond}, true)
			c := dialLane(t, addr, client)
			br := bufio.NewReader(c)
			for range after {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			}
			head := "GET / HTTP/1.1\r\nHost: lane.test\r\nX-Slow: " + strings.Repeat("x", 200) + "\r\n\r\n"
			sent := 0
			for ; sent < len(head); sent++ {
				if _, err := io.WriteString(c, head[sent:sent+1]); err != nil {
					break
				}
				time.Sleep(20 * time.Millisecond) // 5 s for the whole head
				if sent%10 == 0 && serverClosed(c) {
					break
				}
			}
			if sent == len(head) {
				t.Fatal("the whole trickled head was taken: no header timeout")
			}
			if n := l.handOvers.Load(); n != 0 {
				t.Fatalf("the stalled connection was handed to net/http (%d)", n)
			}
		})
	}
}

// serverClosed reports whether the server ended c: a read that returns
// at once with EOF or an error other than the short deadline's.
func serverClosed(c interface {
	SetReadDeadline(time.Time) error
	Read([]byte) (int, error)
}) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne interface{ Timeout() bool }
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// A kept-alive connection that sends nothing more is closed after
// IdleTimeout.
func TestLane_IdleConnectionClosed(t *testing.T) {
	addr, _, client, _ := serveTLS(t, okHandler(), Options{IdleTimeout: 200 * time.Millisecond}, true)
	c := dialLane(t, addr, client)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if _, err := br.ReadByte(); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the idle connection was not closed by the server (10 s guard): %v", err)
	}
}

// A request that lasts past goneAfter starts the client watch; the
// connection serves the next request all the same.
func TestLane_LastingRequestKeepsConnection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * goneAfter)
		fmt.Fprint(w, r.URL.Path, " ", r.Context().Err())
	})
	addr, l, client, _ := serveTLS(t, h, Options{}, true)
	got := rawAnswers(t, addr, client, "GET /1 HTTP/1.1\r\nHost: lane.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: lane.test\r\n\r\n", 2)
	if len(got) != 2 || !strings.Contains(got[0], `"/1 <nil>"`) || !strings.Contains(got[1], `"/2 <nil>"`) {
		t.Fatalf("answers: %q", got)
	}
	if n := l.handOvers.Load(); n != 0 {
		t.Fatalf("%d hand-overs", n)
	}
}

// A handler's panic is net/http's to handle: logged with its stack, the
// connection closed without an answer, the server still serving.
func TestLane_PanicLoggedConnectionClosed(t *testing.T) {
	var logs testenv.Buffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("lane test panic")
		}
		io.WriteString(w, "ok")
	})
	addr, _, client, _ := serveTLS(t, h, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, true)
	got := rawAnswers(t, addr, client, "GET /panic HTTP/1.1\r\nHost: lane.test\r\n\r\n", 1)
	if len(got) != 0 {
		t.Fatalf("a panicking handler was answered: %q", got)
	}
	if got := rawAnswers(t, addr, client, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n", 1); len(got) != 1 || !strings.Contains(got[0], `"ok"`) {
		t.Fatalf("after the panic: %q", got)
	}
	out := logs.String()
	if !strings.Contains(out, "http: panic serving") || !strings.Contains(out, "lane test panic") || !strings.Contains(out, "goroutine") {
		t.Fatalf("the panic was not logged with its stack:\n%s", out)
	}
	if strings.Contains(out, errLaneDone.Error()) {
		t.Fatalf("a connection's end was logged:\n%s", out)
	}
}

// blockingHandler answers "/" at once and holds "/hold" until released.
type blockingHandler struct {
	entered chan struct{}
	release chan struct{}
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (b *blockingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/hold" {
		b.entered <- struct{}{}
		<-b.release
	}
	io.WriteString(w, "done "+r.URL.Path)
}

// shutdownDuring serves a request held by its handler on a lane
// connection that first served one request and then waited age, stops
// the server, and checks that Run waits for the request, which is
// answered whole with Connection: close.
func shutdownDuring(t *testing.T, age time.Duration) {
	bh := newBlockingHandler()
	addr, _, client, stop := serveTLS(t, bh, Options{}, true)
	c := dialLane(t, addr, client)
	c.SetDeadline(time.Now().Add(age + 20*time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	time.Sleep(age)
	io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	<-bh.entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(bh.release)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight was cut by the shutdown: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "done /hold" || !resp.Close {
		t.Fatalf("answer %q (%v), Connection: close %v", b, err, resp.Close)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A graceful shutdown lets a lane request in flight finish.
func TestLane_ShutdownWaitsForRequestInFlight(t *testing.T) {
	shutdownDuring(t, 0)
}

// net/http's Shutdown closes, as idle, a connection it counts as new
// once it is 5 s old: the lane's all are. The request in flight on such
// a connection still finishes.
func TestLane_ShutdownWaitsOnOldConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 6 s")
	}
	t.Parallel()
	shutdownDuring(t, 5500*time.Millisecond)
}

// A graceful shutdown closes idle lane connections at once, where
// net/http would wait for them to be 5 s old.
func TestLane_ShutdownClosesIdleConnections(t *testing.T) {
	addr, _, client, stop := serveTLS(t, okHandler(), Options{}, true)
	c := dialLane(t, addr, client)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Run still waits for an idle connection")
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the idle connection is still open")
	}
}

// A streamed response reaches the client as each part is flushed, and
// may last longer than WriteTimeout as long as each write is prompt; its
// request's context is not cancelled meanwhile.
func TestLane_StreamingFlushesAndOutlivesWriteTimeout(t *testing.T) {
	const parts = 4
	received := make(chan int)
	ctxErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		defer func() { ctxErr <- err }()
		rc := http.NewResponseController(w)
		for i := range parts {
			fmt.Fprintf(w, "part %d\n", i)
			if err = rc.Flush(); err != nil {
				return
			}
			select {
			case <-received: // the client read this part: it was flushed
			case <-time.After(10 * time.Second): // guard only
				err = fmt.Errorf("part %d never reached the client", i)
				return
			}
			time.Sleep(400 * time.Millisecond)
		}
		err = r.Context().Err()
	})
	addr, l, client, _ := serveTLS(t, h, Options{WriteTimeout: time.Second}, true)
	c := dialLane(t, addr, client)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for ; n < parts && sc.Scan(); n++ {
		received <- n
	}
	if n != parts {
		t.Fatalf("got %d parts, want %d: %v", n, parts, sc.Err())
	}
	if err := <-ctxErr; err != nil {
		t.Fatalf("the stream was cut: %v", err)
	}
	if n := l.handOvers.Load(); n != 0 {
		t.Fatalf("served by net/http (%d hand-overs), not the lane", n)
	}
}

// A write or a header a handler leaves behind, made after it returned
// while the next request on the connection is being served, goes nowhere:
// it does not reach the next response.
func TestLane_LateWriteDoesNotReachTheNextResponse(t *testing.T) {
	var kept http.ResponseWriter
	lateErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/first":
			kept = w
			io.WriteString(w, "first")
		case "/second":
			// The first handler's writer, written while this one runs.
			kept.Header().Set("X-Leaked", "1")
			_, err := io.WriteString(kept, "LEAKED")
			if err == nil {
				err = http.NewResponseController(kept).Flush()
			}
			lateErr <- err
			io.WriteString(w, "second")
		}
	})
	addr, l, client, _ := serveTLS(t, h, Options{}, true)
	got := rawAnswers(t, addr, client, "GET /first HTTP/1.1\r\nHost: lane.test\r\n\r\nGET /second HTTP/1.1\r\nHost: lane.test\r\n\r\n", 2)
	if len(got) != 2 || !strings.HasSuffix(got[0], `"first"`) || !strings.HasSuffix(got[1], `"second"`) || strings.Contains(got[1], "Leaked") {
		t.Fatalf("answers %q", got)
	}
	if err := <-lateErr; err == nil {
		t.Fatal("a write after the handler returned succeeded")
	}
	if n := l.handOvers.Load(); n != 0 {
		t.Fatalf("%d hand-overs", n)
	}
}

// The lane leaves the head's read deadline on the connection while the
// handler runs; the client watch lifts it. A client that leaves after
// ReadHeaderTimeout has passed still cancels its request's context.
func TestLane_ClientGoneCancelsAfterHeadTimeout(t *testing.T) {
	const headTimeout = 200 * time.Millisecond
	cancelled := make(chan struct{})
	addr, l, client, _ := serveTLS(t, waitForCancel(cancelled), Options{ReadHeaderTimeout: headTimeout}, true)
	c := dialLane(t, addr, client)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	time.Sleep(2 * headTimeout)
	c.Close()
	wantCancelled(t, cancelled)
	if n := l.handOvers.Load(); n != 0 {
		t.Fatalf("%d hand-overs", n)
	}
}

// The lane renews a connection's write deadline at most once every
// WriteTimeout/8, not for every request: a client that reads one answer,
// then stops reading on the next request of the same connection, is cut
// off all the same.
func TestLane_SlowReadOnKeptAliveConnection(t *testing.T) {
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		write64MB(w, writeErr)
	})
	addr, l, client, _ := serveTLS(t, h, Options{WriteTimeout: 200 * time.Millisecond}, true)
	c := dialLane(t, addr, client)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /small HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	if res, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, res.Body)
	}
	io.WriteString(c, "GET /large HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	// Never read.
	wantWriteFailed(t, writeErr)
	if n := l.handOvers.Load(); n != 0 {
		t.Fatalf("%d hand-overs", n)
	}
}

// A handler's own write deadline (http.ResponseController) holds for its
// request: a deadline already past fails its writes. It does not outlive
// the request: the next request on the connection, after that deadline,
// is answered whole.
func TestLane_HandlerWriteDeadlineHoldsForItsRequestOnly(t *testing.T) {
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			io.WriteString(w, "short")
		case "/past":
			http.NewResponseController(w).SetWriteDeadline(time.Unix(1, 0))
			_, err := w.Write(make([]byte, 64<<10)) // beyond the body buffer: written now
			writeErr <- err
		default:
			io.WriteString(w, strings.Repeat("x", 64<<10))
		}
	})
	addr, l, client, _ := serveTLS(t, h, Options{}, true)

	c := dialLane(t, addr, client)
	br := bufio.NewReader(c)
	for _, path := range []string{"/short", "/next"} {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: lane.test\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d, %d bytes, %v", path, res.StatusCode, len(b), err)
		}
		time.Sleep(100 * time.Millisecond) // past /short's deadline
	}

	c2 := dialLane(t, addr, client)
	io.WriteString(c2, "GET /past HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("a write went out past the handler's own deadline")
		}
	case <-time.After(10 * time.Second): // guard only
		t.Fatal("no write")
	}
	if n := l.handOvers.Load(); n != 0 {
		t.Fatalf("%d hand-overs", n)
	}
}
