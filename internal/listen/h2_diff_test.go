package listen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rampart's HTTP/2 server (h2.go) is meant to answer as net/http's does.
// The tests here serve the same handler on two servers, one with Options{}
// (rampart's HTTP/2 server) and one with Options{GoHTTP2: true}
// (net/http's), send both the same requests over HTTP/2 with Go's client,
// on one connection per server, and compare what the client sees (status,
// interim responses, header fields, body bytes, trailers, errors) and what
// the handler saw (the notes it took: its write errors, the request as it
// arrived). Date's value and the order of header fields are ignored. Go's
// client hides some of what is on the wire (it drops connection-specific
// fields and an unparsable Content-Length), so the responses are also
// compared frame by frame on a raw connection (TestH2Diff_Frames).
//
// rampart's server differs on purpose, each difference shown by a test
// here:
//   - it never sends Keep-Alive, Proxy-Connection, Upgrade or
//     Transfer-Encoding response fields, nor the empty Content-Length of
//     a handler that set it to "" (TestH2Diff_ConnectionSpecificFields,
//     h2DropFields);
//   - it ignores WriteHeader(101) (TestH2Diff_WriteHeader101);
//   - it writes response fields in the header map's order, not sorted;
//
// and it does not copy these quirks of net/http's:
//   - a HEAD handler's writes and flushes after the header block is sent
//     do not fail (TestH2Diff_HeadWrites);
//   - no 100 (Continue) is sent for a request without a body
//     (TestH2Diff_ExpectWithoutBody);
//   - once a stream is reset, what the handler had not read of its body is
//     dropped: the next read fails (net/http's returns it first);
//   - a read of a closed request body fails with
//     http.ErrBodyReadAfterClose (net/http's: "body closed by handler").
//
// H2DIFF_DEBUG=1 logs what is compared.

// h2DiffGuard bounds every wait in these tests, so that a hang fails the
// test instead of stalling it. It is never what a test asserts.
const h2DiffGuard = 10 * time.Second

// h2Side is one of the two servers of a comparison, with the client
// connection the test uses on it and what its handler noted.
type h2Side struct {
	name  string // "rampart" or "net/http"
	addr  string
	tls   *tls.Config // the client's
	cc    *http.ClientConn
	ended chan struct{} // one value each time the handler returns or panics
	gate  chan struct{} // the test lets the handler go on (TestH2Diff_Flush)

	mu      sync.Mutex
	notes   []string
	arrived int           // handlers started (TestH2Diff_ConcurrentStreams)
	all     chan struct{} // closed when the expected number arrived
}

type h2Handler func(s *h2Side, w http.ResponseWriter, r *http.Request)

// newH2Diff starts the two servers with handler h, and a client
// connection to each.
func newH2Diff(t *testing.T, h h2Handler) [2]*h2Side {
	t.Helper()
	cfg, client := dualCertConfig(t)
	var sides [2]*h2Side
	for i, goH2 := range []bool{false, true} {
		s := &h2Side{name: "rampart", tls: client, ended: make(chan struct{}, 256), gate: make(chan struct{}), all: make(chan struct{})}
		if goH2 {
			s.name = "net/http"
		}
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() { s.ended <- struct{}{} }()
			h(s, w, r)
		})
		s.addr, _ = startServer(t, handler, cfg, Options{GoHTTP2: goH2})
		var protos http.Protocols
		protos.SetHTTP2(true)
		tr := &http.Transport{
			TLSClientConfig:       client,
			Protocols:             &protos,
			DisableCompression:    true, // Content-Encoding is the handlers', not to be undone
			ExpectContinueTimeout: h2DiffGuard,
		}
		ctx, cancel := context.WithTimeout(context.Background(), h2DiffGuard)
		cc, err := tr.NewClientConn(ctx, "https", s.addr)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() }) // before the server stops
		s.cc = cc
		sides[i] = s
	}
	return sides
}

// note records what the handler saw, to be compared.
func (s *h2Side) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// waitHandlers waits for n handlers to return, then takes their notes.
func (s *h2Side) waitHandlers(t *testing.T, n int) []string {
	t.Helper()
	timeout := time.NewTimer(h2DiffGuard)
	defer timeout.Stop()
	for range n {
		select {
		case <-s.ended:
		case <-timeout.C:
			t.Fatalf("%s: handler still running", s.name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	notes := s.notes
	s.notes = nil
	return notes
}

// await waits for the test to let the handler go on; false if it did not
// within the guard.
func (s *h2Side) await() bool {
	select {
	case <-s.gate:
		return true
	case <-time.After(h2DiffGuard):
		return false
	}
}

// release lets the handler go on.
func (s *h2Side) release(t *testing.T) {
	select {
	case s.gate <- struct{}{}:
	case <-time.After(h2DiffGuard):
		t.Errorf("%s: handler never waited", s.name)
	}
}

// h2Result is what one exchange looked like from both ends.
type h2Result struct {
	Err     string   // RoundTrip's error
	Proto   string   // the response's
	Interim []string // the 1xx responses, with their fields
	Status  int
	Header  http.Header // Date's value replaced with "<now>"
	Length  int64       // resp.ContentLength
	Body    string      // what was read, quoted, or its length and hash
	BodyErr string      // how reading the body ended
	Trailer http.Header
	Notes   []string // the handler's
}

func (r h2Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "err=%q proto=%s interim=%q status=%d length=%d\n", r.Err, r.Proto, r.Interim, r.Status, r.Length)
	fmt.Fprintf(&b, "\theader=%v\n\tbody=%s bodyErr=%q\n\ttrailer=%v\n\tnotes=%q", r.Header, r.Body, r.BodyErr, r.Trailer, r.Notes)
	return b.String()
}

// h2BodyText is how a body is compared: quoted when short, by length and
// hash when long.
func h2BodyText(b []byte) string {
	if len(b) <= 256 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%d bytes sha256:%x", len(b), sha256.Sum256(b))
}

// h2NormHeader makes h comparable: nil when empty, a Date of the last hour
// replaced with "<now>" (one the handler set is kept).
func h2NormHeader(h http.Header) http.Header {
	if len(h) == 0 {
		return nil
	}
	h = h.Clone()
	if d, ok := h["Date"]; ok && len(d) == 1 {
		if tm, err := http.ParseTime(d[0]); err == nil && time.Since(tm).Abs() < time.Hour {
			h["Date"] = []string{"<now>"}
		}
	}
	return h
}

// roundTrip sends req on s's connection, reads the response to its end
// and waits for the handler; read, when not nil, reads the body instead
// of io.ReadAll.
func (s *h2Side) roundTrip(t *testing.T, req *http.Request, read func(io.Reader) ([]byte, error)) h2Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), h2DiffGuard)
	defer cancel()
	var mu sync.Mutex
	var interim []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		interim = append(interim, fmt.Sprintf("%d %v", code, h2NormHeader(http.Header(h))))
		return nil
	}}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	var res h2Result
	resp, err := s.cc.RoundTrip(req)
	if err != nil {
		res.Err = err.Error()
	} else {
		if read == nil {
			read = io.ReadAll
		}
		body, err := read(resp.Body)
		resp.Body.Close()
		if err != nil {
			res.BodyErr = err.Error()
		}
		res.Proto, res.Status, res.Length = resp.Proto, resp.StatusCode, resp.ContentLength
		res.Header, res.Body, res.Trailer = h2NormHeader(resp.Header), h2BodyText(body), h2NormHeader(resp.Trailer)
	}
	res.Notes = s.waitHandlers(t, 1)
	for i, n := range res.Notes {
		res.Notes[i] = strings.ReplaceAll(n, s.addr, "<addr>") // the servers' ports differ
	}
	mu.Lock()
	res.Interim = interim
	mu.Unlock()
	return res
}

// h2Compare fails the test if the two sides' results differ.
func h2Compare(t *testing.T, what string, got [2]h2Result) {
	t.Helper()
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("%s differs:\nrampart:  %v\nnet/http: %v", what, got[0], got[1])
	}
}

// h2Each runs the same exchange on both sides and compares the results.
func h2Each(t *testing.T, sides [2]*h2Side, what string, newReq func(base string) *http.Request) [2]h2Result {
	t.Helper()
	var got [2]h2Result
	for i, s := range sides {
		got[i] = s.roundTrip(t, newReq("https://"+s.addr), nil)
	}
	h2Compare(t, what, got)
	if os.Getenv("H2DIFF_DEBUG") != "" {
		t.Logf("%s:\n%v\n%v", what, got[0], got[1])
	}
	return got
}

func h2NewRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// h2ErrClass names a handler's write or flush error the same way for both
// servers: the sentinel errors are shared, the others' texts are not.
func h2ErrClass(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, http.ErrBodyNotAllowed):
		return "ErrBodyNotAllowed"
	case errors.Is(err, io.ErrShortWrite):
		return "short write"
	case strings.Contains(err.Error(), "more than declared Content-Length"):
		return "more than declared Content-Length"
	}
	return "error"
}

// h2Write writes p and notes what Write returned.
func h2Write(s *h2Side, w http.ResponseWriter, p string) {
	n, err := io.WriteString(w, p)
	s.note("write %d: %d %s", len(p), n, h2ErrClass(err))
}

func h2Flush(s *h2Side, w http.ResponseWriter) {
	s.note("flush: %s", h2ErrClass(http.NewResponseController(w).Flush()))
}

// h2ResponseCases are handlers that probe how a response is written:
// served under /w/<name>, each is requested with GET and with HEAD.
var h2ResponseCases = []struct {
	name string
	h    h2Handler
}{
	{"small", func(s *h2Side, w http.ResponseWriter, r *http.Request) { h2Write(s, w, "hello") }},
	{"empty", func(s *h2Side, w http.ResponseWriter, r *http.Request) {}},
	{"zero-length write", func(s *h2Side, w http.ResponseWriter, r *http.Request) { h2Write(s, w, "") }},
	// Content-Length is added when the handler returns having written at
	// most one chunk (4096 bytes) and never flushed.
	{"4096 in one write", func(s *h2Side, w http.ResponseWriter, r *http.Request) { h2Write(s, w, strings.Repeat("a", 4096)) }},
	{"4096 in two writes", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, strings.Repeat("a", 4000))
		h2Write(s, w, strings.Repeat("b", 96))
	}},
	{"4097 in one write", func(s *h2Side, w http.ResponseWriter, r *http.Request) { h2Write(s, w, strings.Repeat("a", 4097)) }},
	{"4097 in two writes", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, strings.Repeat("a", 4096))
		h2Write(s, w, "b")
	}},
	{"4000 then 5000", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, strings.Repeat("a", 4000))
		h2Write(s, w, strings.Repeat("b", 5000))
	}},
	{"many small writes", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		for i := range 300 {
			io.WriteString(w, strconv.Itoa(i)+",")
		}
	}},
	{"100 KiB", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, strings.Repeat("0123456789abcdef", 6400))
	}},
	{"flushed small", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "abc")
		h2Flush(s, w)
		h2Write(s, w, "def")
	}},
	{"flush only", func(s *h2Side, w http.ResponseWriter, r *http.Request) { h2Flush(s, w) }},
	{"flush then sniffable", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Flush(s, w)
		h2Write(s, w, "<html><body>late")
	}},
	{"404 without body", func(s *h2Side, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }},
	{"http.Error", func(s *h2Side, w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusTeapot) }},
	{"WriteHeader twice", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusAccepted)
		h2Write(s, w, "x")
	}},
	{"WriteHeader after Write", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "x")
		w.WriteHeader(http.StatusCreated)
	}},
	{"WriteHeader 999", func(s *h2Side, w http.ResponseWriter, r *http.Request) { w.WriteHeader(999) }},
	{"WriteHeader 99 panics", func(s *h2Side, w http.ResponseWriter, r *http.Request) { w.WriteHeader(99) }},
	{"header changed after WriteHeader", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		w.Header().Set("X-Gone", "1")
		w.WriteHeader(http.StatusOK)
		w.Header().Set("X-After", "1")
		w.Header().Del("X-Gone")
		w.Header().Set("X-Before", "2")
		h2Write(s, w, "x")
	}},
	{"header changed after flush", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "x")
		h2Flush(s, w)
		w.Header().Set("X-Late", "1")
	}},
	{"204 with a body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		h2Write(s, w, "body")
	}},
	{"304 with a body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
		h2Write(s, w, "body")
	}},
	{"204 with Content-Length", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
	}},
	{"Content-Length", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		h2Write(s, w, "hello")
	}},
	{"Content-Length large", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000")
		h2Write(s, w, strings.Repeat("z", 10000))
	}},
	{"Content-Length longer than body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		h2Write(s, w, "hello")
	}},
	{"Content-Length shorter than body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		h2Write(s, w, "hello")
		h2Write(s, w, "!")
	}},
	{"Content-Length shorter than flushed body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		h2Flush(s, w)
		h2Write(s, w, "hello")
	}},
	{"Content-Length invalid", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "abc")
		h2Write(s, w, "hello")
	}},
	{"Content-Length negative", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "-1")
		h2Write(s, w, "hello")
	}},
	{"Content-Length twice", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = []string{"5", "6"}
		h2Write(s, w, "hello")
	}},
	// A nil value suppresses an automatic field (http.ResponseWriter's
	// documentation), Content-Length included.
	{"Content-Length nil", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = nil
		h2Write(s, w, "hello")
	}},
	{"Content-Length empty", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = []string{""}
		h2Write(s, w, "hello")
	}},
	{"sniff html", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "<!DOCTYPE html><title>x</title>")
	}},
	{"sniff binary", func(s *h2Side, w http.ResponseWriter, r *http.Request) { h2Write(s, w, "\x00\x01\x02\x03") }},
	{"sniff large", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "%PDF-"+strings.Repeat("p", 6000))
	}},
	{"Content-Type set", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-test")
		h2Write(s, w, "<html>")
	}},
	{"Content-Type nil", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		h2Write(s, w, "<html>")
	}},
	{"Content-Encoding", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		h2Write(s, w, "<html>not gzip")
	}},
	{"Content-Encoding empty", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "")
		h2Write(s, w, "<html>")
	}},
	{"Date set", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		h2Write(s, w, "x")
	}},
	{"Date nil", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		h2Write(s, w, "x")
	}},
	{"several values", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2; Path=/")
		w.Header().Set("X-Empty", "")
		h2Write(s, w, "x")
	}},
	{"field names not canonical", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["x-lower"] = []string{"l"}
		w.Header()["X-MiXeD"] = []string{"m"}
		h2Write(s, w, "x")
	}},
	{"invalid fields", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header()["Bad Name"] = []string{"v"}
		w.Header()["X-Nul\x00"] = []string{"v"}
		w.Header()["X-Ünicode"] = []string{"v"}
		w.Header()["X-Bad-Value"] = []string{"a\r\nb", "ok"}
		w.Header()["X-Nul-Value"] = []string{"a\x00b"}
		w.Header()[":status"] = []string{"500"}
		h2Write(s, w, "x")
	}},
	{"Connection-specific fields dropped by both", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "x-hop")
		w.Header().Set("Transfer-Encoding", "chunked")
		h2Write(s, w, "x")
	}},
	{"Content-Length 0 with a body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "0")
		h2Write(s, w, "body")
	}},
	{"large header block", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat(strconv.Itoa(i%10), 1000))
		}
		h2Write(s, w, "x")
	}},
	{"large trailers", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "x")
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("%sX-Big-%d", http.TrailerPrefix, i), strings.Repeat(strconv.Itoa(i%10), 1000))
		}
	}},
	{"Hijack", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		_, _, err := http.NewResponseController(w).Hijack()
		s.note("hijack: %v", errors.Is(err, http.ErrNotSupported))
		h2Write(s, w, "x")
	}},
	{"EnableFullDuplex", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		s.note("full duplex: %v", http.NewResponseController(w).EnableFullDuplex())
		h2Write(s, w, "x")
	}},
	// A deadline in the past resets the stream before SetWriteDeadline
	// returns: the writes after it fail.
	{"write deadline passed", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		s.note("set: %v", rc.SetWriteDeadline(time.Now().Add(-time.Second)))
		h2Write(s, w, "x")
		h2Flush(s, w)
	}},
	{"write deadline passed after flush", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "x")
		h2Flush(s, w)
		rc := http.NewResponseController(w)
		s.note("set: %v", rc.SetWriteDeadline(time.Now().Add(-time.Second)))
		h2Write(s, w, "y")
		h2Flush(s, w)
	}},
	{"write deadline lifted", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		s.note("set: %v", rc.SetWriteDeadline(time.Now().Add(time.Hour)))
		s.note("lift: %v", rc.SetWriteDeadline(time.Time{}))
		h2Write(s, w, "x")
	}},
	{"103 then 200", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "</style.css>; rel=preload; as=style")
		w.Header().Add("Link", "</app.js>; rel=preload; as=script")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/plain")
		h2Write(s, w, "final")
	}},
	{"103 twice, fields kept", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Add("Link", "</b.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
	}},
	{"103 with Content-Length", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h2Write(s, w, "hello")
	}},
	{"100 from the handler", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusContinue)
		h2Write(s, w, "after 100")
	}},
	{"trailers declared", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-A, x-b")
		w.Header().Add("Trailer", "X-C")
		h2Write(s, w, "body")
		w.Header().Set("X-A", "a")
		w.Header().Set("X-B", "b")
	}},
	{"trailers declared, none set", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-A")
		h2Write(s, w, "body")
	}},
	{"trailers declared, no body", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-A")
		w.Header().Set("X-A", "early")
		w.WriteHeader(http.StatusOK)
		w.Header().Set("X-A", "a")
	}},
	{"trailers declared, forbidden names", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Content-Length, Host, X-Ok")
		h2Write(s, w, "body")
		w.Header().Set("Host", "h")
		w.Header().Set("X-Ok", "ok")
	}},
	{"trailers with TrailerPrefix", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "body")
		h2Flush(s, w)
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		w.Header().Set(http.TrailerPrefix+"x-lower", "lower")
	}},
	{"trailers with TrailerPrefix, not flushed", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set(http.TrailerPrefix+"X-T", "t")
		h2Write(s, w, "body")
	}},
	{"trailers both ways", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		h2Write(s, w, strings.Repeat("d", 5000))
		w.Header().Set("X-Declared", "d")
		w.Header().Set(http.TrailerPrefix+"X-Prefixed", "p")
	}},
	{"panic before writing", func(s *h2Side, w http.ResponseWriter, r *http.Request) { panic("boom") }},
	{"panic after a write", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "unsent")
		panic("boom")
	}},
	{"panic after flush", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "partial")
		h2Flush(s, w)
		panic("boom")
	}},
	{"ErrAbortHandler", func(s *h2Side, w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }},
	{"ErrAbortHandler after flush", func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		h2Write(s, w, "partial")
		h2Flush(s, w)
		panic(http.ErrAbortHandler)
	}},
}

// h2ResponseHandler serves h2ResponseCases under /w/.
func h2ResponseHandler(s *h2Side, w http.ResponseWriter, r *http.Request) {
	for _, c := range h2ResponseCases {
		if r.URL.Path == "/w/"+c.name {
			c.h(s, w, r)
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
}

// TestH2Diff_Responses: every handler of h2ResponseCases, with GET and
// with HEAD, on one connection: the same status, fields, body, trailers,
// errors, and the same results for the handler's writes.
func TestH2Diff_Responses(t *testing.T) {
	sides := newH2Diff(t, h2ResponseHandler)
	for _, c := range h2ResponseCases {
		for _, method := range []string{"GET", "HEAD"} {
			var got [2]h2Result
			for i, s := range sides {
				got[i] = s.roundTrip(t, h2NewRequest(t, method, "https://"+s.addr+"/w/"+c.name, nil), nil)
			}
			got[0].Notes, got[1].Notes = h2HeadWrites(method, got[0].Notes, got[1].Notes)
			if method == "HEAD" && c.name == "write deadline passed after flush" && strings.Contains(got[1].Err, "INTERNAL_ERROR") {
				// As in TestH2Diff_Frames: the HEAD's header block ends
				// the stream at the first flush, and net/http's server
				// then sends it or only the deadline's reset, whichever
				// of its goroutines writes first. When it sends the
				// answer, the two are compared; when it does not,
				// rampart's must still be the complete answer.
				if got[0].Err != "" || got[0].Status != http.StatusOK {
					t.Errorf("HEAD %s: rampart: %v, want the 200 sent at the first flush", c.name, got[0])
				}
				continue
			}
			h2Compare(t, method+" "+c.name, got)
		}
	}
}

// h2HeadWrites makes the handler's notes of a HEAD request comparable.
// net/http's HTTP/2 server fails the write or flush that sends a HEAD
// response's header block with io.ErrShortWrite, and every write after it
// (its writeChunk reports no byte written of the chunk it ends the stream
// with, which its bufio.Writer takes for a short write); or, once the
// stream is closed after that header block, with "request body closed due
// to handler exiting". rampart's server fails neither, as net/http's
// HTTP/1 server does not (TestH2Diff_HeadWrites). When net/http's notes
// of a HEAD request have such an error, the results of writes and
// flushes are left out of both (TestH2Diff_HeadWrites checks rampart's).
func h2HeadWrites(method string, ours, theirs []string) ([]string, []string) {
	failed := func(n string) bool { return strings.HasSuffix(n, " short write") || strings.HasSuffix(n, " error") }
	if method != "HEAD" || !slices.ContainsFunc(theirs, failed) {
		return ours, theirs
	}
	strip := func(notes []string) []string {
		out := make([]string, len(notes))
		for i, n := range notes {
			if strings.HasPrefix(n, "write ") || strings.HasPrefix(n, "flush:") {
				n, _, _ = strings.Cut(n, ":")
			}
			out[i] = n
		}
		return out
	}
	return strip(ours), strip(theirs)
}

// TestH2Diff_HeadWrites: the difference h2HeadWrites leaves out.
// rampart's server lets a HEAD handler write and flush without error
// after the header block is sent, as net/http's HTTP/1 server does;
// net/http's HTTP/2 server fails them.
func TestH2Diff_HeadWrites(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", "10000")
			h2Write(s, w, strings.Repeat("a", 10000))
			h2Flush(s, w)
			return
		}
		h2Write(s, w, strings.Repeat("a", 4096))
		h2Write(s, w, "b")
		h2Flush(s, w)
		h2Write(s, w, "c")
	})
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"write 4096: 4096 nil", "write 1: 1 nil", "flush: nil", "write 1: 1 nil"}},
		{"/length", []string{"write 10000: 10000 nil", "flush: nil"}},
	} {
		var got [2]h2Result
		for i, s := range sides {
			got[i] = s.roundTrip(t, h2NewRequest(t, "HEAD", "https://"+s.addr+tc.path, nil), nil)
		}
		if !slices.Equal(got[0].Notes, tc.want) {
			t.Errorf("HEAD %s: rampart: handler saw %q, want %q", tc.path, got[0].Notes, tc.want)
		}
		t.Logf("HEAD %s: net/http: handler saw %q", tc.path, got[1].Notes)
		got[0].Notes, got[1].Notes = nil, nil
		h2Compare(t, "HEAD "+tc.path, got)
	}
}

// TestH2Diff_ContentLength checks against net/http's what
// TestH2Diff_Responses only compares: which responses get a
// Content-Length.
func TestH2Diff_ContentLength(t *testing.T) {
	sides := newH2Diff(t, h2ResponseHandler)
	for _, tc := range []struct {
		name   string
		method string
		want   int64
	}{
		{"small", "GET", 5},
		{"small", "HEAD", 5},
		{"empty", "GET", 0},
		{"empty", "HEAD", -1},
		{"4096 in one write", "GET", 4096},
		{"4096 in two writes", "GET", 4096},
		{"4097 in one write", "GET", -1},
		{"4097 in two writes", "GET", -1},
		{"flushed small", "GET", -1},
		{"flush only", "GET", -1},
		{"Content-Length", "GET", 5},
		{"Content-Length large", "GET", 10000},
		{"Content-Length invalid", "GET", 5},
		{"Content-Length nil", "GET", -1},
		{"Content-Encoding", "GET", 14},
	} {
		got := h2Each(t, sides, tc.method+" "+tc.name, func(base string) *http.Request {
			return h2NewRequest(t, tc.method, base+"/w/"+tc.name, nil)
		})
		for i, s := range sides {
			if got[i].Length != tc.want {
				t.Errorf("%s %s: %s: Content-Length %d, want %d", tc.method, tc.name, s.name, got[i].Length, tc.want)
			}
		}
	}
}

// h2Describe is the request as a handler sees it, for the notes.
func h2Describe(r *http.Request) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q %s host=%q url=%q path=%q rawpath=%q query=%q cl=%d close=%v tls=%v",
		r.Method, r.RequestURI, r.Proto, r.Host, r.URL.String(), r.URL.Path, r.URL.RawPath, r.URL.RawQuery,
		r.ContentLength, r.Close, r.TLS != nil)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, r.Header[k])
	}
	fmt.Fprintf(&b, " trailer=%v", r.Trailer)
	return b.String()
}

// h2EchoRequest notes the request, reads its body and notes it and its
// trailers, and answers with the body's length.
func h2EchoRequest(s *h2Side, w http.ResponseWriter, r *http.Request) {
	s.note("%s", h2Describe(r))
	body, err := io.ReadAll(r.Body)
	s.note("body=%s err=%v trailer=%v", h2BodyText(body), err, r.Trailer)
	fmt.Fprintf(w, "read %d", len(body))
}

// TestH2Diff_Request: the request the handler gets: Cookie fields
// merged, :authority as Host, the target with its query and escapes.
func TestH2Diff_Request(t *testing.T) {
	sides := newH2Diff(t, h2EchoRequest)
	for _, tc := range []struct {
		name string
		req  func(base string) *http.Request
	}{
		{"plain GET", func(base string) *http.Request { return h2NewRequest(t, "GET", base+"/", nil) }},
		{"cookies", func(base string) *http.Request {
			req := h2NewRequest(t, "GET", base+"/c", nil)
			req.Header["Cookie"] = []string{"a=1; b=2", "c=3"}
			req.AddCookie(&http.Cookie{Name: "d", Value: "4"})
			return req
		}},
		{"host", func(base string) *http.Request {
			req := h2NewRequest(t, "GET", base+"/h", nil)
			req.Host = "app.example:8443"
			return req
		}},
		{"query and escapes", func(base string) *http.Request {
			return h2NewRequest(t, "GET", base+"/a%2Fb/c%20d/%C3%A9;p=1?x=1&y=%41&z&x=2#frag", nil)
		}},
		{"asterisk-like path", func(base string) *http.Request { return h2NewRequest(t, "GET", base+"//double//slash/", nil) }},
		{"fields", func(base string) *http.Request {
			req := h2NewRequest(t, "DELETE", base+"/f", nil)
			req.Header.Add("X-Multi", "1")
			req.Header.Add("X-Multi", "2")
			req.Header.Set("Accept", "text/html")
			req.Header.Set("X-Empty", "")
			req.Header.Set("Te", "trailers")
			return req
		}},
		{"OPTIONS", func(base string) *http.Request { return h2NewRequest(t, "OPTIONS", base+"/o", nil) }},
	} {
		h2Each(t, sides, tc.name, tc.req)
	}
}

// TestH2Diff_ExpectWithoutBody: "Expect: 100-continue" on a request
// without a body is taken off the request by both servers. net/http then
// sends a 100 (Continue) when the handler reads the empty body, which
// asks for nothing; rampart's server does not.
func TestH2Diff_ExpectWithoutBody(t *testing.T) {
	sides := newH2Diff(t, h2EchoRequest)
	var got [2]h2Result
	for i, s := range sides {
		req := h2NewRequest(t, "GET", "https://"+s.addr+"/", nil)
		req.Header.Set("Expect", "100-continue")
		got[i] = s.roundTrip(t, req, nil)
	}
	if got[0].Interim != nil {
		t.Errorf("rampart sent %q", got[0].Interim)
	}
	t.Logf("net/http sent %q", got[1].Interim)
	got[1].Interim = nil
	h2Compare(t, "Expect without a body", got)
}

// h2UnsizedReader hides its length from the client, which then sends the
// body without a Content-Length.
type h2UnsizedReader struct{ io.Reader }

// TestH2Diff_RequestBodies: bodies with and without a Content-Length,
// read to their end or not, and Expect: 100-continue.
func TestH2Diff_RequestBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/partial":
			// Reads a little, answers, returns: the rest is not read.
			s.note("%s", h2Describe(r))
			b := make([]byte, 10)
			n, err := io.ReadFull(r.Body, b)
			s.note("read %q %v", b[:n], err)
			io.WriteString(w, "partial")
		case "/ignore":
			// Answers without touching the body.
			s.note("%s", h2Describe(r))
			w.WriteHeader(http.StatusExpectationFailed)
		case "/close":
			// Closes the body, then reads it.
			r.Body.Close()
			// The errors' texts differ: http.ErrBodyReadAfterClose and
			// net/http's "body closed by handler".
			_, err := r.Body.Read(make([]byte, 1))
			s.note("read after close fails: %v", err != nil)
			io.WriteString(w, "closed")
		default:
			h2EchoRequest(s, w, r)
		}
	})
	for _, tc := range []struct {
		name string
		req  func(base string) *http.Request
	}{
		{"POST with Content-Length", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/", strings.NewReader("hello"))
		}},
		{"POST without Content-Length", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/", h2UnsizedReader{strings.NewReader("hello")})
		}},
		{"POST empty", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/", strings.NewReader(""))
		}},
		{"POST 1 MiB", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/", bytes.NewReader(big))
		}},
		{"POST 1 MiB without Content-Length", func(base string) *http.Request {
			return h2NewRequest(t, "PUT", base+"/", h2UnsizedReader{bytes.NewReader(big)})
		}},
		{"POST 1 MiB read partially", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/partial", bytes.NewReader(big))
		}},
		{"POST 1 MiB ignored", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/ignore", bytes.NewReader(big))
		}},
		{"POST body closed", func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/close", strings.NewReader("hello"))
		}},
		{"Expect: 100-continue, body read", func(base string) *http.Request {
			req := h2NewRequest(t, "POST", base+"/", strings.NewReader("hello"))
			req.Header.Set("Expect", "100-continue")
			return req
		}},
		{"Expect: 100-continue, body not read", func(base string) *http.Request {
			req := h2NewRequest(t, "POST", base+"/ignore", strings.NewReader("hello"))
			req.Header.Set("Expect", "100-continue")
			return req
		}},
		{"Expect: 100-continue, body read partially", func(base string) *http.Request {
			req := h2NewRequest(t, "POST", base+"/partial", bytes.NewReader(big))
			req.Header.Set("Expect", "100-continue")
			return req
		}},
	} {
		h2Each(t, sides, tc.name, tc.req)
	}
	// The request after those on the same connection: the flow-control
	// windows the unread bodies took were given back.
	h2Each(t, sides, "POST 1 MiB after", func(base string) *http.Request {
		return h2NewRequest(t, "POST", base+"/", bytes.NewReader(big))
	})
}

// h2TrailerBody sets the request's trailers when the client has sent the
// body, as a streaming client does.
type h2TrailerBody struct {
	io.Reader
	req *http.Request
	set http.Header
}

func (b *h2TrailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		for k, v := range b.set {
			b.req.Trailer[k] = v
		}
	}
	return n, err
}

// TestH2Diff_Trailers: request trailers the client declared (and one it
// did not), and response trailers, declared and with TrailerPrefix.
func TestH2Diff_Trailers(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		s.note("before the body: %v", r.Trailer)
		body, err := io.ReadAll(r.Body)
		s.note("body=%s err=%v trailer=%v", h2BodyText(body), err, r.Trailer)
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "got it")
		w.Header().Set("X-Sum", strconv.Itoa(len(body)))
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "u")
	})
	newReq := func(set http.Header, declared ...string) func(base string) *http.Request {
		return func(base string) *http.Request {
			req := h2NewRequest(t, "POST", base+"/", nil)
			req.Trailer = http.Header{}
			for _, k := range declared {
				req.Trailer[k] = nil
			}
			req.Body = io.NopCloser(&h2TrailerBody{Reader: strings.NewReader("some body"), req: req, set: set})
			req.ContentLength = -1
			return req
		}
	}
	h2Each(t, sides, "declared trailers", newReq(http.Header{"X-One": {"1"}, "X-Two": {"2a", "2b"}}, "X-One", "X-Two"))
	h2Each(t, sides, "declared trailer not sent", newReq(http.Header{"X-One": {"1"}}, "X-One", "X-Two"))
	h2Each(t, sides, "undeclared trailer", newReq(http.Header{"X-One": {"1"}, "X-Extra": {"e"}}, "X-One"))
	h2Each(t, sides, "trailer without declaring any", newReq(http.Header{"X-Extra": {"e"}}))
	h2Each(t, sides, "large body and trailer", func(base string) *http.Request {
		req := newReq(http.Header{"X-One": {"1"}}, "X-One")(base)
		req.Body = io.NopCloser(&h2TrailerBody{Reader: bytes.NewReader(make([]byte, 300<<10)), req: req, set: http.Header{"X-One": {"1"}}})
		return req
	})
}

// TestH2Diff_Flush: each flush reaches the client while the handler
// waits: the handler writes its next chunk only once the client has read
// the one before, so a server that held a flushed chunk back would never
// finish.
func TestH2Diff_Flush(t *testing.T) {
	const chunks = 4
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		for i := range chunks {
			fmt.Fprintf(w, "chunk %d;", i)
			h2Flush(s, w)
			if i < chunks-1 && !s.await() {
				s.note("the client never read chunk %d", i)
				return
			}
		}
	})
	var got [2]h2Result
	for i, s := range sides {
		read := func(body io.Reader) ([]byte, error) {
			var all []byte
			for i := range chunks - 1 {
				chunk := make([]byte, len("chunk 0;"))
				if _, err := io.ReadFull(body, chunk); err != nil {
					return all, fmt.Errorf("chunk %d: %w", i, err)
				}
				all = append(all, chunk...)
				s.release(t)
			}
			rest, err := io.ReadAll(body)
			return append(all, rest...), err
		}
		got[i] = s.roundTrip(t, h2NewRequest(t, "GET", "https://"+s.addr+"/", nil), read)
		if want := strconv.Quote("chunk 0;chunk 1;chunk 2;chunk 3;"); got[i].Body != want || got[i].BodyErr != "" {
			t.Errorf("%s: body %s (%s), want %s", s.name, got[i].Body, got[i].BodyErr, want)
		}
	}
	h2Compare(t, "streamed response", got)
}

// TestH2Diff_LargeResponse: 5 MiB, more than the client's windows, so
// the server must wait for its WINDOW_UPDATEs; then a 1 MiB body and the
// same download again, on the same connection.
func TestH2Diff_LargeResponse(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			n, err := io.Copy(io.Discard, r.Body)
			s.note("read %d %v", n, err)
		}
		chunk := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz012345"), 1024) // 32 KiB
		for i := range 160 {
			chunk[0] = byte(i)
			if _, err := w.Write(chunk); err != nil {
				s.note("write %d: %v", i, err)
				return
			}
		}
	})
	for _, name := range []string{"first", "second"} {
		got := h2Each(t, sides, "5 MiB "+name, func(base string) *http.Request { return h2NewRequest(t, "GET", base+"/", nil) })
		if !strings.HasPrefix(got[0].Body, "5242880 bytes") {
			t.Errorf("rampart: body %s", got[0].Body)
		}
		h2Each(t, sides, "1 MiB up, 5 MiB down "+name, func(base string) *http.Request {
			return h2NewRequest(t, "POST", base+"/", bytes.NewReader(make([]byte, 1<<20)))
		})
	}
}

// TestH2Diff_ConcurrentStreams: 50 requests at once on one connection,
// their handlers all running together (each waits for the others), their
// answers interleaved on the connection.
func TestH2Diff_ConcurrentStreams(t *testing.T) {
	const n = 50
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.arrived++
		if s.arrived == n {
			close(s.all)
		}
		s.mu.Unlock()
		select {
		case <-s.all:
		case <-time.After(h2DiffGuard):
			s.note("not all %d handlers ran at once", n)
		}
		i := r.URL.Query().Get("i")
		w.Header().Set("X-I", i)
		for range 100 {
			io.WriteString(w, strings.Repeat(i, 100)+"\n")
		}
	})
	var got [2][n]h2Result
	for si, s := range sides {
		ctx, cancel := context.WithTimeout(context.Background(), h2DiffGuard)
		defer cancel()
		var wg sync.WaitGroup
		for i := range n {
			req := h2NewRequest(t, "GET", fmt.Sprintf("https://%s/?i=%d", s.addr, i), nil).WithContext(ctx)
			wg.Go(func() {
				var res h2Result
				resp, err := s.cc.RoundTrip(req)
				if err != nil {
					res.Err = err.Error()
				} else {
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						res.BodyErr = err.Error()
					}
					res.Status, res.Length, res.Header, res.Body = resp.StatusCode, resp.ContentLength, h2NormHeader(resp.Header), h2BodyText(body)
				}
				got[si][i] = res
			})
		}
		wg.Wait()
		if notes := s.waitHandlers(t, n); len(notes) > 0 {
			t.Errorf("%s: %q", s.name, notes)
		}
	}
	for i := range n {
		h2Compare(t, fmt.Sprintf("request %d", i), [2]h2Result{got[0][i], got[1][i]})
		if want := fmt.Sprintf("%d bytes", 100*(100*len(strconv.Itoa(i))+1)); !strings.HasPrefix(got[0][i].Body, want) {
			t.Errorf("rampart: request %d: %s %s, want %s", i, got[0][i].Err, got[0][i].Body, want)
		}
	}
}

// TestH2Diff_ClientCancel: a client that gives up on a response resets
// its stream: the handler's context is cancelled and its writes fail.
func TestH2Diff_ClientCancel(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		h2Write(s, w, "first")
		h2Flush(s, w)
		select {
		case <-r.Context().Done():
			s.note("context: %v", r.Context().Err())
		case <-time.After(h2DiffGuard):
			s.note("context never cancelled")
		}
		// The reset reached the server: every write fails from now on.
		w.Write(make([]byte, 8<<10))
		h2Flush(s, w)
	})
	var got [2]h2Result
	for i, s := range sides {
		ctx, cancel := context.WithCancel(context.Background())
		read := func(body io.Reader) ([]byte, error) {
			b := make([]byte, len("first"))
			_, err := io.ReadFull(body, b)
			cancel()
			if err != nil {
				return b, err
			}
			_, err = io.ReadAll(body)
			return b, err
		}
		got[i] = s.roundTrip(t, h2NewRequest(t, "GET", "https://"+s.addr+"/", nil).WithContext(ctx), read)
		cancel()
	}
	h2Compare(t, "cancelled", got)
}

// TestH2Diff_ReadDeadline: a read deadline already passed fails the
// reads of a body still open before SetReadDeadline returns; a future one
// does not. The client holds the body open until it has the response in
// the first case, and ends it at once in the second.
func TestH2Diff_ReadDeadline(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 4)
		_, err := io.ReadFull(r.Body, first)
		s.note("first=%q %v", first, err)
		d := time.Now().Add(-time.Second)
		if r.URL.Path == "/future" {
			d = time.Now().Add(time.Hour)
		}
		s.note("set: %v", http.NewResponseController(w).SetReadDeadline(d))
		rest, err := io.ReadAll(r.Body)
		s.note("rest=%q deadline exceeded=%v", rest, errors.Is(err, os.ErrDeadlineExceeded))
		h2Write(s, w, "x")
	})
	for _, path := range []string{"/past", "/future"} {
		var got [2]h2Result
		for i, s := range sides {
			pr, pw := io.Pipe()
			go func() {
				pw.Write([]byte("some"))
				if path == "/future" {
					pw.Write([]byte(" more"))
					pw.Close()
				}
			}()
			got[i] = s.roundTrip(t, h2NewRequest(t, "POST", "https://"+s.addr+path, pr), nil)
			pw.Close()
		}
		h2Compare(t, path, got)
	}
}

// TestH2Diff_ConnectionClose: "Connection: close" from a handler is not
// sent, and makes both servers close the connection gracefully (GOAWAY)
// after the response: the response arrives whole.
func TestH2Diff_ConnectionClose(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	h2Each(t, sides, "Connection: close", func(base string) *http.Request { return h2NewRequest(t, "GET", base+"/", nil) })
}

// TestH2Diff_WriteHeader101: rampart ignores WriteHeader(101), which
// HTTP/2 does not have (RFC 9113, 8.6); net/http sends a 101 HEADERS
// frame, which Go's client takes as an interim response. Past that, the
// responses are the same.
func TestH2Diff_WriteHeader101(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		io.WriteString(w, "after 101")
	})
	var got [2]h2Result
	for i, s := range sides {
		got[i] = s.roundTrip(t, h2NewRequest(t, "GET", "https://"+s.addr+"/", nil), nil)
	}
	if len(got[0].Interim) != 0 {
		t.Errorf("rampart sent interim responses %q", got[0].Interim)
	}
	t.Logf("net/http's interim responses: %q", got[1].Interim)
	if got[1].Interim = slices.DeleteFunc(got[1].Interim, func(s string) bool { return strings.HasPrefix(s, "101 ") }); len(got[1].Interim) == 0 {
		got[1].Interim = nil
	}
	h2Compare(t, "WriteHeader(101)", got)
}

// TestH2Diff_ConnectionSpecificFields: the fields RFC 9113 (8.2.2)
// forbids in HTTP/2 are never sent by rampart; net/http drops only
// Connection and a Transfer-Encoding other than "trailers", and sends the
// others. Go's client drops them all, so this looks at the frames.
func TestH2Diff_ConnectionSpecificFields(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Connection", "keep-alive")
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Transfer-Encoding", "trailers")
		w.Header().Set("Connection", "upgrade")
		io.WriteString(w, "x")
	})
	var got [2][]string
	for i, s := range sides {
		raw := h2RawDial(t, s)
		got[i] = raw.exchange(t, "GET", "/")
		s.waitHandlers(t, 1)
	}
	want := [2][]string{
		{`HEADERS [":status: 200" "content-length: 1" "content-type: text/plain; charset=utf-8" "date: <now>"]`, "DATA 1 bytes END_STREAM"},
		{`HEADERS [":status: 200" "content-length: 1" "content-type: text/plain; charset=utf-8" "date: <now>" "keep-alive: timeout=5" "proxy-connection: keep-alive" "transfer-encoding: trailers" "upgrade: websocket"]`, "DATA 1 bytes END_STREAM"},
	}
	for i, s := range sides {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s sent\n%q\nwant\n%q", s.name, got[i], want[i])
		}
	}
}

// TestH2Diff_Frames compares the frames of each of h2ResponseCases'
// responses, on a raw connection: what Go's client would hide (fields it
// drops, where END_STREAM is, RST_STREAM codes) shows here. Consecutive
// DATA frames count as one: where a body is cut into frames depends on
// flow control and on timing, not on the server.
func TestH2Diff_Frames(t *testing.T) {
	sides := newH2Diff(t, h2ResponseHandler)
	var raws [2]*h2Raw
	for i, s := range sides {
		raws[i] = h2RawDial(t, s)
	}
	// The fields rampart deliberately does not send.
	deliberate := func(frames []string) []string {
		out := make([]string, len(frames))
		for i, f := range frames {
			out[i] = h2DropFields.ReplaceAllString(f, "")
		}
		return out
	}
	for _, c := range h2ResponseCases {
		for _, method := range []string{"GET", "HEAD"} {
			if method == "HEAD" && c.name == "write deadline passed after flush" {
				// The HEAD's header block ends the stream at the first
				// flush; whether net/http's server then sends it, or
				// only the reset of the deadline, depends on which of
				// its goroutines writes first (seen under the race
				// detector). rampart's sends the answer, complete.
				continue
			}
			var got [2][]string
			var notes [2][]string
			for i, s := range sides {
				got[i] = raws[i].exchange(t, method, "/w/"+c.name)
				notes[i] = s.waitHandlers(t, 1)
			}
			notes[0], notes[1] = h2HeadWrites(method, notes[0], notes[1])
			got[1] = deliberate(got[1])
			h2SameFrames(t, method+" "+c.name, got, notes)
		}
	}
}

// h2SameFrames compares what the two servers sent (got, rampart's first)
// and what their handlers noted.
func h2SameFrames(t *testing.T, what string, got, notes [2][]string) {
	t.Helper()
	if !slices.Equal(got[0], got[1]) || !slices.Equal(notes[0], notes[1]) {
		t.Errorf("%s differs:\nrampart:  %q %q\nnet/http: %q %q", what, got[0], notes[0], got[1], notes[1])
	} else if os.Getenv("H2DIFF_DEBUG") != "" {
		t.Logf("%s: %q %q", what, got[0], notes[0])
	}
}

// TestH2Diff_RequestTrailers: request trailers as Go's client cannot send
// them: one the request did not declare, and one RFC 9110 (6.5.1)
// forbids.
func TestH2Diff_RequestTrailers(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		s.note("before the body: %v", r.Trailer)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// What was read before the error depends on timing: net/http
			// lets the handler read what it holds of a reset stream's
			// body, rampart drops it.
			body = nil
		}
		s.note("body=%q err=%v trailer=%v", body, err != nil, r.Trailer)
		io.WriteString(w, "ok")
	})
	for _, tc := range []struct {
		name     string
		declared string
		trailers []string
	}{
		{"declared", "x-one", []string{"x-one", "1"}},
		{"declared twice", "x-one", []string{"x-one", "1", "x-one", "2"}},
		{"undeclared", "x-one", []string{"x-one", "1", "x-extra", "e"}},
		{"none declared", "", []string{"x-extra", "e"}},
		{"forbidden", "x-one, content-length", []string{"x-one", "1", "content-length", "5"}},
		{"forbidden, undeclared", "x-one", []string{"x-one", "1", "host", "h"}},
		{"forbidden, declared", "x-one, host", []string{"x-one", "1", "host", "h"}},
		{"forbidden, none declared", "", []string{"host", "h"}},
	} {
		var got [2][]string
		var notes [2][]string
		for i, s := range sides {
			raw := h2RawDial(t, s)
			req := h2RawRequest{method: "POST", path: "/", body: []byte("body"), trailers: tc.trailers}
			if tc.declared != "" {
				req.fields = []string{"trailer", tc.declared}
			}
			got[i] = raw.do(t, req)
			notes[i] = s.waitHandlers(t, 1)
		}
		h2SameFrames(t, tc.name, got, notes)
	}
}

// TestH2Diff_RawRequests: requests Go's client would not send, frame by
// frame: what the handler gets, or how the stream is refused.
func TestH2Diff_RawRequests(t *testing.T) {
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		s.note("%s", h2Describe(r))
		body, err := io.ReadAll(r.Body)
		if err != nil {
			body = nil // what was read before the error depends on timing
		}
		s.note("body=%q err=%v", body, err != nil)
		io.WriteString(w, "ok")
	})
	for _, tc := range []struct {
		name    string
		req     h2RawRequest
		handled bool // the handler is called
	}{
		{"no :authority, Host", h2RawRequest{method: "GET", path: "/", fields: []string{"host", "h.example"}}, true},
		{":authority and Host", h2RawRequest{method: "GET", path: "/", fields: []string{"host", "other.example"}}, true},
		{"cookie crumbs", h2RawRequest{method: "GET", path: "/", fields: []string{"cookie", "a=1", "x-other", "o", "cookie", "b=2", "cookie", "c=3; d=4"}}, true},
		{"one cookie field", h2RawRequest{method: "GET", path: "/", fields: []string{"cookie", "a=1"}}, true},
		{"te: trailers", h2RawRequest{method: "GET", path: "/", fields: []string{"te", "trailers"}}, true},
		{"content-length 0 without body", h2RawRequest{method: "GET", path: "/", fields: []string{"content-length", "0"}}, true},
		{"content-length without body", h2RawRequest{method: "GET", path: "/", fields: []string{"content-length", "5"}}, false},
		{"content-length", h2RawRequest{method: "POST", path: "/", fields: []string{"content-length", "4"}, body: []byte("body")}, true},
		{"content-length twice, same", h2RawRequest{method: "POST", path: "/", fields: []string{"content-length", "4", "content-length", "4"}, body: []byte("body")}, true},
		{"content-length twice, different", h2RawRequest{method: "POST", path: "/", fields: []string{"content-length", "4", "content-length", "5"}, body: []byte("body")}, false},
		{"content-length larger than body", h2RawRequest{method: "POST", path: "/", fields: []string{"content-length", "10"}, body: []byte("body")}, true},
		{"content-length smaller than body", h2RawRequest{method: "POST", path: "/", fields: []string{"content-length", "2"}, body: []byte("body")}, true},
		{"content-length invalid", h2RawRequest{method: "POST", path: "/", fields: []string{"content-length", "abc"}, body: []byte("body")}, true},
		{"content-length invalid, no body", h2RawRequest{method: "GET", path: "/", fields: []string{"content-length", "abc"}}, true},
		{"empty body, open stream", h2RawRequest{method: "POST", path: "/", body: []byte{}}, true},
		{"OPTIONS *", h2RawRequest{method: "OPTIONS", path: "*"}, true},
		{"path without slash", h2RawRequest{method: "GET", path: "x"}, false},
		{"scheme http", h2RawRequest{method: "GET", path: "/s"}, true},
		{"path with fragment-like characters", h2RawRequest{method: "GET", path: "/a?b=%zz#c"}, true},
		{"expect with a body", h2RawRequest{method: "PUT", path: "/", fields: []string{"expect", "100-continue"}, body: []byte("body")}, true},
		{"upper-case field name", h2RawRequest{method: "GET", path: "/", fields: []string{"X-Upper", "u"}}, false},
		{"pseudo-field after regular", h2RawRequest{method: "GET", path: "/", fields: []string{"x-a", "a", ":foo", "f"}}, false},
	} {
		var got [2][]string
		var notes [2][]string
		for i, s := range sides {
			raw := h2RawDial(t, s)
			req := tc.req
			if tc.name == ":authority and Host" {
				req.fields = append(req.fields, "x-note", "authority is localhost")
			}
			got[i] = raw.do(t, req)
			if tc.handled {
				notes[i] = s.waitHandlers(t, 1)
			}
		}
		h2SameFrames(t, tc.name, got, notes)
	}
}

// TestH2Diff_BodyClosedThenData: a handler closes its request body
// while the client is still sending it, then answers: more DATA arriving
// after the close does not reset the stream, the answer is delivered.
func TestH2Diff_BodyClosedThenData(t *testing.T) {
	closed := make(chan struct{}, 1)
	sides := newH2Diff(t, func(s *h2Side, w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1)
		_, err := io.ReadFull(r.Body, b)
		s.note("read %q %v", b, err)
		r.Body.Close()
		closed <- struct{}{}
		if !s.await() {
			s.note("not released")
		}
		io.WriteString(w, "answer")
	})
	var got [2][]string
	for i, s := range sides {
		raw := h2RawDial(t, s)
		id := raw.next
		raw.next += 2
		raw.headers(t, id, false, ":method", "POST", ":scheme", "https", ":authority", "localhost", ":path", "/")
		if err := raw.fr.WriteData(id, false, []byte("a")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-closed:
		case <-time.After(h2DiffGuard):
			t.Fatalf("%s: body never closed", s.name)
		}
		// More body, then a PING: once it is answered, the server has
		// read the DATA frame.
		if err := raw.fr.WriteData(id, false, []byte("more")); err != nil {
			t.Fatal(err)
		}
		raw.fr.WritePing(false, [8]byte{'d', 'i', 'f', 'f'})
		for {
			f, err := raw.fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
				break
			}
			if f, ok := f.(*http2.RSTStreamFrame); ok {
				got[i] = append(got[i], fmt.Sprintf("RST_STREAM %v before the answer", f.ErrCode))
			}
		}
		s.release(t)
		got[i] = append(got[i], raw.read(t, id)...)
		s.waitHandlers(t, 1)
	}
	want := []string{`HEADERS [":status: 200" "content-length: 6" "content-type: text/plain; charset=utf-8" "date: <now>"]`, "DATA 6 bytes END_STREAM"}
	for i, s := range sides {
		if !slices.Equal(got[i], want) {
			t.Errorf("%s: %q, want %q", s.name, got[i], want)
		}
	}
}

// h2DropFields matches, in a line of h2Raw.exchange, the fields net/http
// sends and rampart deliberately does not: the connection-specific ones
// (TestH2Diff_ConnectionSpecificFields), and the empty Content-Length of
// a handler that set it to "" to suppress the automatic one (an invalid
// field, which Go's client drops). Fields are sorted, :status first, so a
// dropped one is never the first.
var h2DropFields = regexp.MustCompile(` "(?:(?:keep-alive|proxy-connection|upgrade|transfer-encoding): [^"]*|content-length: )"`)

// h2Raw is a client connection spoken to frame by frame.
type h2Raw struct {
	c    *tls.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32 // the next stream id
}

func h2RawDial(t *testing.T, s *h2Side) *h2Raw {
	t.Helper()
	cfg := s.tls.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", s.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatal("h2 not negotiated")
	}
	raw := &h2Raw{c: c, fr: http2.NewFramer(c, c), next: 1}
	raw.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	raw.enc = hpack.NewEncoder(&raw.hbuf)
	c.SetDeadline(time.Now().Add(h2DiffGuard)) // guard only
	io.WriteString(c, http2.ClientPreface)
	// A large connection window, so that no response waits for one.
	if err := raw.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := raw.fr.WriteWindowUpdate(0, 16<<20); err != nil {
		t.Fatal(err)
	}
	return raw
}

// h2RawRequest is a request h2Raw.do sends.
type h2RawRequest struct {
	method, path string
	fields       []string // more fields: name, value, name, value...
	body         []byte   // sent in one DATA frame, if not nil
	trailers     []string // sent as a last HEADERS frame: name, value...
}

// exchange sends a request without body on a new stream and returns the
// frames of the response (see do).
func (raw *h2Raw) exchange(t *testing.T, method, path string) []string {
	return raw.do(t, h2RawRequest{method: method, path: path})
}

// headers writes a header block of fields (name, value pairs).
func (raw *h2Raw) headers(t *testing.T, id uint32, end bool, fields ...string) {
	t.Helper()
	raw.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		raw.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := raw.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: raw.hbuf.Bytes(), EndHeaders: true, EndStream: end}); err != nil {
		t.Fatal(err)
	}
}

// do sends req on a new stream and returns the frames of that stream
// until it ends, one line each, header fields sorted, a Date of now
// replaced with "<now>". Frames of the connection are answered as needed
// and left out, but GOAWAY.
func (raw *h2Raw) do(t *testing.T, req h2RawRequest) []string {
	t.Helper()
	id := raw.next
	raw.next += 2
	scheme, authority := "https", "localhost"
	if req.path == "/s" {
		scheme = "http"
	}
	if slices.Contains(req.fields, "host") && !slices.Contains(req.fields, "x-note") {
		authority = "" // the Host field stands for it
	}
	fields := []string{":method", req.method, ":scheme", scheme}
	if authority != "" {
		fields = append(fields, ":authority", authority)
	}
	fields = append(append(fields, ":path", req.path), req.fields...)
	raw.headers(t, id, req.body == nil && req.trailers == nil, fields...)
	if req.body != nil {
		if err := raw.fr.WriteData(id, req.trailers == nil, req.body); err != nil {
			t.Fatal(err)
		}
	}
	if req.trailers != nil {
		raw.headers(t, id, true, req.trailers...)
	}
	return raw.read(t, id)
}

// read returns the frames of stream id until it ends (see do).
func (raw *h2Raw) read(t *testing.T, id uint32) []string {
	t.Helper()
	var frames []string
	data, dataEnd := -1, false
	flushData := func() {
		if data >= 0 {
			end := ""
			if dataEnd {
				end = " END_STREAM"
			}
			frames = append(frames, fmt.Sprintf("DATA %d bytes%s", data, end))
			data = -1
		}
	}
	for {
		f, err := raw.fr.ReadFrame()
		if err != nil {
			flushData()
			return append(frames, "read: "+err.Error())
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				raw.fr.WriteSettingsAck()
			}
			continue
		case *http2.PingFrame:
			if !f.IsAck() {
				raw.fr.WritePing(true, f.Data)
			}
			continue
		case *http2.GoAwayFrame:
			flushData()
			frames = append(frames, fmt.Sprintf("GOAWAY %v", f.ErrCode))
			continue
		}
		if f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			data = max(data, 0) + len(f.Data())
			dataEnd = f.StreamEnded()
			if len(f.Data()) > 0 {
				raw.fr.WriteWindowUpdate(id, uint32(len(f.Data())))
			}
			if f.StreamEnded() {
				flushData()
				return frames
			}
		case *http2.MetaHeadersFrame:
			flushData()
			var fields []string
			for _, hf := range f.Fields {
				v := hf.Value
				if hf.Name == "date" {
					if tm, err := http.ParseTime(v); err == nil && time.Since(tm).Abs() < time.Hour {
						v = "<now>"
					}
				}
				fields = append(fields, hf.Name+": "+v)
			}
			slices.Sort(fields)
			end := ""
			if f.StreamEnded() {
				end = " END_STREAM"
			}
			frames = append(frames, fmt.Sprintf("HEADERS %q%s", fields, end))
			if f.StreamEnded() {
				return frames
			}
		case *http2.RSTStreamFrame:
			flushData()
			return append(frames, fmt.Sprintf("RST_STREAM %v", f.ErrCode))
		case *http2.WindowUpdateFrame:
		default:
			flushData()
			frames = append(frames, fmt.Sprintf("%v", f))
		}
	}
}
