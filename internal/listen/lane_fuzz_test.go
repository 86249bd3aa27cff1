package listen

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzLane_RequestBoundary checks that a request the lane answers is one
// net/http's parser reads the same way, to the same byte: the same
// method, target, Host, fields and Connection, and a head of the same
// length, so that the lane and net/http can never disagree on where the
// next request starts (request smuggling at the hand-over). And that
// net/http's server would accept it: one valid Host, valid fields.
func FuzzLane_RequestBoundary(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"GET /lf HTTP/1.1\nHost: a.test\n\nGET / HTTP/1.1\r\n",
		"HEAD /x?y=1 HTTP/1.1\r\nHost: a.test:443\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\nbody",
		"GET / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\nX: a\x00b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if headEnd(b) > len(b) {
			t.Fatalf("headEnd %d beyond %d bytes", headEnd(b), len(b))
		}
		lc := &laneConn{br: bufio.NewReaderSize(bytes.NewReader(b), laneHeadMax)}
		got, n, err := lc.peekRequest()
		if err != nil || got == nil {
			return
		}
		rd := bytes.NewReader(b)
		br := bufio.NewReader(rd)
		want, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the lane answers a request net/http's parser refuses (%v): %q", err, b)
		}
		if consumed := len(b) - br.Buffered() - rd.Len(); consumed != n {
			t.Fatalf("the lane's head is %d bytes, net/http's %d: %q", n, consumed, b)
		}
		if want.Body != http.NoBody || want.ContentLength != 0 {
			t.Fatalf("net/http reads a body where the lane sees none: %q", b)
		}
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
			got.Close != want.Close || !reflect.DeepEqual(got.Header, want.Header) {
			t.Fatalf("the lane reads %+v, net/http %+v: %q", got, want, b)
		}
		if !httpguts.ValidHostHeader(got.Host) || got.Host == "" {
			t.Fatalf("the lane answers a request with Host %q", got.Host)
		}
		for k, vv := range got.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				t.Fatalf("invalid field name %q answered", k)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("invalid field value %q answered", v)
				}
			}
		}
	})
}
