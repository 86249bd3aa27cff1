package gateway

// Attacks on the running gateway, each test named after the attack it
// makes. The invariants they hold:
//
//   - one client request is at most one upstream request, framed without
//     ambiguity (no Content-Length with Transfer-Encoding, no duplicate
//     Content-Length, no folded line, no bare LF, no NUL), and carrying the
//     request id rampart gave it;
//   - nothing a client sends chooses the Host, scheme or client address the
//     application builds URLs and decisions from;
//   - nothing the upstream sends fingerprints it or weakens the policy.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rampart-dev/rampart/safe"
)

// rawRequest is one request as the raw upstream parsed it.
type rawRequest struct {
	head   string // request line and header lines, as received
	method string
	target string
	header map[string][]string // lower-cased names
	body   string
	flaws  []string // framing ambiguities found in head
}

// rawUpstream is an HTTP/1.1 server written by hand so that it sees, and
// records, exactly the bytes rampart sends: every request it parses and
// every framing ambiguity in them. It answers each request with 200 "ok".
type rawUpstream struct {
	t    *testing.T
	ln   net.Listener
	url  string
	mu   sync.Mutex
	reqs []rawRequest
	// started counts requests whose first byte arrived, complete or not.
	started int
	// respond, when set, writes the response instead of the default.
	respond func(w *bufio.Writer, req rawRequest)
}

func newRawUpstream(t *testing.T) *rawUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{t: t, ln: ln, url: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			conns.Store(c, true)
			go func() {
				defer wg.Done()
				defer c.Close()
				u.serve(c)
			}()
		}
	}()
	return u
}

func (u *rawUpstream) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		u.mu.Lock()
		u.started++
		u.mu.Unlock()
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, req)
		u.mu.Unlock()
		if u.respond != nil {
			u.respond(bw, req)
		} else {
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
		}
		if bw.Flush() != nil {
			return
		}
	}
}

func (u *rawUpstream) requests() []rawRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]rawRequest(nil), u.reqs...)
}

// readRawRequest parses one HTTP/1.1 request strictly, noting every
// framing ambiguity instead of resolving it.
func readRawRequest(br *bufio.Reader) (rawRequest, error) {
	var req rawRequest
	req.header = map[string][]string{}
	var head strings.Builder
	first := true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return req, err
		}
		head.WriteString(line)
		if !strings.HasSuffix(line, "\r\n") {
			req.flaws = append(req.flaws, fmt.Sprintf("bare LF in %q", line))
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.ContainsAny(line, "\x00\r") {
			req.flaws = append(req.flaws, fmt.Sprintf("NUL or CR in %q", line))
		}
		if first {
			parts := strings.Split(line, " ")
			if len(parts) != 3 || parts[2] != "HTTP/1.1" {
				req.flaws = append(req.flaws, fmt.Sprintf("bad request line %q", line))
			}
			if len(parts) > 1 {
				req.method, req.target = parts[0], parts[1]
			}
			first = false
			continue
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			req.flaws = append(req.flaws, fmt.Sprintf("obs-fold %q", line))
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			req.flaws = append(req.flaws, fmt.Sprintf("bad header line %q", line))
			continue
		}
		name = strings.ToLower(name)
		req.header[name] = append(req.header[name], strings.TrimSpace(value))
	}
	req.head = head.String()
	cl, te := req.header["content-length"], req.header["transfer-encoding"]
	switch {
	case len(cl) > 0 && len(te) > 0:
		req.flaws = append(req.flaws, "Content-Length with Transfer-Encoding")
	case len(cl) > 1:
		req.flaws = append(req.flaws, "duplicate Content-Length")
	case len(te) > 1 || len(te) == 1 && te[0] != "chunked":
		req.flaws = append(req.flaws, fmt.Sprintf("Transfer-Encoding %q", te))
	}
	if len(req.header["host"]) != 1 {
		req.flaws = append(req.flaws, fmt.Sprintf("Host %q", req.header["host"]))
	}
	switch {
	case len(te) > 0:
		b, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			return req, err
		}
		// Trailer section.
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return req, err
			}
			if line == "\r\n" {
				break
			}
		}
		req.body = string(b)
	case len(cl) > 0:
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 {
			req.flaws = append(req.flaws, fmt.Sprintf("Content-Length %q", cl[0]))
			return req, nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return req, err
		}
		req.body = string(b)
	}
	return req, nil
}

// dialTLS opens a TLS connection to the gateway for app.test offering the
// given ALPN protocols.
func (h *harness) dialTLS(protos ...string) *tls.Conn {
	h.t.Helper()
	return h.dialTLSConfig(&tls.Config{RootCAs: h.pool, ServerName: "app.test", NextProtos: protos})
}

func (h *harness) dialTLSConfig(cfg *tls.Config) *tls.Conn {
	h.t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.httpsAddr, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	// A guard against a hung test, not an assertion on speed.
	c.SetDeadline(time.Now().Add(15 * time.Second))
	return c
}

// rawExchange writes raw over a fresh HTTP/1.1 TLS connection and reads
// every response the gateway sends until it closes the connection or stays
// silent.
func (h *harness) rawExchange(raw string) []*http.Response {
	h.t.Helper()
	c := h.dialTLS("http/1.1")
	if _, err := io.WriteString(c, raw); err != nil {
		h.t.Fatal(err)
	}
	return readResponses(c)
}

func readResponses(c net.Conn) []*http.Response {
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		// Once the gateway has answered, a short silence means it is
		// waiting for a next request that will never come.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, resp)
	}
}

// checkUpstreamFraming fails on any request the upstream saw that rampart
// did not answer the client for, or that is framed ambiguously.
func checkUpstreamFraming(t *testing.T, up *rawUpstream, resps []*http.Response) {
	t.Helper()
	ids := map[string]bool{}
	for _, r := range resps {
		if id := r.Header.Get("X-Request-Id"); id != "" {
			ids[id] = true
		}
	}
	for _, req := range up.requests() {
		if len(req.flaws) > 0 {
			t.Errorf("ambiguous upstream request %q: %v", req.head, req.flaws)
		}
		id := req.header["x-request-id"]
		if len(id) != 1 || !ids[id[0]] {
			t.Errorf("upstream saw a request the client got no answer for (smuggled): %q body %q", req.head, req.body)
		}
	}
}

// Each raw message tries to make rampart and the upstream disagree on where
// a request ends (request smuggling, HTTP desync). Whatever rampart does with
// it (400, one request, two requests it answered), the upstream must see
// only requests rampart answered, framed without ambiguity.
func TestAttack_RequestSmugglingHTTP1(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"
	cases := map[string]string{
		"CL.TE": "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"TE.CL": "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled),
		"duplicate CL": "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n" + smuggled,
		"CL list":      "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0, 44\r\n\r\n" + smuggled,
		"TE chunked then identity": "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 44\r\n\r\n" +
			smuggled,
		"TE identity":     "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: identity\r\nContent-Length: 44\r\n\r\n" + smuggled,
		"TE xchunked":     "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: xchunked\r\n\r\n" + smuggled,
		"TE space name":   "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 44\r\n\r\n" + smuggled,
		"TE obs-fold":     "POST / HTTP/1.1\r\nHost: app.test\r\nX-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n" + smuggled,
		"TE tab value":    "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\n" + smuggled,
		"TE double":       "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"CL plus sign":    "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: +44\r\n\r\n" + smuggled,
		"CL negative":     "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: -1\r\n\r\n" + smuggled,
		"CL hex":          "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0x2c\r\n\r\n" + smuggled,
		"bare LF headers": "POST / HTTP/1.1\nHost: app.test\nContent-Length: 0\nX: y\n\n" + smuggled,
		"bare LF in CL":   "POST / HTTP/1.1\r\nHost: app.test\r\nX: a\nContent-Length: 44\r\n\r\n" + smuggled,
		"NUL in header":   "POST / HTTP/1.1\r\nHost: app.test\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n" + smuggled,
		"CR in header":    "POST / HTTP/1.1\r\nHost: app.test\r\nX-A: a\rContent-Length: 44\r\nContent-Length: 0\r\n\r\n" + smuggled,
		"chunk size overflow": "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"10000000000000001\r\nx\r\n0\r\n\r\n" + smuggled,
		"chunk extension with LF": "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2;a=\nxx\r\n0\r\n\r\n" + smuggled,
		"HTTP/1.0 keep-alive with CL.TE": "POST / HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\nContent-Length: 5\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"CL.0 on GET": "GET / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 44\r\n\r\n" + smuggled,
		"expect 100 with smuggled body": "POST / HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 44\r\n\r\n" +
			smuggled,
		"HTTP/0.9 line":   "GET /smuggled\r\n\r\n",
		"space in target": "GET /a HTTP/1.1 /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := newRawUpstream(t)
			h := start(t, up.url, "")
			resps := h.rawExchange(raw)
			checkUpstreamFraming(t, up, resps)
			// RFC 9112 section 6.1: after a request framed by both
			// Content-Length and Transfer-Encoding, or by
			// Transfer-Encoding in HTTP/1.0, the connection must be
			// closed: a proxy in front of rampart that framed it by
			// Content-Length would otherwise have the rest of the
			// body read as the next request (CL.TE desync).
			if strings.Contains(raw, "Transfer-Encoding") {
				for _, req := range up.requests() {
					if strings.Contains(req.target, "smuggled") {
						t.Errorf("connection kept open after a Transfer-Encoding request; the bytes after its body became a request: %q", req.head)
					}
				}
			}
		})
	}
}

// A Host that passes a split-host-port virtual-host check but is not a
// host and port: an application building absolute URLs from it (password
// reset links) would send users elsewhere. "app.test:@evil.example" reads
// as https://app.test:@evil.example/, user "app.test" at evil.example.
func TestAttack_HostHeaderPortInjection(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "")
	for _, host := range []string{
		"app.test:@evil.example",
		"app.test:80@evil.example",
		"app.test:evil",
		"app.test:443/../evil.example",
		"app.test:1:2",
		"app.test:#@evil.example",
		"[app.test]",
		"app.test:99999999",
		"evil.example@app.test",
		"app.test@evil.example",
		"app.test\\@evil.example",
		"app.test%2f@evil.example",
	} {
		resps := h.rawExchange("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 || resps[0].StatusCode/100 != 4 {
			code := 0
			if len(resps) > 0 {
				code = resps[0].StatusCode
			}
			t.Errorf("Host %q: got %d, want a 4xx", host, code)
		}
		for _, r := range resps {
			b, _ := io.ReadAll(r.Body)
			if strings.Contains(string(b)+r.Header.Get("Location"), "evil") {
				t.Errorf("Host %q reflected: %s", host, b)
			}
		}
	}
	for _, req := range up.requests() {
		t.Errorf("malformed Host reached the application: %q", req.head)
	}
	// Over HTTP/2 the :authority goes through the same check.
	for _, host := range []string{"app.test:@evil.example", "app.test:evil"} {
		req, _ := http.NewRequest("GET", "https://app.test/", nil)
		req.Host = host
		resp, err := h.client.Do(req)
		if err != nil {
			continue // refused by the client or the server's framing
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Errorf("HTTP/2 :authority %q: got %d", host, resp.StatusCode)
		}
	}
	// A well-formed Host with the listener's own port still works.
	_, port, _ := net.SplitHostPort(h.httpsAddr)
	resps := h.rawExchange("GET / HTTP/1.1\r\nHost: app.test:" + port + "\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Errorf("Host app.test:%s refused", port)
	}
}

// fingerprintUpstream answers with a 103 Early Hints and trailers that
// carry fingerprinting headers and a weakened security header.
func fingerprintUpstream(t *testing.T) string {
	up := newRawUpstream(t)
	up.respond = func(w *bufio.Writer, req rawRequest) {
		w.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload; as=style\r\n" +
			"Server: Werkzeug/2.2.2 Python/3.11.2\r\nX-Powered-By: Flask\r\n" +
			"Content-Security-Policy: default-src *\r\n\r\n")
		w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" +
			"Trailer: Server, X-Powered-By, X-Checksum\r\n\r\n" +
			"2\r\nok\r\n0\r\nServer: Werkzeug/2.2.2\r\nX-Powered-By: Flask\r\nX-Checksum: 1\r\n" +
			"X-Aspnet-Version: 4.0\r\n\r\n")
	}
	return up.url
}

// An upstream can fingerprint itself, or try to, through a 1xx interim
// response (103 Early Hints) and through trailers, which are sent outside
// the final response's header section.
func TestAttack_FingerprintHeadersIn1xxAndTrailers(t *testing.T) {
	h := start(t, fingerprintUpstream(t), "")
	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run(proto, func(t *testing.T) {
			tr := h.client.Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.NextProtos = []string{proto}
			if proto == "http/1.1" {
				tr.ForceAttemptHTTP2 = false
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			var interim []http.Header
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				Got1xxResponse: func(code int, hdr textproto.MIMEHeader) error {
					interim = append(interim, http.Header(hdr).Clone())
					return nil
				},
			})
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://app.test/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(interim) == 0 {
				t.Fatal("103 Early Hints not passed on")
			}
			for _, hdr := range interim {
				for _, name := range []string{"Server", "X-Powered-By"} {
					if v := hdr.Values(name); len(v) > 0 {
						t.Errorf("103 carries %s: %v", name, v)
					}
				}
				if hdr.Get("Link") == "" {
					t.Errorf("103 lost its Link header: %v", hdr)
				}
			}
			// The interim response must not cost the final one the
			// headers rampart's outer stages had set (request id).
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("final response lost X-Request-Id after a 103: %v", resp.Header)
			}
			if csp := resp.Header.Values("Content-Security-Policy"); len(csp) != 1 || strings.Contains(csp[0], "default-src *") {
				t.Errorf("final CSP %q", csp)
			}
			for _, name := range []string{"Server", "X-Powered-By", "X-Aspnet-Version"} {
				if v := resp.Trailer.Values(name); len(v) > 0 {
					t.Errorf("trailer %s: %v", name, v)
				}
				if v := resp.Header.Values(name); len(v) > 0 {
					t.Errorf("header %s: %v", name, v)
				}
			}
			if resp.Trailer.Get("X-Checksum") != "1" {
				t.Errorf("an ordinary trailer was lost: %v", resp.Trailer)
			}
			if strings.Contains(strings.Join(resp.Header.Values("Trailer"), ","), "Server") {
				t.Errorf("announced trailers name a removed header: %v", resp.Header.Values("Trailer"))
			}
		})
	}
}

// h2Result is what the gateway answered one raw HTTP/2 stream.
type h2Result struct {
	status  string // ":status", "" if none
	reset   bool   // RST_STREAM or GOAWAY
	headers []hpack.HeaderField
}

// h2Exchange opens an HTTP/2 connection, sends one request made of raw
// header fields (hpack allows bytes HTTP/1 cannot carry) and an optional
// DATA frame, and returns the gateway's answer.
func (h *harness) h2Exchange(fields []hpack.HeaderField, data []byte, endStream bool) h2Result {
	h.t.Helper()
	c := h.dialTLS("h2")
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		h.t.Fatal("h2 not negotiated")
	}
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range fields {
		enc.WriteField(f)
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(),
		EndHeaders: true, EndStream: data == nil && endStream})
	if data != nil {
		fr.WriteData(1, endStream, data)
	}
	var res h2Result
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return res
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 && res.status == "" {
				res.status = f.PseudoValue("status")
				res.headers = f.Fields
				if f.StreamEnded() {
					return res
				}
			}
		case *http2.DataFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				return res
			}
		case *http2.RSTStreamFrame:
			res.reset = true
			return res
		case *http2.GoAwayFrame:
			// Connection: close on an HTTP/2 response becomes a
			// GOAWAY that still lets stream 1 finish.
			if f.LastStreamID < 1 {
				res.reset = true
				return res
			}
		}
	}
}

func h2Request(method, path, authority string, extra ...string) []hpack.HeaderField {
	f := []hpack.HeaderField{{Name: ":method", Value: method}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: authority}, {Name: ":path", Value: path}}
	for i := 0; i+1 < len(extra); i += 2 {
		f = append(f, hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return f
}

// HTTP/2 requests are re-framed as HTTP/1.1 for the upstream (h2 → h1
// downgrade). Each case carries something that HTTP/1.1 would read as
// framing or as a second request: a DATA frame longer than the declared
// content-length, connection-specific headers HTTP/2 forbids, CR/LF/NUL in
// values or pseudo-headers, a request line hidden in :path or :method. The
// upstream must never see a request rampart did not answer, nor an
// ambiguous one, nor an injected header line.
func TestAttack_H2DowngradeSmuggling(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"
	type tc struct {
		fields    []hpack.HeaderField
		data      []byte
		endStream bool
	}
	cases := map[string]tc{
		"content-length shorter than DATA": {h2Request("POST", "/", "app.test", "content-length", "1"),
			[]byte("x" + smuggled), true},
		"content-length zero with DATA": {h2Request("POST", "/", "app.test", "content-length", "0"),
			[]byte(smuggled), true},
		"content-length longer than DATA": {h2Request("POST", "/", "app.test", "content-length", "100"),
			[]byte("x"), true},
		"two content-lengths": {h2Request("POST", "/", "app.test", "content-length", "1", "content-length", "44"),
			[]byte("x"), true},
		"transfer-encoding chunked": {h2Request("POST", "/", "app.test", "transfer-encoding", "chunked"),
			[]byte("0\r\n\r\n" + smuggled), true},
		"connection keep-alive": {h2Request("GET", "/", "app.test", "connection", "keep-alive"), nil, true},
		"keep-alive header":     {h2Request("GET", "/", "app.test", "keep-alive", "timeout=5"), nil, true},
		"proxy-connection":      {h2Request("GET", "/", "app.test", "proxy-connection", "keep-alive"), nil, true},
		"upgrade header":        {h2Request("GET", "/", "app.test", "upgrade", "websocket"), nil, true},
		"te gzip":               {h2Request("GET", "/", "app.test", "te", "gzip"), nil, true},
		"CRLF in value":         {h2Request("GET", "/", "app.test", "x-a", "a\r\nTransfer-Encoding: chunked"), nil, true},
		"LF in value":           {h2Request("GET", "/", "app.test", "x-a", "a\nX-Remote-User: admin"), nil, true},
		"NUL in value":          {h2Request("GET", "/", "app.test", "x-a", "a\x00b"), nil, true},
		"CRLF in name":          {h2Request("GET", "/", "app.test", "x-a\r\nx-remote-user", "admin"), nil, true},
		"space in name":         {h2Request("GET", "/", "app.test", "x-remote-user ", "admin"), nil, true},
		"colon in name":         {h2Request("GET", "/", "app.test", "x-a:b", "c"), nil, true},
		"uppercase name":        {h2Request("GET", "/", "app.test", "X-Remote-User", "admin"), nil, true},
		"request line in :path": {h2Request("GET", "/ HTTP/1.1\r\nHost: app.test\r\n\r\nGET /smuggled", "app.test"), nil, true},
		"space in :path":        {h2Request("GET", "/a HTTP/1.1", "app.test"), nil, true},
		"CRLF in :method":       {h2Request("GET /smuggled HTTP/1.1\r\nX:", "/", "app.test"), nil, true},
		"space in :method":      {h2Request("GET /smuggled", "/", "app.test"), nil, true},
		"CRLF in :authority":    {h2Request("GET", "/", "app.test\r\nX-Remote-User: admin"), nil, true},
		"absolute :path":        {h2Request("GET", "https://evil.example/smuggled", "app.test"), nil, true},
		"asterisk :path":        {h2Request("OPTIONS", "*", "app.test"), nil, true},
		"empty :path":           {h2Request("GET", "", "app.test"), nil, true},
		"pseudo after regular": {append(h2Request("GET", "/", "app.test", "x-a", "b"),
			hpack.HeaderField{Name: ":path", Value: "/smuggled"}), nil, true},
		"duplicate :path": {append(h2Request("GET", "/", "app.test"),
			hpack.HeaderField{Name: ":path", Value: "/smuggled"}), nil, true},
		"unknown pseudo-header": {append(h2Request("GET", "/", "app.test"),
			hpack.HeaderField{Name: ":smuggled", Value: "1"}), nil, true},
		"host differs from :authority": {h2Request("GET", "/", "app.test", "host", "evil.example"), nil, true},
		"no :authority and host evil":  {h2Request("GET", "/", "", "host", "evil.example"), nil, true},
		":authority with userinfo":     {h2Request("GET", "/", "evil.example@app.test"), nil, true},
		":protocol without CONNECT":    {append(h2Request("GET", "/", "app.test"), hpack.HeaderField{Name: ":protocol", Value: "websocket"}), nil, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := newRawUpstream(t)
			h := start(t, up.url, "")
			res := h.h2Exchange(c.fields, c.data, c.endStream)
			for _, req := range up.requests() {
				if len(req.flaws) > 0 {
					t.Errorf("ambiguous upstream request %q: %v", req.head, req.flaws)
				}
				if strings.Contains(req.head, "smuggled") || strings.Contains(req.body, "smuggled") && len(req.body) < len(smuggled) {
					t.Errorf("smuggled content reached the upstream as a request: %q", req.head)
				}
				for _, name := range []string{"x-remote-user", "transfer-encoding", "connection", "keep-alive", "upgrade", "proxy-connection"} {
					if v := req.header[name]; len(v) > 0 {
						t.Errorf("%s reached the upstream: %q", name, v)
					}
				}
				if host := req.header["host"]; len(host) != 1 || host[0] != "app.test" {
					t.Errorf("upstream Host %q", host)
				}
				if cl := req.header["content-length"]; len(cl) == 1 && cl[0] != strconv.Itoa(len(req.body)) {
					t.Errorf("upstream Content-Length %s, body %d bytes", cl[0], len(req.body))
				}
			}
			if len(up.requests()) > 1 {
				t.Errorf("one HTTP/2 stream became %d upstream requests", len(up.requests()))
			}
			t.Logf("%s: status %q reset %v, %d upstream requests", name, res.status, res.reset, len(up.requests()))
			// Whatever the client breaks is the client's fault: no
			// 502/504 and no "upstream unavailable" alarm.
			if res.status == "502" || res.status == "504" {
				t.Errorf("client-made error answered %s", res.status)
			}
			if strings.Contains(h.errlog.String(), "upstream_unavailable") {
				t.Errorf("client-made error logged as upstream failure: %s", h.errlog.String())
			}
		})
	}
}

// A client that breaks or trickles its own request body must get a 4xx and
// must not raise the "upstream unavailable" alarm: otherwise anyone can
// page the operator, or hide a real outage in noise, at will.
func TestAttack_ClientBodyErrorsBlamedOnUpstream(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "listen: {read_timeout: 300ms}\n")
	for name, tc := range map[string]struct {
		raw  string
		want int
	}{
		"malformed chunk":     {"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n", 400},
		"chunk size overflow": {"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n", 400},
		"trickled body":       {"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nx", 408},
	} {
		resps := h.rawExchange(tc.raw)
		if name == "trickled body" && len(resps) == 1 && resps[0].StatusCode == safe.StatusClientClosedRequest {
			// The read timeout also cancels the request context, and
			// the transport may report that first: still the
			// client's fault, which is what matters here.
			continue
		}
		if len(resps) == 0 || resps[0].StatusCode != tc.want {
			got := 0
			if len(resps) > 0 {
				got = resps[0].StatusCode
			}
			t.Errorf("%s: got %d, want %d", name, got, tc.want)
		}
	}
	res := h.h2Exchange(h2Request("POST", "/", "app.test", "content-length", "100"), []byte("x"), true)
	if res.status != "400" {
		t.Errorf("HTTP/2 body short of content-length: got %q, want 400", res.status)
	}
	if log := h.errlog.String(); strings.Contains(log, "upstream_unavailable") || strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("client-made errors logged as upstream failures:\n%s", log)
	}
}

// Every spelling of an /api/ path either falls under the /api/ rule or is
// refused before the application, whichever way the application reads it:
// resolving dot segments or not, decoding %2F or not, stripping ";" or
// not, ignoring case or not.
func TestAttack_RateLimitPathConfusion(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, `ratelimit:
  zones:
    api: {rate: 1r/m}
  rules:
    - prefix: /api/
      limits: [{zone: api, burst: 1, nodelay: true}]
`)
	for range 3 {
		h.rawExchange("GET /api/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	}
	before := len(up.requests())
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/x", 429}, {"//api/x", 429}, {"///api/x", 429}, {"/%61pi/x", 429}, {"/api", 429}, {"/api/", 429},
		{"/api//x", 429}, {"/%2fapi/x", 400}, {"/api%2fx", 400},
		{"/static/../api/x", 400}, {"/static/%2e%2e/api/x", 400}, {"/static/%2E%2E%2Fapi/x", 400},
		{"/static/..%2fapi/x", 400}, {"/./api/x", 400}, {"/api/./x", 400}, {"/api/%2e/x", 400},
		{"/static/.%2e/api/x", 400}, {"/static%2f..%2fapi/x", 400}, {"/static/..;/api/x", 400},
		{"/static/..%00/api/x", 400}, {"/static/%c0%ae%c0%ae/api/x", 400}, {"/static/..%5capi/x", 400},
		{"/static/..\\api/x", 400}, {"/static/%252e%252e/api/x", 400}, {"/API/x", 400}, {"/Api/x", 400},
		{"/api;x/y", 400}, {"/static/..%2f..%2fapi/x", 400},
	} {
		resps := h.rawExchange("GET " + tc.path + " HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 {
			t.Errorf("%s: no response", tc.path)
			continue
		}
		if resps[0].StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, resps[0].StatusCode, tc.want)
		}
		assertSecurityHeadersOnce(t, tc.path, resps[0].Header)
	}
	for _, req := range up.requests()[before:] {
		t.Errorf("reached the application past the exhausted /api/ zone: %q", req.head)
	}
	if !strings.Contains(h.errlog.String(), `"event.action":"input_validation_fail"`) {
		t.Errorf("no input_validation_fail event for the refused paths:\n%s", h.errlog)
	}
}

// The plain-HTTP listener redirects only to the configured host, whatever
// the Host, request target or path: every open-redirect and reflection
// trick.
func TestAttack_RedirectListenerOpenRedirect(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	cases := []string{
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test:80@evil.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test@evil.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: evil.example#app.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: evil.example/app.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: evil.example\\app.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test.evil.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: xn--pp-6la.test\r\n\r\n", // punycode lookalike
		"GET / HTTP/1.1\r\nHost: аpp.test\r\n\r\n",        // Cyrillic а
		"GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test, evil.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Host: evil.example\r\n\r\n",
		"GET http://evil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET //evil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET ///evil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /\\evil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /%2f%2fevil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /%5cevil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /%0d%0aLocation:%20https://evil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /?%0d%0aLocation:%20https://evil.example/ HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /x#@evil.example HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET @evil.example HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET evil.example HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: app.test\r\n\r\n",
	}
	for _, raw := range cases {
		c, err := net.DialTimeout("tcp", h.httpAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if strings.Contains(raw, "Host:") {
			raw = strings.TrimSuffix(raw, "\r\n") + "Connection: close\r\n\r\n"
		}
		io.WriteString(c, raw)
		origin := "https://app.test:" + portOf(h.httpsAddr)
		resps := readResponses(c)
		if len(resps) == 0 {
			t.Errorf("%q: no response", raw)
		}
		for _, resp := range resps {
			loc := resp.Header.Get("Location")
			b, _ := io.ReadAll(resp.Body)
			if strings.Contains(strings.ToLower(string(b)), "evil") {
				t.Errorf("%q: reflected in the body %q", raw, b)
			}
			// The path may say anything; the origin is ours, and the
			// path cannot be read as another authority.
			if loc != "" {
				rest, ok := strings.CutPrefix(loc, origin)
				u, err := url.Parse(loc)
				if !ok || err != nil || u.Host != "app.test:"+portOf(h.httpsAddr) || !strings.HasPrefix(rest, "/") ||
					strings.HasPrefix(rest, "//") || strings.ContainsAny(rest, "\\\r\n #") {
					t.Errorf("%q: Location %q", raw, loc)
				}
			}
			for k := range resp.Header {
				if strings.EqualFold(k, "Server") || strings.Contains(k, "\n") {
					t.Errorf("%q: header %q", raw, k)
				}
			}
		}
		c.Close()
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// checkLogLines fails unless every line of log is one JSON object free of
// characters that deceive a reader in a terminal (C1 controls, bidi
// overrides, raw escapes).
func checkLogLines(t *testing.T, name, log string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("%s: forged or broken line %q: %v", name, line, err)
		}
		for _, r := range line {
			if r == 0x1b || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Errorf("%s: deceptive character %U in %q", name, r, line)
				break
			}
		}
		if len(line) > 32<<10 {
			t.Errorf("%s: line of %d bytes", name, len(line))
		}
	}
}

// Every logged field a client controls is tried with CR/LF, quotes, ANSI
// escapes, C1 controls, bidi overrides and invalid UTF-8: no field may end
// its line, forge another record, or display as something else, in the
// access log or the security log.
func TestAttack_LogForgingThroughEveryField(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, `ratelimit:
  zones:
    z: {rate: 1r/m}
  rules:
    - prefix: /
      limits: [{zone: z, burst: 2, nodelay: true}]
headers:
  csp: {report: {enabled: true}}
`)
	evil := "a\"}\n{\"forged\":1,\x1b[31m\u009b2J\u202eevil\xff\xfe"
	enc := url.PathEscape(evil)
	reqs := []string{
		"GET /" + enc + "?q=" + url.QueryEscape(evil) + " HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test\r\nUser-Agent: " + strings.ReplaceAll(evil, "\n", "") + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test\r\nReferer: https://x/" + strings.ReplaceAll(evil, "\n", "") + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: " + strings.ReplaceAll(evil, "\n", "") + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: " + strings.ReplaceAll(evil, "\n", "") + "\r\n\r\n",
		"G%0aET / HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET /" + strings.Repeat("A", 60000) + " HTTP/1.1\r\nHost: app.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: app.test\r\nUser-Agent: " + strings.Repeat("B", 60000) + "\r\n\r\n",
	}
	// Past the burst (3 requests), the rate-limit security event logs
	// method, host and path of the first rejected request.
	for range 3 {
		h.get("/", nil)
	}
	for _, raw := range reqs {
		h.rawExchange(raw)
	}
	// A CSP report whose fields carry the same bytes.
	report, _ := json.Marshal(map[string]any{"csp-report": map[string]any{
		"document-uri": "https://app.test/" + evil, "blocked-uri": evil, "violated-directive": evil,
		"effective-directive": "script-src", "original-policy": evil, "source-file": evil,
	}})
	for range 3 {
		req, _ := http.NewRequest("POST", "https://app.test/.well-known/rampart/csp-report", bytes.NewReader(report))
		req.Header.Set("Content-Type", "application/csp-report")
		if resp, err := h.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	// h2 lets a :method carry bytes HTTP/1 refuses.
	h.h2Exchange(h2Request("G\u202eET", "/"+enc, "app.test"), nil, true)
	checkLogLines(t, "access log", h.access.String())
	checkLogLines(t, "security log", h.errlog.String())
	if strings.Contains(h.access.String(), `"forged"`) && !strings.Contains(h.access.String(), `\"forged\"`) {
		t.Errorf("forged key in the access log")
	}
}

// No input may make an error page reflect attacker content, or leak an
// internal address or a Go error string: 400, 404-less 421, 405, 413, 429,
// 431, 502, 504 pages, in HTML and in problem+json.
func TestAttack_ErrorPagesReflectNothing(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	marker := "<script>alert(1)</script>evil"
	esc := url.PathEscape(marker)
	for _, tc := range []struct {
		up  string
		cfg string
		raw string
	}{
		{dead, "", "GET /" + esc + "?q=" + esc + " HTTP/1.1\r\nHost: app.test\r\nUser-Agent: " + marker + "\r\n\r\n"},
		{dead, "", "GET /" + esc + " HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nX-Request-Id: " + marker + "\r\n\r\n"},
		{dead, "", "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n"},
		{dead, "", "GET / HTTP/1.1\r\nHost: app.test:" + esc + "\r\n\r\n"},
		{dead, "", "TRACE /" + esc + " HTTP/1.1\r\nHost: app.test\r\n\r\n"},
		{dead, "", "CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n"},
		{dead, "limits: {max_body_bytes: 10}\n", "POST /" + esc + " HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\n"},
		{dead, "", "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + strings.Repeat("x", 80<<10) + "\r\n\r\n"},
		{dead, "", "GET / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: " + marker + "\r\n\r\n"},
		{dead, "", "GET / HTTP/1.1\r\nHost: app.test\r\n" + marker + ": x\r\n\r\n"},
		{dead, "", "GET /" + esc + " HTTP/9.9\r\nHost: app.test\r\n\r\n"},
		{dead, "", "G<ET / HTTP/1.1\r\nHost: app.test\r\n\r\n"},
	} {
		h := start(t, tc.up, tc.cfg)
		resps := h.rawExchange(strings.TrimSuffix(tc.raw, "\r\n") + "Connection: close\r\n\r\n")
		if len(resps) == 0 {
			t.Errorf("%.60q: no response", tc.raw)
		}
		for _, resp := range resps {
			b, _ := io.ReadAll(resp.Body)
			page := string(b)
			for k, vv := range resp.Header {
				page += "\n" + k + ": " + strings.Join(vv, ",")
			}
			for _, leak := range []string{"alert", "evil", "127.0.0.1", "refused", "dial", "net/http", "malformed", "invalid", "goroutine", ".go:"} {
				if strings.Contains(strings.ToLower(page), leak) {
					t.Errorf("%.60q: %d page contains %q:\n%s", tc.raw, resp.StatusCode, leak, page)
				}
			}
		}
	}
}

// TLS-level tricks: a connection opened for one name sending requests for
// another, a connection without SNI (by IP), an unknown ALPN protocol, and
// a renegotiation request.
func TestAttack_TLSSNIAndALPNTricks(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "")
	// No SNI (connecting by IP): the certificate still verifies for
	// app.test, and the Host check decides.
	noSNI, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err == nil {
		noSNI.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(noSNI, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
		for _, r := range readResponses(noSNI) {
			if r.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("no SNI, Host evil.example: %d", r.StatusCode)
			}
		}
		noSNI.Close()
	}
	// SNI app.test, Host of another name: 421 (domain fronting).
	resps := h.rawExchange("GET / HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("SNI app.test, Host other.example: %v", resps)
	}
	// SNI of a name that is not served: the handshake may complete with
	// the only certificate, but no request for it reaches the upstream.
	other, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{ServerName: "evil.example", InsecureSkipVerify: true,
		NextProtos: []string{"http/1.1"}})
	if err == nil {
		other.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(other, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
		readResponses(other)
		other.Close()
	}
	// Unknown ALPN protocols only: refused or answered as HTTP/1.1,
	// never a protocol the server does not speak.
	alpn, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{RootCAs: h.pool, ServerName: "app.test",
		NextProtos: []string{"spdy/3", "h2c", "http/0.9", "acme-tls/1"}})
	if err == nil {
		if p := alpn.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" && p != "h2" && p != "acme-tls/1" {
			t.Errorf("negotiated %q", p)
		}
		alpn.Close()
	}
	// Renegotiation: the server never offers it; a client asking for it
	// cannot make the server renegotiate (TLS 1.3 has none; for 1.2
	// crypto/tls servers refuse).
	reneg, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{RootCAs: h.pool, ServerName: "app.test",
		MaxVersion: tls.VersionTLS12, Renegotiation: tls.RenegotiateFreelyAsClient, NextProtos: []string{"http/1.1"}})
	if err == nil {
		if reneg.ConnectionState().Version != tls.VersionTLS12 {
			t.Logf("TLS 1.2 refused")
		}
		reneg.Close()
	}
	for _, req := range up.requests() {
		if host := req.header["host"]; len(host) != 1 || host[0] != "app.test" {
			t.Errorf("a request for %q reached the upstream", host)
		}
	}
}

// Forwarding and identity headers in every spelling a WSGI, CGI or Rack
// server maps to the same variable, and a Forwarded header: none of the
// client's values reaches the application.
func TestAttack_ForwardingHeaderSpellings(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "")
	raw := "GET / HTTP/1.1\r\nHost: app.test\r\n" +
		"X_Forwarded_For: 6.6.6.6\r\nx-forwarded-for: 6.6.6.6\r\nX-FORWARDED-PROTO: http\r\nX_Forwarded_Proto: http\r\n" +
		"X_Forwarded_Host: evil.example\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6;proto=http;host=evil.example\r\n" +
		"X_Real_IP: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nX_Remote_User: admin\r\nREMOTE_USER: admin\r\nRemote_User: admin\r\n" +
		"X-Original-URL: /admin\r\nX_Original_URL: /admin\r\nX-Rewrite-Url: /admin\r\nX_Request_ID: forged\r\n" +
		"Client-Ip: 6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\nX-Forwarded-Port: 80\r\nX-Forwarded-Ssl: off\r\n" +
		"Front-End-Https: off\r\nX-Url-Scheme: http\r\nConnection: close, X-Forwarded-For, X-Real-IP\r\n\r\n"
	resps := h.rawExchange(raw)
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("got %v", resps)
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	if strings.Contains(reqs[0].head, "6.6.6.6") || strings.Contains(reqs[0].head, "evil") ||
		strings.Contains(reqs[0].head, "admin") || strings.Contains(reqs[0].head, "forged") ||
		strings.Contains(strings.ToLower(reqs[0].head), "proto: http\r") {
		t.Errorf("client-sent forwarding or identity header reached the application:\n%s", reqs[0].head)
	}
	if v := reqs[0].header["x-forwarded-for"]; len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if v := reqs[0].header["x-forwarded-proto"]; len(v) != 1 || v[0] != "https" {
		t.Errorf("X-Forwarded-Proto %q", v)
	}
}

// Header floods: thousands of tiny headers within the limit are answered
// normally; a header section just over the limit is refused with 431
// before anything reaches the upstream.
func TestAttack_HeaderFloodAndHeaderAtLimit(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "listen: {max_header_bytes: 16k}\n")
	headers := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-%d: a\r\n", i)
		}
		return b.String()
	}
	resps := h.rawExchange("GET / HTTP/1.1\r\nHost: app.test\r\n" + headers(100) + "Connection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Errorf("100 small headers: %v", resps)
	}
	// Thousands of tiny headers within the byte limit: net/http charges
	// each header for its map overhead, so a count flood is refused too.
	resps = h.rawExchange("GET / HTTP/1.1\r\nHost: app.test\r\n" + headers(1500) + "Connection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1500 tiny headers (%d bytes) not refused", len(headers(1500)))
	}
	// A header section of exactly the limit is served.
	const pre, post = "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ", "\r\nConnection: close\r\n\r\n"
	resps = h.rawExchange(pre + strings.Repeat("x", 16<<10-len(pre)-len(post)) + post)
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Errorf("header section of exactly max_header_bytes refused")
	}
	// net/http allows 4 KiB of slack over the configured value.
	resps = h.rawExchange("GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + strings.Repeat("x", 21<<10) + "\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header over the limit: %v", resps)
	}
	n := len(up.requests())
	// Over HTTP/2 the same limit is SETTINGS_MAX_HEADER_LIST_SIZE.
	res := h.h2Exchange(h2Request("GET", "/", "app.test", "x-big", strings.Repeat("x", 21<<10)), nil, true)
	if res.status == "200" {
		t.Errorf("HTTP/2 header list over the limit answered 200")
	}
	if len(up.requests()) != n && res.status != "200" {
		t.Errorf("an oversized HTTP/2 header list reached the upstream")
	}
}

// One HTTP/2 connection opens many more streams than
// MaxConcurrentStreams, each left open (a body that never ends), then
// opens and resets streams as fast as it can (rapid reset): the upstream
// must never see more than the per-connection stream limit at once.
func TestAttack_H2StreamFloodAndRapidReset(t *testing.T) {
	var mu sync.Mutex
	inflight, peak := 0, 0
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inflight++
		peak = max(peak, inflight)
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		mu.Lock()
		inflight--
		mu.Unlock()
	}))
	defer up.Close()
	defer close(release)
	h := start(t, up.URL, "ratelimit: {rules: []}\n")
	c := h.dialTLS("h2")
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range 400 {
		hb.Reset()
		for _, f := range h2Request("POST", "/", "app.test") {
			enc.WriteField(f)
		}
		id := uint32(2*i + 1)
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
			break
		}
		if i >= 200 {
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}
	// Read until the server has dealt with the flood (GOAWAY or silence).
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > 100 {
		t.Errorf("one connection held %d upstream requests at once, more than the 100-stream limit", peak)
	}
	t.Logf("peak upstream concurrency from one connection: %d", peak)
}

// Behind a trusted proxy, a client rotating through random IPv6 addresses
// of one /64 (one customer's allocation) is still one rate-limit key.
func TestAttack_RateLimitKeyExplosionIPv6(t *testing.T) {
	h := start(t, upstream(t).URL, `trusted_proxies: [127.0.0.1/32]
ratelimit:
  zones:
    z: {rate: 1r/m}
  rules:
    - prefix: /
      limits: [{zone: z, burst: 2, nodelay: true}]
`)
	passed := 0
	for i := range 30 {
		addr := fmt.Sprintf("2001:db8:1:2:%x:%x:%x:%x", i*7919%65536, i*31%65536, i*65521%65536, i+1)
		resp, _ := h.get("/", http.Header{"X-Forwarded-For": {addr}})
		if resp.StatusCode == 200 {
			passed++
		}
	}
	if passed != 3 {
		t.Errorf("%d of 30 requests from one /64 passed, want 3 (burst 2 + 1)", passed)
	}
}

// An upstream tries to weaken the policy: mixed-case names (HTTP/1.1 names
// are case-insensitive, a raw server can send any case), HSTS max-age=0,
// a permissive CSP, a second X-Frame-Options, a cookie without Secure,
// fingerprints, and a response framed by both Content-Length and
// Transfer-Encoding with a second response hidden in its body.
func TestAttack_UpstreamWeakensSecurityHeaders(t *testing.T) {
	up := newRawUpstream(t)
	up.respond = func(w *bufio.Writer, req rawRequest) {
		w.WriteString("HTTP/1.1 200 OK\r\nsErVeR: Werkzeug/2.2.2\r\nx-POWERED-by: Flask\r\n" +
			"strict-transport-security: max-age=0\r\nSTRICT-TRANSPORT-SECURITY: max-age=0\r\n" +
			"content-security-policy: default-src * 'unsafe-inline' 'unsafe-eval'\r\n" +
			"x-frame-options: ALLOWALL\r\nX-Frame-Options: ALLOWALL\r\nx-content-type-options: none\r\n" +
			"set-cookie: session=abc; Path=/\r\nContent-Type: text/html\r\n" +
			"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\nok\r\n0\r\n\r\n")
	}
	h := start(t, up.url, "")
	resps := h.rawExchange("GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 {
		t.Fatalf("%d responses to one request", len(resps))
	}
	resp := resps[0]
	if v := resp.Header.Values("Server"); len(v) > 0 {
		t.Errorf("Server %v", v)
	}
	if v := resp.Header.Values("X-Powered-By"); len(v) > 0 {
		t.Errorf("X-Powered-By %v", v)
	}
	if v := resp.Header.Values("Strict-Transport-Security"); len(v) != 1 || strings.Contains(v[0], "max-age=0") {
		t.Errorf("HSTS %q", v)
	}
	for _, csp := range resp.Header.Values("Content-Security-Policy") {
		// Every policy of the list is enforced, so an upstream policy
		// may be added (it can only restrict) but ours must be there.
		if !strings.Contains(csp, "object-src 'none'") {
			t.Errorf("CSP %q lost rampart's policy", csp)
		}
	}
	if v := resp.Header.Values("X-Frame-Options"); len(v) != 1 {
		t.Errorf("X-Frame-Options %q", v)
	}
	if v := resp.Header.Values("X-Content-Type-Options"); len(v) != 1 || v[0] != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", v)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("cookie not hardened: %q", c)
	}
}

// A Referer or query carrying a token (a password-reset link the user came
// from) must not be written to the access log.
func TestAttack_TokensInLoggedURLs(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	h.get("/reset?token=SECRETQUERY&next=/", http.Header{
		"Referer": {"https://app.test/reset?token=SECRETREFERER#access_token=SECRETFRAGMENT"},
	})
	h.get("/", http.Header{"Referer": {"https://user:SECRETPASSWORD@app.test/"}})
	if log := h.access.String(); strings.Contains(log, "SECRET") {
		t.Errorf("token in the access log:\n%s", log)
	}
}

// Absolute-form request targets over TLS: the authority in the target is
// the Host (RFC 9112 section 3.2.2) and is checked like one.
func TestAttack_AbsoluteFormTarget(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "")
	for raw, want := range map[string]int{
		"GET https://evil.example/ HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n":          421,
		"GET https://app.test/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n":          200,
		"GET https://app.test@evil.example/ HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n": 421,
		"GET https://evil.example@app.test/ HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n": 200,
		"GET http://app.test:80/ HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n":            421,
	} {
		resps := h.rawExchange(raw)
		if len(resps) != 1 || resps[0].StatusCode != want {
			got := 0
			if len(resps) > 0 {
				got = resps[0].StatusCode
			}
			t.Errorf("%q: got %d, want %d", raw, got, want)
		}
	}
	for _, req := range up.requests() {
		if strings.Contains(req.head, "evil") || req.header["host"][0] != "app.test" && req.header["host"][0] != "app.test:80" {
			t.Errorf("upstream request %q", req.head)
		}
		if !strings.HasPrefix(req.target, "/") {
			t.Errorf("absolute-form target forwarded: %q", req.target)
		}
	}
}

// A rate-limit rule for POST on the login path must hold against "post",
// which frameworks that upper-case the method (Werkzeug, Django) serve as
// POST.
func TestAttack_LowercaseMethodBypassesMethodRule(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, `ratelimit:
  zones:
    login: {rate: 1r/m}
  rules:
    - prefix: /login
      methods: [POST]
      limits: [{zone: login, burst: 1, nodelay: true}]
`)
	for range 3 {
		h.rawExchange("POST /login HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
	n := len(up.requests())
	for _, m := range []string{"post", "Post", "pOST"} {
		resps := h.rawExchange(m + " /login HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		if len(resps) == 1 && resps[0].StatusCode == 200 {
			t.Errorf("%s /login passed an exhausted POST rule", m)
		}
	}
	res := h.h2Exchange(h2Request("post", "/login", "app.test"), nil, true)
	if res.status == "200" {
		t.Errorf("HTTP/2 post /login passed an exhausted POST rule")
	}
	if len(up.requests()) != n {
		t.Errorf("lower-case methods reached the upstream past the limit")
	}
}

// HTTP/2 CONTINUATION flood (CVE-2024-27316 family): a header block that
// never ends, sent as endless CONTINUATION frames, must be cut off at the
// header-list limit with the connection closed, and reach nothing.
func TestAttack_H2ContinuationFlood(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "listen: {max_header_bytes: 16k}\n")
	c := h.dialTLS("h2")
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range h2Request("GET", "/", "app.test") {
		enc.WriteField(f)
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: false, EndStream: true})
	sent := 0
	for i := range 2000 {
		hb.Reset()
		enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-%d", i), Value: strings.Repeat("a", 1000)})
		if err := fr.WriteContinuation(1, false, hb.Bytes()); err != nil {
			break
		}
		sent += hb.Len()
	}
	if sent >= 2000*1000 {
		t.Errorf("the server read %d bytes of one header block without closing the connection", sent)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d upstream requests", n)
	}
}

// h2c smuggling: an HTTP/1.1 request over TLS asks to upgrade to
// cleartext HTTP/2. An upstream that accepts turns the connection into an
// HTTP/2 tunnel on which every later request goes to the application
// unseen by rampart: no host check, no rate limit, no header stripping,
// no access log. The upstream here accepts any h2c upgrade, as lax servers
// do.
func TestAttack_H2CUpgradeSmuggling(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var tunneled []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if strings.Contains(strings.ToLower(req.Header.Get("Upgrade")), "h2c") {
						io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
						(&http2.Server{}).ServeConn(c, &http2.ServeConnOpts{Handler: http.HandlerFunc(
							func(w http.ResponseWriter, r *http.Request) {
								mu.Lock()
								tunneled = append(tunneled, r.Host+" "+r.URL.Path+" user="+r.Header.Get("X-Remote-User"))
								mu.Unlock()
							})})
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	h := start(t, "http://"+ln.Addr().String(), "")
	for _, upgrade := range []string{
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
		"Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
		"Connection: upgrade\r\nUpgrade: H2C\r\n",
		"Connection: upgrade\r\nUpgrade: websocket, h2c\r\n",
	} {
		c := h.dialTLS("http/1.1")
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n"+upgrade+"\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", upgrade, err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Errorf("%q: h2c upgrade passed through", upgrade)
			// Use the tunnel as an attacker would.
			io.WriteString(c, http2.ClientPreface)
			fr := http2.NewFramer(c, br)
			fr.WriteSettings()
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for _, f := range h2Request("GET", "/admin", "evil.example", "x-remote-user", "admin") {
				enc.WriteField(f)
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			for {
				if _, err := fr.ReadFrame(); err != nil {
					break
				}
			}
		}
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range tunneled {
		t.Errorf("request smuggled through an h2c tunnel reached the application: %s", r)
	}
}

// An Upgrade value that is not printable ASCII (obs-text is allowed in
// HTTP/1.1 header values) is the client's error, not an upstream outage.
func TestAttack_NonASCIIUpgradeRaisesUpstreamAlarm(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	resps := h.rawExchange("GET / HTTP/1.1\r\nHost: app.test\r\nConnection: upgrade\r\nUpgrade: web\xffsocket\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode/100 != 4 {
		t.Errorf("got %v, want a 4xx", resps)
	}
	if strings.Contains(h.errlog.String(), "upstream_unavailable") {
		t.Errorf("client-made error logged as an upstream failure:\n%s", h.errlog.String())
	}
}

// Slow-body attack on the application's workers: a client declares a
// small body and sends part of it. Streamed as it arrives, the request
// would hold one upstream worker (gunicorn has a handful) until the read
// timeout; a small body must reach the upstream only once complete.
func TestAttack_SlowBodyHoldsUpstreamWorker(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "listen: {read_timeout: 300ms}\n")
	for _, raw := range []string{
		"POST /login HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuser=a",
		"POST /login HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 16384\r\n\r\n",
	} {
		resps := h.rawExchange(raw)
		for _, r := range resps {
			if r.StatusCode == 200 {
				t.Errorf("incomplete body answered 200")
			}
		}
	}
	up.mu.Lock()
	started := up.started
	up.mu.Unlock()
	if started != 0 {
		t.Errorf("the upstream was sent %d requests whose body was not complete", started)
	}
	// A complete small body still goes through, whole.
	resps := h.rawExchange("POST /login HTTP/1.1\r\nHost: app.test\r\nContent-Length: 6\r\nConnection: close\r\n\r\nuser=a")
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("complete body: %v", resps)
	}
	if reqs := up.requests(); len(reqs) != 1 || reqs[0].body != "user=a" {
		t.Errorf("upstream got %v", reqs)
	}
}

// A request for another page cannot be dressed as one for the relaxed
// /embed route: the spellings an application could read as another path
// are refused before it, with the policy's own headers.
func TestAttack_HeaderRoutePathConfusion(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, `headers:
  routes:
    - prefix: /embed
      frame_options: "off"
      csp_report_only: true
`)
	if resp, _ := h.get("/embed/x", nil); resp.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("the /embed route is not in effect")
	}
	before := len(up.requests())
	for _, p := range []string{"/embed/../app/x", "/embed/%2e%2e/app/x", "/embed/..%2fapp/x", "//embed/../app/x",
		"/embed/./../app", "/admin/..%2fembed/x", "/admin%2fembed/x", "/admin/..;/embed/x", "/EMBED/x", "/Embed"} {
		resps := h.rawExchange("GET " + p + " HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 || resps[0].StatusCode != 400 {
			t.Errorf("%s: not refused", p)
			continue
		}
		if resps[0].Header.Get("X-Frame-Options") == "" || resps[0].Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: the 400 carries /embed's relaxed headers", p)
		}
	}
	for _, req := range up.requests()[before:] {
		t.Errorf("reached the application: %q", req.head)
	}
}

// A configured host with a port the server is not reached on names another
// origin: the application would build password-reset links and cache keys
// for the attacker's port. Only the listener's own port and 443 pass, and
// the application sees one canonical spelling of the Host.
func TestAttack_HostWithArbitraryPort(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "")
	_, port, _ := net.SplitHostPort(h.httpsAddr)
	for _, host := range []string{"app.test:1", "app.test:80", "app.test:8443", "App.Test:65535", "app.test.:22"} {
		resps := h.rawExchange("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 || resps[0].StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: not refused", host)
			continue
		}
		assertSecurityHeadersOnce(t, host, resps[0].Header)
	}
	// Over HTTP/2 the :authority is the Host.
	req, _ := http.NewRequest("GET", "https://app.test/", nil)
	req.Host = "app.test:1"
	if resp, err := h.client.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest || resp.ProtoMajor != 2 {
		t.Errorf("HTTP/2 :authority app.test:1: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if reqs := up.requests(); len(reqs) != 0 {
		t.Fatalf("a foreign port reached the application: %q", reqs[0].head)
	}
	for host, want := range map[string]string{
		"app.test":          "app.test",
		"APP.TEST":          "app.test",
		"app.test.":         "app.test",
		"app.test:443":      "app.test",
		"app.test:" + port:  "app.test:" + port,
		"App.Test.:" + port: "app.test:" + port,
	} {
		before := len(up.requests())
		resps := h.rawExchange("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 || resps[0].StatusCode != 200 {
			t.Errorf("Host %q refused", host)
			continue
		}
		req := up.requests()[before]
		if got := req.header["host"]; len(got) != 1 || got[0] != want {
			t.Errorf("Host %q: the application got Host %q, want %q", host, got, want)
		}
		if got := req.header["x-forwarded-host"]; len(got) != 1 || got[0] != want {
			t.Errorf("Host %q: the application got X-Forwarded-Host %q, want %q", host, got, want)
		}
	}
}

// The CSP report collector is a path like any other: behind the host check
// and the rate limit, and under a limit of its own, so that one client
// cannot write access-log lines and security events as fast as it can
// send.
func TestAttack_CSPReportFlood(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "headers: {csp: {report: {enabled: true}}}\n")
	report := `{"csp-report":{"document-uri":"https://app.test/","violated-directive":"script-src","blocked-uri":"inline"}}`
	post := func(host, path string) int {
		resps := h.rawExchange("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/csp-report\r\n" +
			"Content-Length: " + fmt.Sprint(len(report)) + "\r\nConnection: close\r\n\r\n" + report)
		if len(resps) != 1 {
			t.Fatalf("%s %s: no response", host, path)
		}
		return resps[0].StatusCode
	}
	if code := post("evil.example", "/.well-known/rampart/csp-report"); code != http.StatusMisdirectedRequest {
		t.Errorf("report for a foreign Host: %d, want 421", code)
	}
	if code := post("app.test", "/.well-known/rampart/../rampart/csp-report"); code != http.StatusBadRequest {
		t.Errorf("report path with a dot segment: %d, want 400", code)
	}
	accepted, limited := 0, 0
	began := time.Now()
	for i := range 100 {
		path := "/.well-known/rampart/csp-report"
		if i%2 == 1 {
			path = "//.well-known//rampart/csp-report" // the same path, canonically
		}
		switch code := post("app.test", path); code {
		case http.StatusNoContent:
			accepted++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("report %d: status %d", i, code)
		}
	}
	// The limit refills one report a second: a slow run (the race
	// detector) earns one more per second it took.
	earned := int(time.Since(began) / time.Second)
	if accepted < 61 || accepted > 61+earned || accepted+limited != 100 {
		t.Errorf("accepted %d, limited %d; want 61 (burst 60 + 1, plus %d earned while sending) and the rest", accepted, limited, earned)
	}
	if n := strings.Count(h.errlog.String(), `"event.action":"csp_violation"`); n > 61 {
		t.Errorf("%d violations logged for 61 accepted reports", n)
	}
	if reqs := up.requests(); len(reqs) != 0 {
		t.Errorf("a report reached the application: %q", reqs[0].head)
	}
}

// "OPTIONS *" is answered by rampart inside the pipeline: after the host
// check, with the security headers, a request id and an access-log line,
// and never forwarded (net/http's own answer had none of these).
func TestGateway_OptionsAsterisk(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "")
	resps := h.rawExchange("OPTIONS * HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusNoContent {
		t.Fatalf("OPTIONS *: %v", resps)
	}
	r := resps[0]
	assertSecurityHeadersOnce(t, "OPTIONS *", r.Header)
	if r.Header.Get("Allow") == "" || r.Header.Get("X-Request-Id") == "" {
		t.Errorf("OPTIONS *: Allow %q, X-Request-Id %q", r.Header.Get("Allow"), r.Header.Get("X-Request-Id"))
	}
	resps = h.rawExchange("OPTIONS * HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("OPTIONS * for a foreign host: %v", resps)
	}
	if reqs := up.requests(); len(reqs) != 0 {
		t.Errorf("OPTIONS * forwarded: %q", reqs[0].head)
	}
	for _, line := range h.waitLines(2) {
		if line["method"] != "OPTIONS" || line["request_id"] == "" {
			t.Errorf("access-log line %v", line)
		}
	}
}

// Requests refused before the pipeline, by net/http's parser or by the
// listener's request syntax checks, on the TLS port and on port 80: each
// answer carries the security headers and a request id, and each has its
// access-log line with the reason (net/http's own answers had none of
// these). So do the plain listener's redirects.
func TestAttack_EarlyRejectionsLoggedWithHeaders(t *testing.T) {
	up := newRawUpstream(t)
	h := start(t, up.url, "listen: {max_header_bytes: 4k}\n")
	cases := []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "malformed request"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + strings.Repeat("b", 12<<10) + "\r\n\r\n", 431, "request headers too large"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer encoding"},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: app.test\r\nExpect: x\r\n\r\n", 417, "unsupported Expect header"},
		{"lower-case method", "get / HTTP/1.1\r\nHost: app.test\r\n\r\n", 400, "method is not an upper-case token"},
		{"userinfo in Host", "GET / HTTP/1.1\r\nHost: app.test:@evil.example\r\n\r\n", 400, "malformed Host header"},
		{"letters in the port", "GET / HTTP/1.1\r\nHost: app.test:evil\r\n\r\n", 400, "malformed Host"},
	}
	seen := 0
	check := func(listener string, resps []*http.Response, status int, reason string, https bool) {
		t.Helper()
		if len(resps) != 1 || resps[0].StatusCode != status {
			t.Errorf("%s: %v, want one %d", listener, resps, status)
			return
		}
		r := resps[0]
		id := r.Header.Get("X-Request-Id")
		if id == "" || r.Header.Get("Content-Security-Policy") == "" || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
			(r.Header.Get("Strict-Transport-Security") != "") != https {
			t.Errorf("%s: headers %v", listener, r.Header)
		}
		seen++
		lines := h.waitLines(seen)
		var line map[string]any
		for _, l := range lines {
			if l["request_id"] == id {
				line = l
			}
		}
		if line == nil || line["status"] != float64(status) || line["rejected"] != reason {
			t.Errorf("%s: access-log line %v, want status %d and rejected %q", listener, line, status, reason)
		}
	}
	for _, tc := range cases {
		check("https "+tc.name, h.rawExchange(tc.raw), tc.status, tc.reason, true)
	}
	// Plain HTTP on the TLS port.
	c, err := net.Dial("tcp", h.httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
	check("plain HTTP on the TLS port", readResponses(c), 400, "plain HTTP request on the TLS port", false)
	c.Close()
	// The plain listener: its refusals and its redirects.
	plain := func(raw string) []*http.Response {
		c, err := net.Dial("tcp", h.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, raw)
		return readResponses(c)
	}
	for _, tc := range cases[:5] {
		check("http "+tc.name, plain(tc.raw), tc.status, tc.reason, false)
	}
	resps := plain("GET /x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 301 || resps[0].Header.Get("Content-Security-Policy") == "" ||
		resps[0].Header.Get("X-Request-Id") == "" {
		t.Errorf("redirect: %v", resps)
	}
	if reqs := up.requests(); len(reqs) != 0 {
		t.Errorf("reached the application: %q", reqs[0].head)
	}
}

// A malformed HTTP/2 request is reset by Go's HTTP/2 server before any
// handler runs, so it has no access-log line: it is a security event
// instead, naming the kind of error (net/http does not say the client).
func TestAttack_H2MalformedRequestResetIsLogged(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	res := h.h2Exchange(h2Request("POST", "/", "app.test", "content-length", "1", "content-length", "44"), []byte("x"), true)
	if !res.reset || res.status != "" {
		t.Fatalf("two content-lengths: %+v, want a reset", res)
	}
	within(t, 5*time.Second, "the reset in the security log", func() bool {
		log := h.errlog.String()
		return strings.Contains(log, `"event.action":"input_validation_fail"`) && strings.Contains(log, `"h2_error":"stream_PROTOCOL_ERROR_duplicate_content_length"`)
	})
}
