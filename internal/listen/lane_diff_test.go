package listen

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The lane and net/http, given the same bytes on a connection, send back
// the same bytes (Date aside), whatever the bytes: requests the lane
// answers, requests it hands over, and every mix of them on one
// connection, pipelined. A difference in where one request ends and the
// next begins (request smuggling between the two servers), in a refusal,
// or in what the handler sees shows here, and so does any difference in
// how a response is written. The cases are tricky requests written by
// hand, a GET and a HEAD for each of laneHandlers' responses, and random
// pipelined mixes of them.
func TestLane_SameBytesAsNetHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("hundreds of TLS exchanges")
	}
	diff := newLaneDiff(t)
	cases := laneDiffCases()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 150 {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteString(cases[rng.IntN(len(cases))])
		}
		cases = append(cases, b.String())
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, raw := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if msg := diff.compare(raw); msg != "" {
				t.Errorf("case %d %q:\n%s", i, raw, msg)
			}
		}()
	}
	wg.Wait()
}

// FuzzLane_SameBytesAsNetHTTP is the test above for any bytes (go test
// -fuzz); each input costs two TLS connections.
func FuzzLane_SameBytesAsNetHTTP(f *testing.F) {
	for _, c := range laneDiffCases() {
		f.Add([]byte(c))
	}
	diff := newLaneDiff(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if msg := diff.compare(string(b)); msg != "" {
			t.Errorf("%q:\n%s", b, msg)
		}
	})
}

// laneDiffCases are requests written to probe where two HTTP/1.1 servers
// could disagree: in reading requests, and (under /w/) in writing the
// responses of laneHandlers.
func laneDiffCases() []string {
	get := "GET /a HTTP/1.1\r\nHost: lane.test\r\n\r\n"
	var writers []string
	for name := range laneHandlers {
		for _, m := range []string{"GET", "HEAD"} {
			writers = append(writers, m+" /w/"+url.PathEscape(name)+" HTTP/1.1\r\nHost: lane.test\r\n\r\n")
		}
	}
	slices.Sort(writers)
	return append(writers, []string{
		get,
		"HEAD /h HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET /lf HTTP/1.1\nHost: lane.test\n\n",
		"GET /mixed HTTP/1.1\r\nHost: lane.test\n\r\n",
		"GET /cr HTTP/1.1\rHost: lane.test\r\n\r\n",
		"GET /q?x=1&y=%41 HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET /close HTTP/1.1\r\nHost: lane.test\r\nConnection: close\r\n\r\n",
		"GET /keep HTTP/1.1\r\nHost: lane.test\r\nConnection: keep-alive, Close\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: lane.test\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: lane.test\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: lane.test\r\n\r\n",
		"GET / HTTP/1.2\r\nHost: lane.test\r\n\r\n",
		"GET / http/1.1\r\nHost: lane.test\r\n\r\n",
		"get / HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: lane.test\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET http://lane.test/abs HTTP/1.1\r\nHost: other.test\r\n\r\n",
		"GET //double HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET lane.test:443 HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"CONNECT lane.test:443 HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nHost: lane.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test:99999\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : lane.test\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: lane.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Fold: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Nul: a\x00b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Del: a\x7fb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Utf8: \xc3\xa9\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Empty:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Bad\x01: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\n: empty name\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nno colon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 4\r\n\r\nbody",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nbody",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody!",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nContent-Length: +4\r\n\r\nbody",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: identity\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 3\r\n\r\nabc",
		"POST /p HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: t\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: lane.test\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nExpect: 100-continue\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nExpect: something\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: lane.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"DELETE /d HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"TRACE / HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Long: " + strings.Repeat("x", 5000) + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: lane.test\r\nX-Near: " + strings.Repeat("y", 4000) + "\r\n\r\n",
		"GET /" + strings.Repeat("p", 4100) + " HTTP/1.1\r\nHost: lane.test\r\n\r\n",
		"\r\n" + get,
		"\r\n\r\n" + get,
		" " + get,
		"GET /partial HTTP/1.1\r\nHost: lane",
		"GET /nohead HTTP/1.1\r\nHost: lane.test\r\n",
		"garbage\r\n\r\n",
	}...)
}

// laneDiff is a pair of servers, net/http alone and with the lane, with
// the same handler: one that echoes what it was given.
type laneDiff struct {
	std, lane string
	client    *tls.Config
}

func newLaneDiff(t testing.TB) *laneDiff {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := laneHandlers[strings.TrimPrefix(r.URL.Path, "/w/")]; ok {
			h(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(w, "%s %q %s host=%q cl=%d te=%q close=%v\n", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding, r.Close)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %q\n", k, r.Header[k])
		}
		fmt.Fprintf(w, "body=%q err=%v trailer=%q\n", body, err, r.Trailer)
	})
	o := Options{ReadHeaderTimeout: 500 * time.Millisecond, IdleTimeout: 500 * time.Millisecond, MaxHeaderBytes: MinMaxHeaderBytes}
	cert := newTestCert(t, false)
	std, _, client, _ := serveTLSWith(t, echo, o, false, cert)
	lane, _, _, _ := serveTLSWith(t, echo, o, true, cert)
	return &laneDiff{std: std, lane: lane, client: client}
}

// compare sends raw to both servers and returns what differs in what came
// back, or "". A server may close the connection before it has read all of
// raw (after a refusal): the client's write then fails, or the close
// resets the connection, which can take with it what was sent before.
// Which of the two happens depends on timing, not on the server, so such
// an exchange is not compared.
func (d *laneDiff) compare(raw string) string {
	var std, lane string
	var stdOK, laneOK bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); std, stdOK = d.transcript(d.std, raw) }()
	go func() { defer wg.Done(); lane, laneOK = d.transcript(d.lane, raw) }()
	wg.Wait()
	if std == lane || !stdOK || !laneOK {
		return ""
	}
	return fmt.Sprintf("net/http:\n%s\nlane:\n%s", std, lane)
}

var (
	dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)
	respHead = regexp.MustCompile(`HTTP/1\.[01] \d{3}[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n`)
)

// sortFields puts the fields of each response head in order: net/http
// sorts them, the lane writes them in the map's order, and HTTP gives
// the order of different names no meaning.
func sortFields(s string) string {
	return respHead.ReplaceAllStringFunc(s, func(head string) string {
		m := respHead.FindStringSubmatchIndex(head)
		lines := strings.SplitAfter(head[m[2]:m[3]], "\r\n")
		slices.Sort(lines)
		return head[:m[2]] + strings.Join(lines, "") + head[m[3]:]
	})
}

// transcript is everything addr sends back for raw, until it closes the
// connection, Date lines removed and fields sorted; false when the
// exchange was cut (see compare).
func (d *laneDiff) transcript(addr, raw string) (string, bool) {
	c, err := tls.Dial("tcp", addr, d.client)
	if err != nil {
		return "dial: " + err.Error(), true
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // guard only
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, raw)
		if err == nil {
			err = c.CloseWrite()
		}
		wrote <- err
	}()
	var b bytes.Buffer
	_, rerr := io.Copy(&b, c)
	werr := <-wrote
	out := sortFields(dateLine.ReplaceAllString(b.String(), ""))
	if werr != nil || (rerr != nil && strings.Contains(rerr.Error(), "connection reset")) {
		return out, false
	}
	if rerr != nil {
		out += "\n[" + rerr.Error() + "]"
	}
	return out, true
}
