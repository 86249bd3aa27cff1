package listen

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// laneHandlers are the responses the lane must write as net/http does.
var laneHandlers = map[string]http.HandlerFunc{
	"small": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
	"html":  func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<!doctype html><p>sniffed") },
	"typed": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "typed")
	},
	"large": func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 10; i++ {
			w.Write([]byte(strings.Repeat(string(rune('a'+i)), 1000)))
		}
	},
	"declared": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "12345")
	},
	"declared large": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000")
		w.Write([]byte(strings.Repeat("x", 5000)))
	},
	"flush": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	},
	"empty": func(w http.ResponseWriter, r *http.Request) {},
	"204":   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	"404 body": func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "nope")
	},
	"304 etag": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	},
	"trailer": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
	},
	"trailer prefix": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	},
	"newlines in a value": func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-A"] = []string{"a\r\nX-Injected: b", " padded\t"}
		w.Header()["X-Lf"] = []string{strings.Repeat("long ", 40) + "\nX-Injected-Lf: c"}
		w.Header()["X-Cr"] = []string{strings.Repeat("long ", 40) + "\rX-Injected-Cr: d"}
		io.WriteString(w, "ok")
	},
	"bad name": func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Bad Name"] = []string{"x"}
		w.Header()["X-Good"] = []string{"y"}
		io.WriteString(w, "ok")
	},
	"early hints": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "after hints")
	},
	"connection close": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	},
	"encoded": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write([]byte{0x1f, 0x8b, 0, 0})
	},
	"101 without an upgrade": func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		io.WriteString(w, "not allowed")
	},
	"two statuses": func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "first status wins")
	},
	"header after write": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.Header().Set("X-Late", "ignored")
	},
	"invalid status": func(w http.ResponseWriter, r *http.Request) {
		defer func() { recover(); io.WriteString(w, "recovered") }()
		w.WriteHeader(1000)
	},
	"date kept": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		io.WriteString(w, "dated")
	},
}

// laneResult is a response as a client sees it, Date's value aside.
type laneResult struct {
	Interim []int
	Status  int
	Header  http.Header
	Body    string
	Trailer http.Header
	Length  int64
	Chunked bool
	Close   bool
	HasDate bool
	Second  string // the next request's answer on the same connection
}

// laneServers serves h twice through NewServer and Run, with TLS: with
// the lane and without it, net/http alone. It returns their addresses,
// the first's lane and a client configuration for both.
func laneServers(t *testing.T, h http.Handler) (std, withLane string, l *lane, client *tls.Config) {
	t.Helper()
	cert := newTestCert(t, false)
	std, _, client, _ = serveTLSWith(t, h, Options{}, false, cert)
	withLane, l, _, _ = serveTLSWith(t, h, Options{}, true, cert)
	return std, withLane, l, client
}

// serveTLS serves h through NewServer and Run on loopback, with TLS
// offering HTTP/2 and HTTP/1.1, with the lane or without it. It returns
// the address, the lane, a client configuration for HTTP/1.1 and a
// function that stops the server and returns Run's result.
func serveTLS(t testing.TB, h http.Handler, o Options, withLane bool) (string, *lane, *tls.Config, func() error) {
	t.Helper()
	return serveTLSWith(t, h, o, withLane, newTestCert(t, false))
}

func serveTLSWith(t testing.TB, h http.Handler, o Options, withLane bool, cert testCert) (string, *lane, *tls.Config, func() error) {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.tls}, NextProtos: []string{"h2", "http/1.1"}}
	client := &tls.Config{RootCAs: rootsOf(cert), ServerName: "localhost", NextProtos: []string{"http/1.1"}}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := NewServer("127.0.0.1:0", h, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	l := s.lane()
	if l == nil {
		if !wrapTLS {
			testenv.Missing(t, "Go 1.27, which the lane needs (early_tls.go)", "GOTOOLCHAIN=go1.27.3, as go.mod says")
		}
		t.Fatal("a TLS server has no lane")
	}
	if !withLane {
		s.state.lane = nil
	}
	addr, stop := runServer(t, s)
	return addr, l, client, stop
}

// dialLane connects to addr over TLS for the test, bounded to 10 s.
func dialLane(t *testing.T, addr string, client *tls.Config) net.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// laneExchange sends two requests on one connection to addr and reads the
// answers.
func laneExchange(t *testing.T, addr string, client *tls.Config, method, extra string) laneResult {
	t.Helper()
	c := dialLane(t, addr, client)
	req := method + " / HTTP/1.1\r\nHost: lane.test\r\n" + extra + "\r\n"
	fmt.Fprint(c, req+"GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	br := bufio.NewReader(c)
	var res laneResult
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		res.Interim = append(res.Interim, resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	_, res.HasDate = resp.Header["Date"]
	resp.Header.Del("Date")
	res.Status, res.Header, res.Body, res.Trailer = resp.StatusCode, resp.Header, string(body), resp.Trailer
	res.Length, res.Chunked, res.Close = resp.ContentLength, slices.Contains(resp.TransferEncoding, "chunked"), resp.Close
	if !resp.Close {
		next, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("second request on the connection: %v", err)
		}
		b, _ := io.ReadAll(next.Body)
		res.Second = fmt.Sprint(next.StatusCode, " ", string(b))
	}
	return res
}

// The lane's responses are net/http's, field for field, for every handler,
// GET and HEAD, kept alive or closed.
func TestLane_AnswersAsNetHTTP(t *testing.T) {
	for name, h := range laneHandlers {
		std, lane, l, client := laneServers(t, h)
		for _, method := range []string{"GET", "HEAD"} {
			for _, extra := range []string{"", "Connection: close\r\n"} {
				t.Run(fmt.Sprintf("%s %s %q", name, method, extra), func(t *testing.T) {
					want, got := laneExchange(t, std, client, method, extra), laneExchange(t, lane, client, method, extra)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("lane:\n%+v\nnet/http:\n%+v", got.short(), want.short())
					}
					if n := l.handOvers.Load(); n != 0 {
						t.Fatalf("%d plain connections handed to net/http: the lane answered nothing", n)
					}
				})
			}
		}
	}
}

// short is r with its bodies cut, for a failure's message.
func (r laneResult) short() laneResult {
	cut := func(s string) string {
		if len(s) > 40 {
			return s[:40] + fmt.Sprintf("...(%d bytes)", len(s))
		}
		return s
	}
	r.Body, r.Second = cut(r.Body), cut(r.Second)
	return r
}

// A client that leaves while the handler waits cancels the request's
// context, as net/http's background read does.
func TestLane_ClientGoneCancels(t *testing.T) {
	cancelled := make(chan struct{})
	_, lane, _, client := laneServers(t, waitForCancel(cancelled))
	c := dialLane(t, lane, client)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // past the watch's start
	c.Close()
	wantCancelled(t, cancelled)
}

// waitForCancel is a handler that waits for its request's context to
// end, and then closes cancelled.
func waitForCancel(cancelled chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second): // guard only
		}
	})
}

// wantCancelled waits for waitForCancel's request to be cancelled.
func wantCancelled(t *testing.T, cancelled <-chan struct{}) {
	t.Helper()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the request's context outlived its client")
	}
}

// rawAnswers sends raw to addr on one connection and reads up to n
// answers (fewer if the connection ends), each as status, header (Date
// aside) and body.
func rawAnswers(t *testing.T, addr string, client *tls.Config, raw string, n int) []string {
	t.Helper()
	c := dialLane(t, addr, client)
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	var out []string
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		out = append(out, fmt.Sprintf("%d %v %q", resp.StatusCode, resp.Header, b))
		if resp.Close {
			break
		}
	}
	return out
}

// What the lane does not answer itself it hands to net/http with the
// bytes it had read: the answers are net/http's, whatever came before on
// the connection.
func TestLane_HandsTheRestToNetHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s body=%q err=%v", r.Method, r.Proto, r.URL, b, err)
	})
	std, lane, l, client := laneServers(t, h)
	get := "GET /a HTTP/1.1\r\nHost: lane.test\r\n\r\n"
	for name, raw := range map[string]string{
		"a body":                "POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 4\r\n\r\nbody" + get,
		"a chunked body":        "POST /p HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n" + get,
		"after plain requests":  get + get + "POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 4\r\n\r\nbody" + get,
		"expect 100-continue":   "POST /p HTTP/1.1\r\nHost: lane.test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody" + get,
		"HTTP/1.0":              "GET /old HTTP/1.0\r\nHost: lane.test\r\n\r\n",
		"a zero Content-Length": "GET /z HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 0\r\n\r\n" + get,
		"an absolute target":    "GET http://lane.test/abs HTTP/1.1\r\nHost: lane.test\r\n\r\n" + get,
		"two Host fields":       "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n" + get,
		"a malformed request":   "GET / HTTP/1.1\r\nHost lane.test\r\n\r\n",
		"a bad field value":     "GET / HTTP/1.1\r\nHost: lane.test\r\nX-A: a\x00b\r\n\r\n",
		"an upgrade":            "GET /ws HTTP/1.1\r\nHost: lane.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"a head too large":      "GET / HTTP/1.1\r\nHost: lane.test\r\nX-Big: " + strings.Repeat("x", 5000) + "\r\n\r\n" + get,
	} {
		t.Run(name, func(t *testing.T) {
			n := strings.Count(raw, " HTTP/1.") // one answer per request, or fewer if closed
			before := l.handOvers.Load()
			want, got := rawAnswers(t, std, client, raw, n), rawAnswers(t, lane, client, raw, n)
			if l.handOvers.Load() == before {
				t.Error("the lane answered a request it should have handed to net/http")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("lane:\n%q\nnet/http:\n%q", got, want)
			}
		})
	}
}

// Lines ending in LF alone are a plain request to net/http's parser, and
// to the lane.
func TestLane_LinesEndingInLF(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL) })
	std, lane, l, client := laneServers(t, h)
	raw := "GET /lf HTTP/1.1\nHost: lane.test\n\nGET /crlf HTTP/1.1\r\nHost: lane.test\r\n\r\n"
	want, got := rawAnswers(t, std, client, raw, 2), rawAnswers(t, lane, client, raw, 2)
	if !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Errorf("lane:\n%q\nnet/http:\n%q", got, want)
	}
	if n := l.handOvers.Load(); n != 0 {
		t.Errorf("%d connections handed over", n)
	}
}

// A connection handed over in the middle is still TLS to net/http: the
// request it answers has its TLS state, as the lane's requests do.
func TestLane_HandOverKeepsTLS(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Method, r.TLS != nil && r.TLS.HandshakeComplete)
	})
	_, lane, l, client := laneServers(t, h)
	c := dialLane(t, lane, client)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\nPOST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\nx")
	br := bufio.NewReader(c)
	for _, want := range []string{"GET tls=true", "POST tls=true"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	}
	if l.handOvers.Load() != 1 {
		t.Errorf("%d hand-overs, want 1", l.handOvers.Load())
	}
}

// Options.NoLane leaves every request to net/http's server.
func TestLane_NoLane(t *testing.T) {
	s, err := NewServer("127.0.0.1:0", okHandler(), &tls.Config{}, Options{NoLane: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.lane() != nil {
		t.Fatal("NoLane: the server has a lane")
	}
	if s, _ = NewServer("127.0.0.1:0", okHandler(), &tls.Config{}, Options{}); s.lane() == nil {
		t.Fatal("a TLS server without NoLane has no lane")
	}
	if s, _ = NewServer("127.0.0.1:0", okHandler(), nil, Options{}); s.lane() != nil {
		t.Fatal("a plain-HTTP server has a lane")
	}
}

// TestHTTPDate checks the Date value shared within a second: it is the
// second's, changes with the second, and is the format net/http sends.
func TestHTTPDate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, now := range []time.Time{t0, t0.Add(999 * time.Millisecond), t0.Add(time.Second), t0.Add(-time.Hour).In(time.FixedZone("X", 3600)), t0} {
		if got, want := string(httpDate(now)), now.UTC().Format(http.TimeFormat); got != want {
			t.Errorf("httpDate(%v) = %q, want %q", now, got, want)
		}
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 1000 {
				now := t0.Add(time.Duration(i*1000+j) * time.Millisecond)
				if got, want := string(httpDate(now)), now.UTC().Format(http.TimeFormat); got != want {
					t.Errorf("httpDate(%v) = %q, want %q", now, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// LaneConnections counts, as they end, the connections the lane served to
// their end and those it handed to net/http; a server without the lane
// counts none.
func TestServer_LaneConnections(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	addr, l, client, _ := serveTLS(t, h, Options{}, true)
	s := &Server{state: &serverState{lane: l}}
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: lane.test\r\nConnection: close\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
	} {
		if got := rawAnswers(t, addr, client, raw, 1); len(got) != 1 || !strings.HasPrefix(got[0], "200 ") {
			t.Fatalf("%q: %q", raw, got)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; { // guard only
		ended, handedOver := s.LaneConnections()
		if ended == 1 && handedOver == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ended, %d handed over; want 1 and 1", ended, handedOver)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ended, handedOver := (&Server{}).LaneConnections(); ended != 0 || handedOver != 0 {
		t.Errorf("without the lane: %d, %d", ended, handedOver)
	}
}
