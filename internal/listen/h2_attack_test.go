package listen

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rampart-dev/rampart/seclog"
)

// Attacks on rampart's HTTP/2 server (h2.go), one for each defence the
// comment at the top of h2.go lists, each over a raw framer and asserting
// that the defence holds. The deadlines in these tests are guards against
// hangs only: no assertion depends on timing. Where a test needs to know
// that the server has read everything sent so far, it sends a PING and
// waits for its acknowledgement (the server answers frames in order).

// atkGuard bounds every wait of these tests.
const atkGuard = 10 * time.Second

// atkFrame is what the test keeps of a frame the server sent (a Framer's
// frames are only valid until its next read).
type atkFrame struct {
	typ    http2.FrameType
	stream uint32
	flags  http2.Flags
	code   http2.ErrCode       // RST_STREAM, GOAWAY
	last   uint32              // GOAWAY
	fields []hpack.HeaderField // HEADERS
	data   []byte              // DATA, PING
}

func (f atkFrame) String() string {
	switch f.typ {
	case http2.FrameRSTStream:
		return fmt.Sprintf("RST_STREAM(%d, %v)", f.stream, f.code)
	case http2.FrameGoAway:
		return fmt.Sprintf("GOAWAY(last %d, %v)", f.last, f.code)
	}
	return fmt.Sprintf("%v(%d, flags %#x, %d bytes)", f.typ, f.stream, f.flags, len(f.data))
}

func (f atkFrame) is(typ http2.FrameType, stream uint32) bool {
	return f.typ == typ && f.stream == stream
}

// atkPeer is an attacking client: h2Dial's framer, whose frames a
// goroutine reads and keeps.
type atkPeer struct {
	*h2Client
	t      *testing.T
	notify chan struct{}

	mu     sync.Mutex
	frames []atkFrame
	ended  bool // the connection's read failed: closed
	err    error
}

// atkDial dials addr with h2Dial (preface and settings sent) and starts
// reading the server's frames. With ack, the server's SETTINGS and PINGs
// are acknowledged as they are read, before they are recorded.
func atkDial(t *testing.T, addr string, client *tls.Config, ack bool, settings ...http2.Setting) *atkPeer {
	t.Helper()
	return atkAttach(t, h2Dial(t, addr, client, settings...), ack)
}

func atkAttach(t *testing.T, fr *h2Client, ack bool) *atkPeer {
	p := &atkPeer{h2Client: fr, t: t, notify: make(chan struct{}, 1)}
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	go p.read(ack)
	return p
}

func (p *atkPeer) read(ack bool) {
	for {
		f, err := p.ReadFrame()
		if err != nil {
			p.mu.Lock()
			p.ended, p.err = true, err
			p.mu.Unlock()
			p.poke()
			return
		}
		h := f.Header()
		rec := atkFrame{typ: h.Type, stream: h.StreamID, flags: h.Flags}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if ack && !f.IsAck() {
				p.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			rec.data = bytes.Clone(f.Data[:])
			if ack && !f.IsAck() {
				p.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			rec.fields = f.Fields
		case *http2.DataFrame:
			rec.data = bytes.Clone(f.Data())
		case *http2.RSTStreamFrame:
			rec.code = f.ErrCode
		case *http2.GoAwayFrame:
			rec.code, rec.last = f.ErrCode, f.LastStreamID
		}
		p.mu.Lock()
		p.frames = append(p.frames, rec)
		p.mu.Unlock()
		p.poke()
	}
}

func (p *atkPeer) poke() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// await returns the first frame the server sent that matches pred, waiting
// for it; ok is false when the connection ended without one.
func (p *atkPeer) await(what string, pred func(atkFrame) bool) (f atkFrame, ok bool) {
	p.t.Helper()
	guard := time.NewTimer(atkGuard)
	defer guard.Stop()
	for {
		p.mu.Lock()
		for _, f := range p.frames {
			if pred(f) {
				p.mu.Unlock()
				return f, true
			}
		}
		ended := p.ended
		p.mu.Unlock()
		if ended {
			return atkFrame{}, false
		}
		select {
		case <-p.notify:
		case <-guard.C:
			p.t.Fatalf("waited %v for %s; the server sent %v", atkGuard, what, p.all())
		}
	}
}

// wait is await, failing the test when the connection ended first.
func (p *atkPeer) wait(what string, pred func(atkFrame) bool) atkFrame {
	p.t.Helper()
	f, ok := p.await(what, pred)
	if !ok {
		p.t.Fatalf("connection ended (%v) without %s; the server sent %v", p.err, what, p.all())
	}
	return f
}

func (p *atkPeer) all() []atkFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]atkFrame(nil), p.frames...)
}

func (p *atkPeer) count(pred func(atkFrame) bool) int {
	n := 0
	for _, f := range p.all() {
		if pred(f) {
			n++
		}
	}
	return n
}

// waitEnded waits for the server to close the connection.
func (p *atkPeer) waitEnded() {
	p.t.Helper()
	p.await("the end of the connection", func(atkFrame) bool { return false })
}

var atkPings atomic.Uint64

// ping sends a PING and waits for its acknowledgement: the server has
// then read and answered everything sent before it. It returns false when
// the connection ended first.
func (p *atkPeer) ping() bool {
	p.t.Helper()
	var data [8]byte
	copy(data[:], fmt.Sprint(atkPings.Add(1)))
	p.write(func(fr *http2.Framer) error { return fr.WritePing(false, data) }) // may fail: the server closed
	_, ok := p.await("a PING acknowledgement", func(f atkFrame) bool {
		return f.typ == http2.FramePing && f.flags.Has(http2.FlagPingAck) && bytes.Equal(f.data, data[:])
	})
	return ok
}

// alive asserts that the connection still serves: a PING is answered.
func (p *atkPeer) alive() {
	p.t.Helper()
	if !p.ping() {
		p.t.Fatalf("connection ended (%v); the server sent %v", p.err, p.all())
	}
}

// expectGoAway asserts that the server sent GOAWAY with code and closed
// the connection, without answering a PING sent after the attack.
func (p *atkPeer) expectGoAway(code http2.ErrCode) atkFrame {
	p.t.Helper()
	if p.ping() {
		p.t.Fatalf("the server answered a PING sent after the attack, want GOAWAY %v and the connection closed; it sent %v", code, p.all())
	}
	for _, f := range p.all() {
		if f.typ == http2.FrameGoAway {
			if f.code != code {
				p.t.Fatalf("GOAWAY %v, want %v", f.code, code)
			}
			return f
		}
	}
	p.t.Fatalf("connection ended (%v) without GOAWAY %v; the server sent %v", p.err, code, p.all())
	return atkFrame{}
}

// expectRST waits for a RST_STREAM on stream id and asserts its code; the
// connection must still serve.
func (p *atkPeer) expectRST(id uint32, code http2.ErrCode) {
	p.t.Helper()
	f := p.wait(fmt.Sprintf("RST_STREAM on stream %d", id), func(f atkFrame) bool { return f.is(http2.FrameRSTStream, id) })
	if f.code != code {
		p.t.Fatalf("stream %d reset with %v, want %v", id, f.code, code)
	}
	p.alive()
}

// response waits for the end of stream id's response (or its reset) and
// returns its :status, fields and body; status is "" if it was reset.
func (p *atkPeer) response(id uint32) (status string, h http.Header, body string) {
	p.t.Helper()
	p.wait(fmt.Sprintf("the end of stream %d", id), func(f atkFrame) bool {
		return f.stream == id && (f.typ == http2.FrameRSTStream ||
			(f.typ == http2.FrameHeaders || f.typ == http2.FrameData) && f.flags.Has(http2.FlagDataEndStream))
	})
	h = make(http.Header)
	var b strings.Builder
	for _, f := range p.all() {
		if f.stream != id {
			continue
		}
		switch f.typ {
		case http2.FrameRSTStream:
			return "", h, b.String() // reset before its end
		case http2.FrameHeaders:
			for _, hf := range f.fields {
				if hf.Name == ":status" {
					status = hf.Value
				} else {
					h.Add(hf.Name, hf.Value)
				}
			}
		case http2.FrameData:
			b.Write(f.data)
		}
		if f.flags.Has(http2.FlagDataEndStream) {
			break // a reset after the end does not take the answer back
		}
	}
	return status, h, b.String()
}

// headers sends a HEADERS frame with exactly fields (names and values) on
// stream id; the error is the write's (the server may have closed).
func (p *atkPeer) headers(id uint32, end bool, fields ...string) error {
	block := atkBlock(fields...)
	return p.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: end})
	})
}

// atkBlock is an HPACK block of fields, names and values, none indexed.
func atkBlock(fields ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1], Sensitive: true})
	}
	return b.Bytes()
}

// atkGET are a GET's pseudo-header fields.
var atkGET = []string{":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", "/"}

func atkFields(base []string, extra ...string) []string {
	return append(append([]string(nil), base...), extra...)
}

// atkTLS completes a TLS handshake offering only h2 and sends nothing.
func atkTLS(t *testing.T, addr string, client *tls.Config) *tls.Conn {
	t.Helper()
	client = client.Clone()
	client.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	return c
}

// atkHandlers counts the handler's calls and how many ran at once; the
// handler blocks until the test ends (release, a cleanup registered after
// the server's, runs before the server stops) or, with ctxEnds, until its
// request's context ends.
type atkHandlers struct {
	calls, cur, peak atomic.Int32
	release          chan struct{}
	ctxEnds          bool
}

func newAtkHandlers(ctxEnds bool) *atkHandlers {
	return &atkHandlers{release: make(chan struct{}), ctxEnds: ctxEnds}
}

func (a *atkHandlers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	n := a.cur.Add(1)
	defer a.cur.Add(-1)
	for {
		p := a.peak.Load()
		if n <= p || a.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if a.ctxEnds {
		select {
		case <-a.release:
		case <-r.Context().Done():
		}
		return
	}
	<-a.release
}

// start serves a with o on a new server; the handlers are released when
// the test ends, before the server stops.
func (a *atkHandlers) start(t *testing.T, o Options) (string, *tls.Config) {
	addr, client, _ := atkStart(t, a, o)
	t.Cleanup(func() { close(a.release) })
	return addr, client
}

// atkStart serves h with o on a new server, as startServer does; its
// security events go nowhere unless o says where.
func atkStart(t *testing.T, h http.Handler, o Options) (addr string, client *tls.Config, stop func() error) {
	t.Helper()
	cfg, client := dualCertConfig(t)
	if o.SecurityLog == nil {
		o.SecurityLog = seclog.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	addr, stop = startServer(t, h, cfg, o)
	return addr, client, stop
}

// atkRejected is a Rejected handler that marks its responses.
var atkRejected = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	rej, _ := RejectionFromContext(r.Context())
	w.Header().Set("X-Atk-Rejected", rej.Reason)
	w.WriteHeader(rej.Status)
})

// atkLog is a security log writing JSON lines to a buffer.
type atkLog struct {
	w   syncWriter
	buf bytes.Buffer
}

func newAtkLog() (*atkLog, *seclog.Logger) {
	l := &atkLog{}
	l.w.w = &l.buf
	return l, seclog.New(slog.New(slog.NewJSONHandler(&l.w, nil)))
}

// events returns the records logged so far.
func (l *atkLog) events(t *testing.T) []map[string]any {
	l.w.mu.Lock()
	text := l.buf.String()
	l.w.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// 1. Rapid reset (CVE-2023-44487): a client opens streams and resets each
// at once, so that they never count as open. The handlers of the reset
// streams go on running (these ones never notice), and must still count:
// no more than MaxConcurrentStreams run at once, the streams beyond are
// refused, and a client that keeps going is sent GOAWAY ENHANCE_YOUR_CALM.
func TestH2Attack_RapidReset(t *testing.T) {
	a := newAtkHandlers(false)
	addr, client := a.start(t, Options{})
	p := atkDial(t, addr, client, true)
	const streams = DefaultMaxConcurrentStreams + h2MaxRefused + 50
	for i := uint32(0); i < streams; i++ {
		id := 2*i + 1
		err := p.write(func(fr *http2.Framer) error {
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: atkBlock(atkGET...), EndHeaders: true, EndStream: true}); err != nil {
				return err
			}
			return fr.WriteRSTStream(id, http2.ErrCodeCancel)
		})
		if err != nil {
			break // the server closed the connection
		}
	}
	p.expectGoAway(http2.ErrCodeEnhanceYourCalm)
	if n := a.peak.Load(); n > DefaultMaxConcurrentStreams {
		t.Errorf("%d handlers ran at once, want at most %d", n, DefaultMaxConcurrentStreams)
	}
	if n := a.calls.Load(); n > DefaultMaxConcurrentStreams {
		t.Errorf("%d handlers called, want at most %d (none has returned)", n, DefaultMaxConcurrentStreams)
	}
	refused := p.count(func(f atkFrame) bool { return f.typ == http2.FrameRSTStream && f.code == http2.ErrCodeRefusedStream })
	if refused != h2MaxRefused {
		t.Errorf("%d streams refused before GOAWAY, want %d", refused, h2MaxRefused)
	}
	for _, f := range p.all() {
		if f.typ == http2.FrameRSTStream && f.code == http2.ErrCodeRefusedStream && f.stream <= 2*DefaultMaxConcurrentStreams {
			t.Errorf("stream %d refused while fewer than %d handlers ran", f.stream, DefaultMaxConcurrentStreams)
		}
	}
}

// 2. A client that acknowledged the server's SETTINGS and opens more than
// SETTINGS_MAX_CONCURRENT_STREAMS streams gets a PROTOCOL_ERROR stream
// error for the one over, and its handler does not run.
func TestH2Attack_OverMaxConcurrentStreams(t *testing.T) {
	a := newAtkHandlers(false)
	addr, client := a.start(t, Options{})
	p := atkDial(t, addr, client, true)
	// The acknowledgement is written before the frame is recorded.
	p.wait("the server's SETTINGS", func(f atkFrame) bool {
		return f.typ == http2.FrameSettings && !f.flags.Has(http2.FlagSettingsAck)
	})
	for i := uint32(0); i < DefaultMaxConcurrentStreams; i++ {
		if err := p.headers(2*i+1, true, atkGET...); err != nil {
			t.Fatal(err)
		}
	}
	p.alive()
	if n := p.count(func(f atkFrame) bool { return f.typ == http2.FrameRSTStream }); n != 0 {
		t.Fatalf("streams within the limit reset: %v", p.all())
	}
	over := uint32(2*DefaultMaxConcurrentStreams + 1)
	if err := p.headers(over, true, atkGET...); err != nil {
		t.Fatal(err)
	}
	p.expectRST(over, http2.ErrCodeProtocol)
	if n := a.peak.Load(); n > DefaultMaxConcurrentStreams {
		t.Errorf("%d handlers ran at once, want at most %d", n, DefaultMaxConcurrentStreams)
	}
}

// 3. Empty DATA frames (CVE-2019-9518) cost the server a frame each and
// the client nothing: past h2MaxEmptyData on a connection, GOAWAY
// ENHANCE_YOUR_CALM.
func TestH2Attack_EmptyDataFlood(t *testing.T) {
	a := newAtkHandlers(false)
	addr, client := a.start(t, Options{})
	p := atkDial(t, addr, client, true)
	h2Request(t, p.h2Client, 1, false)
	empty := func(n int) {
		for i := 0; i < n; i++ {
			if p.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, nil) }) != nil {
				return
			}
		}
	}
	empty(h2MaxEmptyData)
	p.alive() // up to the limit: tolerated
	empty(1)
	p.expectGoAway(http2.ErrCodeEnhanceYourCalm)
}

// 4. CONTINUATION flood (CVE-2024-27316 and its kin): a HEADERS frame
// without END_HEADERS, then CONTINUATION frames without end. The server
// must close the connection (GOAWAY) before it has read a few times
// MaxHeaderBytes: the attack ends the header block after 4 × MaxHeaderBytes
// of frames, so a server that read on to there answers the request instead
// of the GOAWAY. Neither the handler nor Rejected may be called. The
// fragments are header fields (over the header-list limit), empty (no
// size at all) or HPACK dynamic-table size updates (which add nothing to
// the header list).
func TestH2Attack_ContinuationFlood(t *testing.T) {
	for _, tc := range []struct {
		name string
		frag func(i int) []byte
		code http2.ErrCode
	}{
		// Cut by the Framer, at the first fragment past the header-list
		// limit.
		{"fields", func(i int) []byte { return atkBlock(fmt.Sprintf("x-flood-%d", i), strings.Repeat("a", 1000)) }, http2.ErrCodeProtocol},
		// Cut by h2FrameReader, at twice MaxHeaderBytes and 32 KiB.
		{"empty", func(int) []byte { return nil }, http2.ErrCodeEnhanceYourCalm},
		{"table size updates", func(int) []byte { return bytes.Repeat([]byte{0x20}, 16<<10) }, http2.ErrCodeEnhanceYourCalm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var called atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
			rejected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
			addr, client, _ := atkStart(t, h, Options{Rejected: rejected})
			p := atkDial(t, addr, client, true)
			// Nothing may come between the frames of a header block: the
			// server's SETTINGS is acknowledged (before it is recorded)
			// first.
			p.wait("the server's SETTINGS", func(f atkFrame) bool {
				return f.typ == http2.FrameSettings && !f.flags.Has(http2.FlagSettingsAck)
			})
			// A table size update to 0 first: the dynamic table is empty,
			// so that later updates are allowed anywhere in the block.
			first := append([]byte{0x20}, atkBlock(atkGET...)...)
			p.write(func(fr *http2.Framer) error {
				return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true})
			})
			sent := len(first) + 9
			for i := 0; sent < 4*DefaultMaxHeaderBytes; i++ {
				frag := tc.frag(i)
				if p.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, frag) }) != nil {
					break
				}
				sent += len(frag) + 9
			}
			p.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, true, nil) })
			p.expectGoAway(tc.code)
			if p.count(func(f atkFrame) bool { return f.typ == http2.FrameHeaders }) > 0 {
				t.Errorf("the flooded request was answered: %v", p.all())
			}
			if n := called.Load(); n != 0 {
				t.Errorf("handler or Rejected called %d times", n)
			}
		})
	}
}

// 5. A header list over listen.max_header_bytes, in one frame (not a
// flood): 431, answered by Options.Rejected, never the handler, and a
// security event with the client's address.
func TestH2Attack_HeaderListTooLarge(t *testing.T) {
	var called atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
	log, sec := newAtkLog()
	addr, client, _ := atkStart(t, h, Options{MaxHeaderBytes: MinMaxHeaderBytes, Rejected: atkRejected, SecurityLog: sec})
	p := atkDial(t, addr, client, true)
	fields := atkFields(atkGET)
	for i := 0; i < 6; i++ {
		fields = append(fields, fmt.Sprintf("x-big-%d", i), strings.Repeat("b", 1000))
	}
	if err := p.headers(1, true, fields...); err != nil {
		t.Fatal(err)
	}
	status, hdr, _ := p.response(1)
	if status != "431" {
		t.Fatalf("status %q, want 431; the server sent %v", status, p.all())
	}
	if hdr.Get("X-Atk-Rejected") == "" {
		t.Errorf("431 not written by Options.Rejected: %v", hdr)
	}
	if n := called.Load(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
	found := false
	for _, e := range log.events(t) {
		if e["h2_error"] == "stream_rejected_431" {
			found = true
			if e["source.ip"] != "127.0.0.1" {
				t.Errorf("event without the client's address: %v", e)
			}
			if e["event.action"] != seclog.InputValidationFail {
				t.Errorf("event %v, want %s", e["event.action"], seclog.InputValidationFail)
			}
		}
	}
	if !found {
		t.Errorf("no security event for the 431; logged %v", log.events(t))
	}
}

// 6. Malformed requests: reset (PROTOCOL_ERROR) without calling the
// handler, or answered 400 by Options.Rejected; a body that contradicts
// its Content-Length fails the handler's read.
func TestH2Attack_MalformedRequests(t *testing.T) {
	post := []string{":method", "POST", ":scheme", "https", ":authority", "localhost", ":path", "/"}
	for _, tc := range []struct {
		name   string
		fields []string
		status string // "": reset with PROTOCOL_ERROR
	}{
		{"missing :path", []string{":method", "GET", ":scheme", "https", ":authority", "localhost"}, ""},
		{"scheme ftp", []string{":method", "GET", ":scheme", "ftp", ":authority", "localhost", ":path", "/"}, ""},
		{":protocol", atkFields(atkGET, ":protocol", "websocket"), ""},
		{"CONNECT with :protocol", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", "/"}, ""},
		{"uppercase field name", atkFields(atkGET, "X-Upper", "1"), ""},
		{"userinfo in :authority", []string{":method", "GET", ":scheme", "https", ":authority", "user:pw@localhost", ":path", "/"}, ""},
		{"path not absolute", []string{":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", "x"}, ""},
		{"pseudo-header after a field", []string{":method", "GET", ":scheme", "https", ":authority", "localhost", "x-a", "1", ":path", "/"}, ""},
		{"two content-lengths", atkFields(post, "content-length", "1", "content-length", "2"), ""},
		{"connection: keep-alive", atkFields(atkGET, "connection", "keep-alive"), "400"},
		{"transfer-encoding", atkFields(atkGET, "transfer-encoding", "chunked"), "400"},
		{"upgrade", atkFields(atkGET, "upgrade", "websocket"), "400"},
		{"te: gzip", atkFields(atkGET, "te", "gzip"), "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var called atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
			addr, client, _ := atkStart(t, h, Options{Rejected: atkRejected})
			p := atkDial(t, addr, client, true)
			end := !strings.Contains(tc.name, "content-length")
			if err := p.headers(1, end, tc.fields...); err != nil {
				t.Fatal(err)
			}
			if tc.status == "" {
				p.expectRST(1, http2.ErrCodeProtocol)
			} else {
				status, hdr, _ := p.response(1)
				if status != tc.status || hdr.Get("X-Atk-Rejected") == "" {
					t.Fatalf("status %q (%v), want %s from Options.Rejected", status, hdr, tc.status)
				}
				// Answered, then reset as malformed (RFC 9113, 8.1.1).
				p.expectRST(1, http2.ErrCodeProtocol)
				p.alive()
			}
			if n := called.Load(); n != 0 {
				t.Errorf("handler called %d times", n)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		body  string
		reset bool
	}{{"body longer than content-length", "abcdef", true}, {"body shorter than content-length", "ab", false}} {
		t.Run(tc.name, func(t *testing.T) {
			readErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := io.ReadAll(r.Body)
				readErr <- err
			})
			addr, client, _ := atkStart(t, h, Options{})
			p := atkDial(t, addr, client, true)
			if err := p.headers(1, false, atkFields(post, "content-length", "3")...); err != nil {
				t.Fatal(err)
			}
			p.write(func(fr *http2.Framer) error { return fr.WriteData(1, true, []byte(tc.body)) })
			if tc.reset {
				p.expectRST(1, http2.ErrCodeProtocol)
			}
			select {
			case err := <-readErr:
				if err == nil {
					t.Fatal("the handler read a body that contradicts its Content-Length without an error")
				}
			case <-time.After(atkGuard): // guard only
				t.Fatal("the handler's read never ended")
			}
			p.alive()
		})
	}
}

// 7. Flow-control violations: DATA over a stream's window resets the
// stream, over the connection's window ends the connection; a
// WINDOW_UPDATE that takes a window over 2^31-1 does the same.
func TestH2Attack_FlowControl(t *testing.T) {
	const frame = 16 << 10
	// fill sends n bytes of DATA on stream id, in frames of the largest
	// size the server reads.
	fill := func(p *atkPeer, id uint32, n int) {
		buf := make([]byte, frame)
		for ; n > 0; n -= frame {
			if p.write(func(fr *http2.Framer) error { return fr.WriteData(id, false, buf[:min(n, frame)]) }) != nil {
				return
			}
		}
	}
	t.Run("DATA over the stream window", func(t *testing.T) {
		a := newAtkHandlers(false) // never reads the body
		addr, client := a.start(t, Options{})
		p := atkDial(t, addr, client, true)
		h2Request(t, p.h2Client, 1, false)
		fill(p, 1, h2StreamWindow)
		p.alive()
		if n := p.count(func(f atkFrame) bool { return f.typ == http2.FrameRSTStream }); n != 0 {
			t.Fatalf("stream reset within its window: %v", p.all())
		}
		fill(p, 1, 1)
		p.expectRST(1, http2.ErrCodeFlowControl)
	})
	t.Run("DATA over the connection window", func(t *testing.T) {
		a := newAtkHandlers(false)
		addr, client := a.start(t, Options{})
		p := atkDial(t, addr, client, true)
		id := uint32(1)
		for sent := 0; sent < h2ConnWindow; sent += h2StreamWindow {
			h2Request(t, p.h2Client, id, false)
			fill(p, id, h2StreamWindow)
			id += 2
		}
		p.alive()
		h2Request(t, p.h2Client, id, false)
		fill(p, id, 1)
		p.expectGoAway(http2.ErrCodeFlowControl)
	})
	t.Run("WINDOW_UPDATE overflow on the connection", func(t *testing.T) {
		addr, client, _ := atkStart(t, okHandler(), Options{})
		p := atkDial(t, addr, client, true)
		p.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<31-1) })
		p.expectGoAway(http2.ErrCodeFlowControl)
	})
	t.Run("WINDOW_UPDATE overflow on a stream", func(t *testing.T) {
		a := newAtkHandlers(true)
		addr, client := a.start(t, Options{})
		p := atkDial(t, addr, client, true)
		h2Request(t, p.h2Client, 1, true)
		p.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(1, 1<<31-1) })
		p.expectRST(1, http2.ErrCodeFlowControl)
	})
}

// 8. Frames the protocol's state forbids: GOAWAY with the right code, and
// the connection closes.
func TestH2Attack_ProtocolState(t *testing.T) {
	for _, tc := range []struct {
		name   string
		attack func(p *atkPeer) error
		code   http2.ErrCode
	}{
		{"stream id going down", func(p *atkPeer) error {
			if err := p.headers(5, true, atkGET...); err != nil {
				return err
			}
			return p.headers(3, true, atkGET...)
		}, http2.ErrCodeProtocol},
		{"even stream id", func(p *atkPeer) error { return p.headers(2, true, atkGET...) }, http2.ErrCodeProtocol},
		{"DATA on an idle stream", func(p *atkPeer) error {
			return p.write(func(fr *http2.Framer) error { return fr.WriteData(1, true, []byte("x")) })
		}, http2.ErrCodeProtocol},
		{"RST_STREAM on an idle stream", func(p *atkPeer) error {
			return p.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(1, http2.ErrCodeCancel) })
		}, http2.ErrCodeProtocol},
		{"WINDOW_UPDATE on an idle stream", func(p *atkPeer) error {
			return p.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(1, 1) })
		}, http2.ErrCodeProtocol},
		{"unsolicited SETTINGS ACK", func(p *atkPeer) error {
			// Once for the server's SETTINGS, once for nothing.
			return p.write(func(fr *http2.Framer) error {
				if err := fr.WriteSettingsAck(); err != nil {
					return err
				}
				return fr.WriteSettingsAck()
			})
		}, http2.ErrCodeProtocol},
		{"PUSH_PROMISE from the client", func(p *atkPeer) error {
			if err := p.headers(1, false, atkFields(atkGET, "content-length", "1")...); err != nil {
				return err
			}
			return p.write(func(fr *http2.Framer) error {
				return fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: atkBlock(atkGET...), EndHeaders: true})
			})
		}, http2.ErrCodeProtocol},
		{"PING on a stream", func(p *atkPeer) error {
			return p.write(func(fr *http2.Framer) error { return fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) })
		}, http2.ErrCodeProtocol},
		{"SETTINGS on a stream", func(p *atkPeer) error {
			return p.write(func(fr *http2.Framer) error { return fr.WriteRawFrame(http2.FrameSettings, 0, 1, nil) })
		}, http2.ErrCodeProtocol},
		{"CONTINUATION without HEADERS", func(p *atkPeer) error {
			return p.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, true, atkBlock(atkGET...)) })
		}, http2.ErrCodeProtocol},
		{"frame over the maximum size", func(p *atkPeer) error {
			if err := p.headers(1, false, atkFields(atkGET, "content-length", "100000")...); err != nil {
				return err
			}
			return p.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, make([]byte, 16<<10+1)) })
		}, http2.ErrCodeFrameSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAtkHandlers(true)
			addr, client := a.start(t, Options{})
			// Without acknowledgements: the test sends them itself.
			p := atkDial(t, addr, client, tc.name != "unsolicited SETTINGS ACK")
			if err := tc.attack(p); err != nil {
				t.Fatal(err)
			}
			p.expectGoAway(tc.code)
		})
	}
	t.Run("first frame not SETTINGS", func(t *testing.T) {
		addr, client, _ := atkStart(t, okHandler(), Options{})
		c := atkTLS(t, addr, client)
		io.WriteString(c, http2.ClientPreface)
		// No acknowledgement of the server's SETTINGS: the PING
		// expectGoAway sends is the first frame.
		p := atkAttach(t, &h2Client{Framer: http2.NewFramer(c, c)}, false)
		p.expectGoAway(http2.ErrCodeProtocol)
	})
}

// 9. A client that grants no flow-control window (INITIAL_WINDOW_SIZE 0)
// for a large response, and keeps the connection alive: the stalled
// stream is reset after WriteTimeout, the handler's write fails, and the
// connection goes on.
func TestH2Attack_ZeroWindowStall(t *testing.T) {
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for i := 0; i < 1000; i++ { // 64 MB
			if _, err := w.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	addr, client, _ := atkStart(t, h, Options{WriteTimeout: 200 * time.Millisecond})
	p := atkDial(t, addr, client, true, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	h2Request(t, p.h2Client, 1, true)
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("64 MB written to a stream with no flow-control window")
		}
	case <-time.After(atkGuard): // guard only
		t.Fatal("the handler's write to a stream without window never failed")
	}
	f := p.wait("RST_STREAM on stream 1", func(f atkFrame) bool { return f.is(http2.FrameRSTStream, 1) })
	if f.code == http2.ErrCodeNo {
		t.Errorf("stalled stream reset with %v", f.code)
	}
	if n := p.count(func(f atkFrame) bool { return f.typ == http2.FrameData && len(f.data) > 0 }); n != 0 {
		t.Errorf("%d DATA frames sent without window", n)
	}
	p.alive()
}

// 10. A PING flood from a client that reads nothing: each answer is
// written as its PING is read, with no queue, so once the socket's buffers
// are full the server stops reading, and the write timeout cuts the
// connection; its memory cannot grow with the flood.
func TestH2Attack_PingFloodNotRead(t *testing.T) {
	addr, client, _ := atkStart(t, okHandler(), Options{WriteTimeout: 200 * time.Millisecond})
	c := atkTLS(t, addr, client)
	bw := bufio.NewWriterSize(c, 64<<10)
	fr := http2.NewFramer(bw, nil)
	io.WriteString(bw, http2.ClientPreface)
	fr.WriteSettings()
	done := make(chan error, 1)
	go func() {
		var data [8]byte
		for {
			for i := 0; i < 1000; i++ {
				fr.WritePing(false, data)
			}
			if err := bw.Flush(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-done: // the server closed the connection
	case <-time.After(atkGuard): // guard only
		c.Close()
		<-done
		t.Fatal("a client flooding PINGs without reading the answers is still connected")
	}
}

// 11. The timeouts and the graceful shutdown.
func TestH2Attack_IdleTimeout(t *testing.T) {
	addr, client, _ := atkStart(t, okHandler(), Options{IdleTimeout: 200 * time.Millisecond})
	p := atkDial(t, addr, client, true)
	h2Request(t, p.h2Client, 1, true)
	if status, _, body := p.response(1); status != "200" || body != "ok" {
		t.Fatalf("response %q %q", status, body)
	}
	g := p.wait("GOAWAY", func(f atkFrame) bool { return f.typ == http2.FrameGoAway })
	if g.code != http2.ErrCodeNo || g.last != 1 {
		t.Errorf("idle connection sent %v, want GOAWAY(last 1, NO_ERROR)", g)
	}
	p.waitEnded()
}

func TestH2Attack_PrefaceTimeout(t *testing.T) {
	for _, tc := range []struct{ name, sent string }{{"nothing", ""}, {"half a preface", http2.ClientPreface[:10]}} {
		t.Run(tc.name, func(t *testing.T) {
			addr, client, _ := atkStart(t, okHandler(), Options{ReadHeaderTimeout: 200 * time.Millisecond})
			c := atkTLS(t, addr, client)
			io.WriteString(c, tc.sent)
			c.SetReadDeadline(time.Now().Add(atkGuard)) // guard only
			_, err := io.Copy(io.Discard, c)
			if err != nil && strings.Contains(err.Error(), "timeout") {
				t.Fatalf("a client that sent %q is still connected", tc.sent)
			}
		})
	}
}

// A graceful shutdown: the request in flight finishes and its response
// arrives, the client gets GOAWAY, a stream opened after it is not served,
// and the connection then closes.
func TestH2Attack_GracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	finish := make(chan struct{})
	var late atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			late.Add(1)
			return
		}
		close(started)
		<-finish
		io.WriteString(w, "done")
	})
	addr, client, stop := atkStart(t, h, Options{})
	t.Cleanup(func() {
		select {
		case <-finish:
		default:
			close(finish)
		}
	})
	p := atkDial(t, addr, client, true)
	h2Request(t, p.h2Client, 1, true)
	select {
	case <-started:
	case <-time.After(atkGuard): // guard only
		t.Fatal("handler not called")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	g := p.wait("GOAWAY", func(f atkFrame) bool { return f.typ == http2.FrameGoAway })
	if g.code != http2.ErrCodeNo || g.last != 1 {
		t.Errorf("shutdown sent %v, want GOAWAY(last 1, NO_ERROR)", g)
	}
	if err := p.headers(3, true, ":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", "/late"); err != nil {
		t.Fatal(err)
	}
	p.alive() // the server read stream 3
	close(finish)
	if status, _, body := p.response(1); status != "200" || body != "done" {
		t.Errorf("in-flight response %q %q, want 200 done", status, body)
	}
	p.waitEnded()
	if n := late.Load(); n != 0 {
		t.Errorf("stream opened after GOAWAY served %d times", n)
	}
	if n := p.count(func(f atkFrame) bool { return f.stream == 3 }); n != 0 {
		t.Errorf("the server answered stream 3, opened after GOAWAY: %v", p.all())
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(atkGuard): // guard only
		t.Fatal("Run did not return after the last stream")
	}
}

// The handlers' header maps are pooled. A map a handler keeps after it
// returned is not the next response's: Header called late gives a map of
// its own, and nothing a handler set reaches a later response.
func TestH2_LateHeaderDoesNotReachTheNextResponse(t *testing.T) {
	var kept http.ResponseWriter
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/first":
			kept = w
			w.Header().Set("X-First", "1")
			io.WriteString(w, "first")
		default:
			kept.Header().Set("X-Leaked", "1")
			w.Header().Set("X-Next", "1")
			io.WriteString(w, "next")
		}
	})
	cert := newTestCert(t, false)
	addr, _ := startServer(t, h, &tls.Config{Certificates: []tls.Certificate{cert.tls}, NextProtos: []string{"h2", "http/1.1"}}, Options{})
	var protos http.Protocols
	protos.SetHTTP2(true)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootsOf(cert), ServerName: "localhost"}, Protocols: &protos}}
	for i, path := range []string{"/first", "/second", "/third"} {
		res, err := c.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Fatalf("%s", res.Proto)
		}
		if i > 0 && (res.Header.Get("X-Leaked") != "" || res.Header.Get("X-First") != "") {
			t.Fatalf("%s: another response's field: %v", path, res.Header)
		}
	}
}
