package listen

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// goneNotifier is the proxy's clientGoneNotifier.
type goneNotifier interface {
	AfterClientGone(ctx context.Context, f func()) (stop func() bool, ok bool)
}

// notifierOf finds the goneNotifier w wraps, as the proxy does.
func notifierOf(w http.ResponseWriter) goneNotifier {
	for {
		if n, ok := w.(goneNotifier); ok {
			return n
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// goneResult is what goneHandler saw: AfterClientGone registered its
// function (ok), the function ran, stop returned true.
type goneResult struct {
	ok, ran, stopped bool
}

// goneHandler registers a function with AfterClientGone and waits for the
// request's context to end: /wait, /stop (stopped at once), /derived (for
// a context derived with a cancel of its own), /leave-unstopped (left
// registered as the request ends).
func goneHandler(t *testing.T, results chan<- goneResult) http.Handler {
	type result = goneResult
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := notifierOf(w)
		if n == nil {
			t.Error("the lane's writer has no AfterClientGone")
			results <- result{}
			return
		}
		ctx := context.WithValue(r.Context(), struct{}{}, 1) // values do not matter
		switch r.URL.Path {
		case "/derived":
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			_, ok := n.AfterClientGone(ctx, func() {})
			results <- result{ok: ok}
			return
		case "/leave-unstopped":
			// Registered and left behind: the next request's leaving
			// must not run it.
			_, ok := n.AfterClientGone(ctx, func() { t.Error("a finished request's function ran") })
			if !ok {
				t.Error("not registered")
			}
			io.WriteString(w, "ok")
			return
		}
		ran := make(chan struct{})
		stop, ok := n.AfterClientGone(ctx, func() { close(ran) })
		if !ok {
			results <- result{}
			return
		}
		stopped := false
		if r.URL.Path == "/stop" {
			stopped = stop()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		select {
		case <-ran:
			results <- result{ok: true, ran: true, stopped: stopped || stop()}
		case <-time.After(200 * time.Millisecond):
			results <- result{ok: true, stopped: stopped}
		}
	})
}

// nextGoneResult waits for goneHandler's next result.
func nextGoneResult(t *testing.T, results <-chan goneResult) goneResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("no result")
	}
	return goneResult{}
}

// The lane's AfterClientGone, which the proxy uses in place of
// context.AfterFunc: f runs when the client leaves, not after stop, not
// for a later request, and only for the request's own context.
func TestLane_AfterClientGone(t *testing.T) {
	type result = goneResult
	results := make(chan result, 1)
	_, lane, _, client := laneServers(t, goneHandler(t, results))
	leave := func(t *testing.T, raw string) result {
		t.Helper()
		c := dialLane(t, lane, client)
		io.WriteString(c, raw)
		time.Sleep(100 * time.Millisecond) // past the watch's start
		c.Close()
		return nextGoneResult(t, results)
	}
	t.Run("client leaves", func(t *testing.T) {
		if r := leave(t, "GET /wait HTTP/1.1\r\nHost: lane.test\r\n\r\n"); !r.ok || !r.ran || r.stopped {
			t.Errorf("%+v, want registered, run, and stop false after", r)
		}
	})
	t.Run("stopped first", func(t *testing.T) {
		if r := leave(t, "GET /stop HTTP/1.1\r\nHost: lane.test\r\n\r\n"); !r.ok || r.ran || !r.stopped {
			t.Errorf("%+v, want registered, stopped, never run", r)
		}
	})
	t.Run("a finished request's function", func(t *testing.T) {
		r := leave(t, "GET /leave-unstopped HTTP/1.1\r\nHost: lane.test\r\n\r\nGET /wait HTTP/1.1\r\nHost: lane.test\r\n\r\n")
		if !r.ok || !r.ran {
			t.Errorf("%+v, want the second request's function run", r)
		}
	})
	t.Run("a request that begins soon after an earlier one", func(t *testing.T) {
		// The second request begins 30 ms after the first, within the
		// goneAfter of the first's start: it is watched once it has
		// lasted goneAfter itself, whatever the connection's timer
		// did for the first.
		c := dialLane(t, lane, client)
		io.WriteString(c, "GET /leave-unstopped HTTP/1.1\r\nHost: lane.test\r\n\r\n")
		time.Sleep(goneAfter * 3 / 5)
		io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: lane.test\r\n\r\n")
		time.Sleep(2 * goneAfter)
		c.Close()
		if r := nextGoneResult(t, results); !r.ok || !r.ran {
			t.Errorf("%+v, want the second request's function run", r)
		}
	})
	t.Run("derived context", func(t *testing.T) {
		c := dialLane(t, lane, client)
		defer c.Close()
		io.WriteString(c, "GET /derived HTTP/1.1\r\nHost: lane.test\r\n\r\n")
		if r := nextGoneResult(t, results); r.ok {
			t.Error("registered for a context the handler can cancel: the proxy would not see it cancelled")
		}
	})
}

// The HTTP/2 server's AfterClientGone: f runs when the client resets the
// stream, not after stop, and only for the request's own context.
func TestH2_AfterClientGone(t *testing.T) {
	results := make(chan goneResult, 1)
	addr, _, client, _ := serveTLS(t, goneHandler(t, results), Options{}, false)
	fr := h2Dial(t, addr, client)
	go h2ReadAll(fr, nil)
	request := func(id uint32, path string) {
		block := atkBlock(":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", path)
		if err := fr.write(func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true})
		}); err != nil {
			t.Fatal(err)
		}
	}
	result := func(t *testing.T) goneResult {
		t.Helper()
		return nextGoneResult(t, results)
	}
	reset := func(id uint32) {
		time.Sleep(50 * time.Millisecond)
		fr.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) })
	}
	t.Run("client resets", func(t *testing.T) {
		request(1, "/wait")
		reset(1)
		if r := result(t); !r.ok || !r.ran || r.stopped {
			t.Errorf("%+v, want registered, run, and stop false after", r)
		}
	})
	t.Run("stopped first", func(t *testing.T) {
		request(3, "/stop")
		reset(3)
		if r := result(t); !r.ok || r.ran || !r.stopped {
			t.Errorf("%+v, want registered, stopped, never run", r)
		}
	})
	t.Run("derived context", func(t *testing.T) {
		request(5, "/derived")
		if r := result(t); r.ok {
			t.Error("registered for a context the handler can cancel")
		}
	})
}
