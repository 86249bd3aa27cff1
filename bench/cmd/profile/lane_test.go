package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
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
	"date kept": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		io.WriteString(w, "dated")
	},
}

// laneResult is a response as a client sees it, Date's value aside.
type laneResult struct {
	Interim   []int
	Status    int
	Header    http.Header
	Body      string
	Trailer   http.Header
	Length    int64
	Chunked   bool
	Close     bool
	HasDate   bool
	SecondURL string // the next request's answer on the same connection
}

// exchange sends two requests on one connection to addr and reads the
// answers.
func exchange(t *testing.T, addr, method, extra string) laneResult {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " / HTTP/1.1\r\nHost: lane.test\r\n" + extra + "\r\n"
	fmt.Fprint(c, req+"GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	br := bufio.NewReader(c)
	var res laneResult
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 200 {
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
	if d := resp.Header.Get("X-Date"); d != "" {
		t.Fatal("unexpected")
	}
	res.Status, res.Header, res.Body, res.Trailer = resp.StatusCode, resp.Header, string(body), resp.Trailer
	res.Length, res.Chunked, res.Close = resp.ContentLength, slices.Contains(resp.TransferEncoding, "chunked"), resp.Close
	if !resp.Close {
		next, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("second request on the connection: %v", err)
		}
		b, _ := io.ReadAll(next.Body)
		res.SecondURL = fmt.Sprint(next.StatusCode, " ", string(b))
	}
	return res
}

// serveBoth serves h behind net/http and behind the lane, on loopback.
func serveBoth(t *testing.T, h http.Handler) (std, lane string) {
	t.Helper()
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(sln)
	t.Cleanup(func() { srv.Close() })
	lln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lln.Close() })
	go func() {
		for {
			c, err := lln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serveLaneConn(c, nil, h, "")
			}()
		}
	}()
	return sln.Addr().String(), lln.Addr().String()
}

// The lane's responses are net/http's, field for field, for every handler,
// GET and HEAD, kept alive or closed.
func TestLane_AnswersAsNetHTTP(t *testing.T) {
	for name, h := range laneHandlers {
		std, lane := serveBoth(t, h)
		for _, method := range []string{"GET", "HEAD"} {
			for _, extra := range []string{"", "Connection: close\r\n"} {
				t.Run(fmt.Sprintf("%s %s %q", name, method, extra), func(t *testing.T) {
					want, got := exchange(t, std, method, extra), exchange(t, lane, method, extra)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("lane:\n%+v\nnet/http:\n%+v", got.short(), want.short())
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
	r.Body, r.SecondURL = cut(r.Body), cut(r.SecondURL)
	return r
}

// A client that leaves while the handler waits cancels the request's
// context, as net/http's background read does.
func TestLane_ClientGoneCancels(t *testing.T) {
	cancelled := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second): // guard only
		}
	})
	_, lane := serveBoth(t, h)
	c, err := net.Dial("tcp", lane)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // past the watch's start
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the request's context outlived its client")
	}
}
