package listen

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// browserHead is a request as a browser sends it.
const browserHead = "GET /account/settings?tab=security&x=%41 HTTP/1.1\r\n" +
	"Host: app.example.test\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: fr-FR,fr;q=0.9,en;q=0.8\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Sec-Ch-Ua: \"Chromium\";v=\"156\", \"Not A Brand\";v=\"99\"\r\n" +
	"Sec-Ch-Ua-Mobile: ?0\r\n" +
	"Sec-Ch-Ua-Platform: \"Linux\"\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Sec-Fetch-User: ?1\r\n" +
	"Sec-Fetch-Dest: document\r\n" +
	"Referer: https://app.example.test/account\r\n" +
	"Cookie: session=abc.def.ghi; theme=dark\r\n" +
	"Priority: u=0, i\r\n" +
	"\r\n"

// simpleHeads are heads parseSimpleHead must parse itself, the way
// http.ReadRequest does.
var simpleHeads = []string{
	browserHead,
	"GET / HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"HEAD /h HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET /close HTTP/1.1\r\nHost: lane.test\r\nConnection: keep-alive, Close\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: lane.test\r\nx-lower-case: v\r\nX-UPPER-CASE: V\r\nx_under-Score: u\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:lane.test\r\nX-Pad: \t padded \t \r\nX-Empty:\r\nX-Spaces:    \r\nX-Tab: a\tb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nPragma: no-cache\r\nCache-Control: max-age=0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nPragma: no-store\r\n\r\n",
	"GET /a%2Fb/%7Euser?q=%zz#frag HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET //double//slash/../x HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET /?a=1&a=2&b HTTP/1.1\r\nHost: lane.test\r\nTrailer: X-Sum\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nExpect: 100-continue\r\nUpgrade: websocket\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: \r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nX-" + strings.Repeat("k", 62) + ": v\r\n\r\n", // a name of 64 bytes
}

// otherHeads are heads parseSimpleHead leaves to http.ReadRequest, valid
// or not.
var otherHeads = []string{
	"POST / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: lane.test\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: lane.test\r\n\r\n",
	"GET http://lane.test/ HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"get / HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET / HTTP/1.1 \r\nHost: lane.test\r\n\r\n",
	"GET /\x7f HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET /\xc3\xa9 HTTP/1.1\r\nHost: lane.test\r\n\r\n",
	"GET / HTTP/1.1\nHost: lane.test\n\n",
	"GET / HTTP/1.1\r\nHost: lane.test\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-A: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: lane.test\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : lane.test\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Bad\x01: v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Bad: v\x01\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Bad: v\x7f\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Utf8: \xc3\xa9\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Cr: a\rb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\nNoColon\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: lane.test\r\n: empty name\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nX-" + strings.Repeat("k", 63) + ": v\r\n\r\n", // 65 bytes
	"GET /%zz HTTP/1.1\r\nHost: lane.test\r\n\r\n",
}

// readRequest is http.ReadRequest's answer for head.
func readRequest(head string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
}

// sameRequest reports how a and b differ, or "".
func sameRequest(a, b *http.Request) string {
	if !reflect.DeepEqual(a.URL, b.URL) {
		return "URL"
	}
	if !reflect.DeepEqual(a.Header, b.Header) {
		return "Header"
	}
	ca, cb := *a, *b
	ca.URL, cb.URL, ca.Header, cb.Header = nil, nil, nil, nil
	if !reflect.DeepEqual(ca, cb) {
		return "a field"
	}
	return ""
}

func TestParseSimpleHead(t *testing.T) {
	for _, head := range simpleHeads {
		got, ok := parseSimpleHead([]byte(head))
		if !ok {
			t.Errorf("%q: left to ReadRequest", head)
			continue
		}
		want, err := readRequest(head)
		if err != nil {
			t.Errorf("%q: parsed, where ReadRequest refuses it: %v", head, err)
			continue
		}
		if d := sameRequest(got, want); d != "" {
			t.Errorf("%q: %s differs:\n got %+v\nwant %+v", head, d, got, want)
		}
	}
	for _, head := range otherHeads {
		if got, ok := parseSimpleHead([]byte(head)); ok {
			t.Errorf("%q: parsed (%+v), not left to ReadRequest", head, got)
		}
	}
}

// Parsing a browser's head copies it once: 6 allocations where
// ReadRequest makes about three times as many.
func TestParseSimpleHead_Allocations(t *testing.T) {
	head := []byte(browserHead)
	n := testing.AllocsPerRun(100, func() { parseSimpleHead(head) })
	if n > 8 {
		t.Errorf("%v allocations per head", n)
	}
}

// FuzzParseSimpleHead: whatever parseSimpleHead parses, http.ReadRequest
// parses too, into the same request.
func FuzzParseSimpleHead(f *testing.F) {
	for _, h := range append(append([]string{}, simpleHeads...), otherHeads...) {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := headEnd(b)
		if i < 0 {
			return
		}
		head := b[:i]
		got, ok := parseSimpleHead(head)
		if !ok {
			return
		}
		want, err := readRequest(string(head))
		if err != nil {
			t.Fatalf("%q: parsed, where ReadRequest refuses it: %v", head, err)
		}
		if d := sameRequest(got, want); d != "" {
			t.Fatalf("%q: %s differs:\n got %+v\nwant %+v", head, d, got, want)
		}
	})
}

func BenchmarkParseHead(b *testing.B) {
	for _, tc := range []struct{ name, head string }{
		{"browser", browserHead},
		{"wrk", "GET / HTTP/1.1\r\nHost: localhost:8443\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) { benchmarkParseHead(b, []byte(tc.head)) })
	}
}

func benchmarkParseHead(b *testing.B, head []byte) {
	b.Run("simple", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseSimpleHead(head)
		}
	})
	b.Run("ReadRequest", func(b *testing.B) {
		b.ReportAllocs()
		br := bufio.NewReader(nil)
		var r bytes.Reader
		for b.Loop() {
			r.Reset(head)
			br.Reset(&r)
			http.ReadRequest(br)
		}
	})
}

// simpleURL gives what url.ParseRequestURI gives, or nil.
func TestSimpleURL(t *testing.T) {
	for _, target := range []string{
		"/", "/a/b.c", "/a?", "/a?b=1&c=2", "/a?b?c", "/a??", "/?", "/a/%41", "/a b", "/a#b",
		"/a!b", "/a*b", "/(x)", "/'", "/a;b,c:d@e$f+g=h~i_j", "//x", "/a/../b", "/?q=%zz",
	} {
		want, err := url.ParseRequestURI(target)
		got := simpleURL(target)
		switch {
		case got == nil:
		case err != nil:
			t.Errorf("%q: %+v, where ParseRequestURI refuses it: %v", target, got, err)
		case !reflect.DeepEqual(got, want):
			t.Errorf("%q: %+v, want %+v", target, got, want)
		}
	}
}

func FuzzSimpleURL(f *testing.F) {
	for _, s := range []string{"/", "/a?b", "/a?", "/a??", "/x/y;z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got := simpleURL(target)
		if got == nil {
			return
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("%q: %+v, where ParseRequestURI refuses it: %v", target, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, want %+v", target, got, want)
		}
	})
}
