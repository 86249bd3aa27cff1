package listen

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rejections records what the Rejected handler was asked to answer, and
// marks its responses so a test can tell them from net/http's.
type rejections struct {
	mu  sync.Mutex
	got []Rejection
	req []*http.Request
}

func (rs *rejections) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rej, ok := RejectionFromContext(r.Context())
		if !ok {
			panic("Rejected called without a Rejection")
		}
		rs.mu.Lock()
		rs.got = append(rs.got, rej)
		rs.req = append(rs.req, r)
		rs.mu.Unlock()
		w.Header().Set("X-Rejected-By", "pipeline")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(rej.Status)
		io.WriteString(w, "refused")
	})
}

func (rs *rejections) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.got)
}

func (rs *rejections) last(t *testing.T) (Rejection, *http.Request) {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.got) == 0 {
		t.Fatal("the Rejected handler was not called")
	}
	return rs.got[len(rs.got)-1], rs.req[len(rs.req)-1]
}

// exchange writes raw on a new connection (TLS when cfg is set) and reads
// every response until the server closes it.
func exchange(t *testing.T, addr string, cfg *tls.Config, raw string) []*http.Response {
	t.Helper()
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.Dial("tcp", addr, cfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	var out []*http.Response
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
}

// Requests net/http refuses before any handler are answered by Rejected,
// on plain and TLS listeners: not net/http's bare text page.
func TestEarlyRejections_AnsweredByRejected(t *testing.T) {
	cfg, client := dualCertConfig(t)
	client.NextProtos = []string{"http/1.1"}
	for _, tls := range []bool{false, true} {
		var rs rejections
		var serverCfg = cfg
		var clientCfg = client
		if !tls {
			serverCfg, clientCfg = nil, nil
		}
		addr, _ := startServer(t, okHandler(), serverCfg, Options{MaxHeaderBytes: 4096, Rejected: rs.handler()})
		for _, tc := range []struct {
			name, raw string
			status    int
			reason    string
			method    string
		}{
			{"malformed request line", "GARBAGE\r\n\r\n", 400, "malformed request", ""},
			{"missing Host", "GET /x HTTP/1.1\r\n\r\n", 400, "missing required Host header", "GET"},
			{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "", "GET"},
			{"invalid header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, "invalid header name", "GET"},
			{"headers too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", 431, "request headers too large", "GET"},
			{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer encoding", "POST"},
			{"unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417, "unsupported Expect header", "GET"},
			{"lower-case method", "post / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 400, "method is not an upper-case token", "post"},
			{"userinfo in Host", "GET / HTTP/1.1\r\nHost: a:@evil.example\r\n\r\n", 400, "malformed Host", "GET"},
		} {
			resps := exchange(t, addr, clientCfg, tc.raw)
			if len(resps) != 1 {
				t.Errorf("tls=%v %s: %d responses", tls, tc.name, len(resps))
				continue
			}
			r := resps[0]
			if r.StatusCode != tc.status || r.Header.Get("X-Rejected-By") != "pipeline" {
				t.Errorf("tls=%v %s: status %d, X-Rejected-By %q; want %d from Rejected", tls, tc.name, r.StatusCode, r.Header.Get("X-Rejected-By"), tc.status)
				continue
			}
			if r.Header.Get("Connection") != "close" && !r.Close {
				t.Errorf("tls=%v %s: connection not closed", tls, tc.name)
			}
			rej, req := rs.last(t)
			if rej.Status != tc.status || !strings.Contains(rej.Reason, tc.reason) {
				t.Errorf("tls=%v %s: Rejection %+v, want %d %q", tls, tc.name, rej, tc.status, tc.reason)
			}
			if req.Method != tc.method || req.RemoteAddr == "" || (req.TLS != nil) != tls {
				t.Errorf("tls=%v %s: made-up request: method %q, peer %q, TLS %v", tls, tc.name, req.Method, req.RemoteAddr, req.TLS != nil)
			}
		}
	}
}

// A malformed request pipelined behind a good one, in the same packet, is
// answered by Rejected too. net/http parses it from bytes it had already
// read, and reports no StateActive for it. The lane and net/http alone
// are both tried, over TLS, and net/http over plain HTTP.
func TestEarlyRejections_PipelinedBehindAGoodRequest(t *testing.T) {
	cfg, client := dualCertConfig(t)
	client.NextProtos = []string{"http/1.1"}
	for _, tc := range []struct {
		name     string
		cfg      *tls.Config
		client   *tls.Config
		withLane bool
	}{{"plain", nil, nil, false}, {"tls", cfg, client, false}, {"tls with the lane", cfg, client, true}} {
		var rs rejections
		o := Options{Rejected: rs.handler(), NoLane: !tc.withLane}
		addr, _ := startServer(t, okHandler(), tc.cfg, o)
		resps := exchange(t, addr, tc.client, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\n\r\n")
		if len(resps) != 2 || resps[0].StatusCode != 200 || resps[1].StatusCode != 400 || resps[1].Header.Get("X-Rejected-By") != "pipeline" {
			var got []string
			for _, r := range resps {
				got = append(got, fmt.Sprint(r.StatusCode, " ", r.Header.Get("X-Rejected-By")))
			}
			t.Errorf("%s: answers %q, want 200 then 400 from Rejected", tc.name, got)
		}
	}
}

// A client speaking plain HTTP to the TLS port gets the Rejected page in
// clear text, not net/http's.
func TestEarlyRejections_PlainHTTPOnTLSPort(t *testing.T) {
	cfg, _ := dualCertConfig(t)
	var rs rejections
	addr, _ := startServer(t, okHandler(), cfg, Options{Rejected: rs.handler()})
	resps := exchange(t, addr, nil, "GET /admin?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 400 || resps[0].Header.Get("X-Rejected-By") != "pipeline" {
		t.Fatalf("responses %v", resps)
	}
	rej, req := rs.last(t)
	if rej.Reason != "plain HTTP request on the TLS port" || req.Method != "GET" || req.URL.Path != "" || req.TLS != nil {
		t.Errorf("Rejection %+v, request %s %s", rej, req.Method, req.URL)
	}
}

// Responses of handlers are never taken for net/http's own: large headers
// (written in several pieces), keep-alive, pipelining, HTTP/2. A
// refused request after good ones on the same connection is refused
// alone.
func TestEarlyRejections_HandlerResponsesUntouched(t *testing.T) {
	cfg, client := dualCertConfig(t)
	var rs rejections
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 20 {
			w.Header().Set("X-Filler-"+string(rune('a'+i)), strings.Repeat("f", 400))
		}
		io.WriteString(w, "ok "+r.URL.Path)
	})
	addr, _ := startServer(t, h, cfg, Options{Rejected: rs.handler()})
	h1 := client.Clone()
	h1.NextProtos = []string{"http/1.1"}
	resps := exchange(t, addr, h1, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /4 HTTP/1.1\r\n\r\n")
	if len(resps) != 4 {
		t.Fatalf("%d responses, want 4", len(resps))
	}
	for i, r := range resps[:3] {
		if r.StatusCode != 200 || r.Header.Get("X-Filler-t") == "" || r.Header.Get("X-Rejected-By") != "" {
			t.Errorf("response %d: %d, rejected %q", i+1, r.StatusCode, r.Header.Get("X-Rejected-By"))
		}
	}
	if r := resps[3]; r.StatusCode != 400 || r.Header.Get("X-Rejected-By") != "pipeline" {
		t.Errorf("the Host-less request: %d, rejected %q", r.StatusCode, r.Header.Get("X-Rejected-By"))
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: client, Protocols: &protos}, Timeout: 10 * time.Second}
	resp, err := hc.Get("https://" + addr + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "ok /h2" {
		t.Errorf("HTTP/2: %s %q", resp.Proto, body)
	}
	if n := rs.count(); n != 1 {
		t.Errorf("Rejected called %d times, want once", n)
	}
}

func TestParseCanned(t *testing.T) {
	for raw, want := range map[string]Rejection{
		"HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header": {400, "missing required Host header"},
		"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n":              {431, "request headers too large"},
		"HTTP/1.1 501 Not Implemented\r\n\r\nUnsupported transfer encoding": {501, "unsupported transfer encoding"},
		"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n\r\n":      {417, "unsupported Expect header"},
		"HTTP/1.1 400 Bad Request\r\n\r\n":                                  {400, "malformed request"},
		"HTTP/1.1 999 x\r\n\r\n":                                            {400, "malformed request"},
		"HTTP/1.1 400 Bad Request: \x1b[31mred\r\n\r\n":                     {400, "malformed request"},
	} {
		if got := parseCanned([]byte(raw)); got != want {
			t.Errorf("%q: %+v, want %+v", raw, got, want)
		}
	}
}
