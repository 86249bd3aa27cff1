package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// simpleResponses are responses simpleResponse must parse itself, the way
// http.ReadResponse does, each followed by the start of the next one.
var simpleResponses = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nServer: bench-upstream\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-lower: v\r\n\r\nabc",
	"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 500 Internal\tServer Error\r\nContent-Length: 2\r\n\r\nab",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Pad: \t v \t\r\nX-Empty:\r\nContent-Length: 007\r\n\r\n1234567",
	"HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
}

// otherResponses are responses simpleResponse leaves to ReadResponse,
// valid or not.
var otherResponses = []string{
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nuntil the connection ends",
	"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Fold: a\r\n b\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad: \x01\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Name: v\r\n\r\nok",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok",
	"HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
}

// parsed is a response's fields and what reading its body gave.
type parsed struct {
	res  *http.Response
	body string
	err  error  // the body's last error, io.EOF at its end
	rest string // what was left on the connection
}

func parseWith(raw string, simple bool) (*parsed, error) {
	br := bufio.NewReaderSize(strings.NewReader(raw), 4<<10)
	req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/", nil)
	var res *http.Response
	if simple {
		if res = simpleResponse(br, req, nil); res == nil {
			return nil, nil
		}
	} else {
		var err error
		if res, err = http.ReadResponse(br, req); err != nil {
			return nil, err
		}
	}
	p := &parsed{res: res}
	var b strings.Builder
	buf := make([]byte, 3) // small reads: the ends of the body matter
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			p.err = err
			break
		}
	}
	p.body = b.String()
	rest, _ := io.ReadAll(br)
	p.rest = string(rest)
	return p, nil
}

// sameParse reports how a and b differ, or "".
func sameParse(a, b *parsed) string {
	ra, rb := *a.res, *b.res
	ra.Body, rb.Body = nil, nil
	switch {
	case !reflect.DeepEqual(ra.Header, rb.Header):
		return "header"
	case !reflect.DeepEqual(ra, rb):
		return "a field"
	case a.body != b.body:
		return "body"
	case !errors.Is(a.err, b.err) && !errors.Is(b.err, a.err):
		return "body error"
	case a.rest != b.rest:
		return "what is left"
	}
	return ""
}

func TestSimpleResponse(t *testing.T) {
	for _, raw := range simpleResponses {
		got, _ := parseWith(raw, true)
		if got == nil {
			t.Errorf("%q: left to ReadResponse", raw)
			continue
		}
		want, err := parseWith(raw, false)
		if err != nil {
			t.Errorf("%q: parsed, where ReadResponse refuses it: %v", raw, err)
			continue
		}
		if d := sameParse(got, want); d != "" {
			t.Errorf("%q: %s differs:\n got %+v\nwant %+v", raw, d, got, want)
		}
	}
	for _, raw := range otherResponses {
		if got, _ := parseWith(raw, true); got != nil {
			t.Errorf("%q: parsed (%+v), not left to ReadResponse", raw, got.res)
		}
	}
	// A HEAD request's response is ReadResponse's (no body, whatever
	// the Content-Length).
	br := bufio.NewReader(strings.NewReader(simpleResponses[0]))
	head, _ := http.NewRequest(http.MethodHead, "http://upstream.test/", nil)
	if res := simpleResponse(br, head, nil); res != nil {
		t.Error("a HEAD request's response parsed")
	}
}

// A body closed before its end is not read further, and answers no more.
func TestSimpleResponse_BodyAfterClose(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(simpleResponses[0]))
	req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/", nil)
	res := simpleResponse(br, req, nil)
	res.Body.Close()
	if n, err := res.Body.Read(make([]byte, 8)); n != 0 || !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Errorf("read after close: %d, %v", n, err)
	}
}

// Responses parsed one after the other into one connection's scratch
// are each the response ReadResponse makes: nothing of the first (a
// field, its body's length, Connection: close) stays in the second.
func TestSimpleResponse_Scratch(t *testing.T) {
	var sc responseScratch
	first := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-First: 1\r\nConnection: close\r\n\r\nhello"
	for _, raw := range []string{first, simpleResponses[0], first} {
		br := bufio.NewReaderSize(strings.NewReader(raw), 4<<10)
		req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/", nil)
		res := simpleResponse(br, req, &sc)
		if res == nil {
			t.Fatalf("%q: not parsed", raw)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseWith(raw, false)
		if err != nil {
			t.Fatal(err)
		}
		got := &parsed{res: res, body: string(body), err: io.EOF, rest: want.rest}
		if d := sameParse(got, want); d != "" {
			t.Fatalf("%q: %s differs:\n got %+v\nwant %+v", raw, d, got, want)
		}
	}
}

// FuzzSimpleResponse: whatever simpleResponse parses, ReadResponse parses
// too, into the same response, body and remainder.
func FuzzSimpleResponse(f *testing.F) {
	for _, raw := range append(append([]string{}, simpleResponses...), otherResponses...) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, _ := parseWith(raw, true)
		if got == nil {
			return
		}
		want, err := parseWith(raw, false)
		if err != nil {
			t.Fatalf("%q: parsed, where ReadResponse refuses it: %v", raw, err)
		}
		if d := sameParse(got, want); d != "" {
			t.Fatalf("%q: %s differs:\n got %+v\nwant %+v", raw, d, got, want)
		}
	})
}

func BenchmarkReadResponse(b *testing.B) {
	var scratch responseScratch
	raw := simpleResponses[0]
	req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/", nil)
	for _, tc := range []struct {
		name string
		read func(*bufio.Reader, *http.Request) (*http.Response, error)
	}{
		{"simple", func(br *bufio.Reader, r *http.Request) (*http.Response, error) { return readResponse(br, r, nil) }},
		{"simple into a connection's scratch", func(br *bufio.Reader, r *http.Request) (*http.Response, error) {
			return readResponse(br, r, &scratch)
		}},
		{"ReadResponse", http.ReadResponse},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var sr strings.Reader
			br := bufio.NewReaderSize(nil, 4<<10)
			buf := make([]byte, 512)
			b.ReportAllocs()
			for b.Loop() {
				sr.Reset(raw)
				br.Reset(&sr)
				res, err := tc.read(br, req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := res.Body.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}
