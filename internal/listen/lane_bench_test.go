package listen

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rampart-dev/rampart/secheaders"
)

// BenchmarkIdleConnectionMemory reports the heap a kept-alive HTTP/1.1
// connection holds once it has served a request and waits for the next,
// with the lane and with net/http alone: 500 connections, each after one
// plain GET; the live heap after two collections (sync.Pool's caches
// emptied). The client's side is in the figure too, the same in both.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	for _, withLane := range []bool{false, true} {
		name := "net-http"
		if withLane {
			name = "lane"
		}
		b.Run(name, func(b *testing.B) {
			addr, _, client, _ := serveTLS(b, okHandler(), Options{MaxConnsPerClient: 1000}, withLane)
			idleHeapPerConn(b, addr, client, func(c *tls.Conn) {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			})
		})
	}
}

// idleHeapPerConn opens 500 connections to addr, has each serve one
// request (serve), and reports the heap they hold once idle, per
// connection.
func idleHeapPerConn(b *testing.B, addr string, client *tls.Config, serve func(*tls.Conn)) {
	const conns = 500
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		var open []*tls.Conn
		for range conns {
			c, err := tls.Dial("tcp", addr, client)
			if err != nil {
				b.Fatal(err)
			}
			serve(c)
			open = append(open, c)
		}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/conns, "heap-B/conn")
		for _, c := range open {
			c.Close()
		}
	}
}

// BenchmarkWriteFields writes the header of a response as the gateway
// sends it by default: the security headers (secheaders' zero Policy, its
// Content-Security-Policy several hundred bytes) and an upstream's own.
func BenchmarkWriteFields(b *testing.B) {
	m, err := secheaders.New(secheaders.Policy{})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", "304")
		w.Header().Set("Last-Modified", "Mon, 07 Dec 2026 10:00:00 GMT")
	})).ServeHTTP(rec, httptest.NewRequest("GET", "https://lane.test/", nil))
	h := rec.Result().Header
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendFields(buf[:0], h, skipTE|skipConnection, nil)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkIdleH2ConnectionMemory is BenchmarkIdleConnectionMemory for
// HTTP/2: the heap an HTTP/2 connection holds between requests, client side
// included, with Go's HTTP/2 server and with rampart's.
func BenchmarkIdleH2ConnectionMemory(b *testing.B) {
	for _, goH2 := range []bool{true, false} {
		name := "rampart"
		if goH2 {
			name = "net-http"
		}
		b.Run(name, func(b *testing.B) {
			addr, _, client, _ := serveTLS(b, okHandler(), Options{MaxConnsPerClient: 1000, GoHTTP2: goH2}, true)
			client = client.Clone()
			client.NextProtos = []string{"h2"}
			idleHeapPerConn(b, addr, client, func(c *tls.Conn) { h2GetOnce(b, c) })
		})
	}
}

// h2GetOnce sends the client preface and one GET on c and reads frames until
// the response has ended.
func h2GetOnce(b *testing.B, c *tls.Conn) {
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: atkBlock(atkGET...), EndHeaders: true, EndStream: true})
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				return
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				return
			}
		}
	}
}
