package listen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rampart's own HTTP/2 server (RFC 9113).
//
// net/http's HTTP/2 server passes every frame through one goroutine per
// connection: a handler's response header block and each flush is a
// message to it, and it writes each HEADERS frame and each flush from a
// goroutine started for that write (bench/README.md: 44% of the gateway's
// CPU over HTTP/2). Here the connection's goroutine only reads: it
// decodes frames with golang.org/x/net/http2's Framer (which also decodes
// the header blocks with its hpack package, enforces the header-list
// limit and refuses CONTINUATION floods), keeps the streams' state and
// starts a goroutine per request. A handler writes its frames itself,
// into the connection's buffer under a lock, and the last writer waiting
// for the lock flushes: the answers of concurrent streams leave in one
// write, as nginx's do.
//
// What it keeps of net/http's server: the same requests (pseudo-header
// checks, Cookie merging, declared trailers, Expect: 100-continue, the
// Content-Length rules), the same response semantics (Content-Length when
// the handler returns without flushing a small body, Content-Type
// sniffing, 1xx, trailers and the "Trailer:" prefix, Flush, the
// ResponseController's deadlines), flow control both ways, and the
// defences below. What it does not do: server push, priorities (streams
// are written in the order their handlers write), extended CONNECT
// (RFC 8441, not advertised: a :protocol pseudo-header is refused), h2c.
//
// Defences, each with a test in h2_attack_test.go:
//   - handlers running at once are capped at MaxConcurrentStreams per
//     connection, counting those of streams the client reset: a new stream
//     beyond it is refused (REFUSED_STREAM) and a client refused more than
//     h2MaxRefused times in a row is sent GOAWAY ENHANCE_YOUR_CALM (rapid
//     reset, CVE-2023-44487, and server-caused resets);
//   - control frames (SETTINGS, PING) are answered as they are read and
//     written without a queue: a client that floods them without reading
//     the answers stops being read, and is cut off by the write timeout;
//   - more than h2MaxEmptyData empty DATA frames on a connection
//     (CVE-2019-9518) are answered with GOAWAY ENHANCE_YOUR_CALM;
//   - the header list is capped (MaxHeaderBytes, answered 431), and the
//     Framer cuts CONTINUATION floods (CVE-2024-27316); those it lets
//     through (empty fragments, HPACK table size updates) are cut by
//     h2FrameReader, which caps a frame with its CONTINUATION frames;
//   - a request body is read within ReadTimeout and a write, or a wait for
//     the client's flow-control window, within WriteTimeout; the preface
//     within ReadHeaderTimeout; an idle connection is closed after
//     IdleTimeout.
//
// Protocol errors are security events (input_validation_fail) with the
// client's address; malformed requests and header lists over the limit
// are answered by Options.Rejected like HTTP/1 rejections, so they get
// the pipeline's headers, request id and access-log line (a malformed
// one's stream is then reset, RFC 9113 8.1.1). h2spec, the HTTP/2
// conformance suite, passes (h2spec_test.go).

const (
	// h2ConnWindow and h2StreamWindow are the receive windows rampart
	// gives a connection and each of its streams: what a client may send
	// of request bodies before the handlers read it.
	h2ConnWindow   = 1 << 20
	h2StreamWindow = 256 << 10
	// h2ChunkSize is what a response gathers before it becomes a DATA
	// frame, as net/http's server does (its handlerChunkWriteSize): a
	// handler that returns having written no more gets a Content-Length.
	h2ChunkSize = 4 << 10
	// h2MaxRefused is how many streams in a row may be refused because
	// the connection's handlers are all busy before the connection is
	// closed.
	h2MaxRefused = 200
	// h2MaxEmptyData caps the empty DATA frames (no END_STREAM) a
	// connection may send.
	h2MaxEmptyData = 100
	// h2InitialWindow is the flow-control window RFC 9113 starts with.
	h2InitialWindow = 65535
)

var (
	errH2StreamClosed = errors.New("listen: HTTP/2 stream closed")
	errH2ConnClosed   = errors.New("listen: HTTP/2 connection closed")
	errH2WriteTimeout = fmt.Errorf("listen: HTTP/2 stream write stalled: %w", os.ErrDeadlineExceeded)
	errH2LateWrite    = errors.New("listen: write after the handler returned")
)

// h2Server serves the HTTP/2 connections of one listen.Server.
type h2Server struct {
	handler        http.Handler // dispatched(strictFraming(h)): deadlines are the server's own
	rejected       http.Handler // answers 400 and 431
	maxStreams     uint32
	maxHeaderList  uint32
	prefaceTimeout time.Duration
	idleTimeout    time.Duration
	readTimeout    time.Duration
	writeTimeout   time.Duration
	report         func(client, kind string)
	logf           func(string, ...any) // handler panics

	workers h2Workers // the goroutines handlers run on

	mu       sync.Mutex
	conns    map[*h2Conn]struct{}
	shutdown bool
	drained  chan struct{} // closed when the last connection ends after shutdown
}

func newH2Server(h, rejected http.Handler, o Options, report func(client, kind string)) *h2Server {
	return &h2Server{
		handler:        h,
		rejected:       rejected,
		maxStreams:     DefaultMaxConcurrentStreams,
		maxHeaderList:  uint32(o.MaxHeaderBytes),
		prefaceTimeout: o.ReadHeaderTimeout,
		idleTimeout:    o.IdleTimeout,
		readTimeout:    o.ReadTimeout,
		writeTimeout:   o.WriteTimeout,
		report:         report,
		conns:          make(map[*h2Conn]struct{}),
	}
}

// serveTLS is the server's TLSNextProto["h2"]: h is net/http's, used only
// for the connection's base context (ConnContext's values, the server and
// local address keys).
func (s *h2Server) serveTLS(hs *http.Server, c *tls.Conn, h http.Handler) {
	ctx := context.Background()
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		ctx = bc.BaseContext()
	}
	st := c.ConnectionState()
	s.serveConn(ctx, c, &st, nil)
}

// beginShutdown sends GOAWAY on every connection; each closes once its
// streams are done. Connections that start later are refused.
func (s *h2Server) beginShutdown() {
	s.mu.Lock()
	if !s.shutdown {
		s.drained = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.drained)
		}
	}
	s.shutdown = true
	conns := make([]*h2Conn, 0, len(s.conns))
	for hc := range s.conns {
		conns = append(conns, hc)
	}
	s.mu.Unlock()
	for _, hc := range conns {
		hc.goAway(http2.ErrCodeNo, false)
	}
}

// wait waits, after beginShutdown, for the connections to end, or for
// ctx; then it closes those left.
func (s *h2Server) wait(ctx context.Context) {
	defer s.workers.close()
	s.mu.Lock()
	drained := s.drained
	s.mu.Unlock()
	if drained != nil {
		select {
		case <-drained:
			return
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	left := make([]net.Conn, 0, len(s.conns))
	for hc := range s.conns {
		left = append(left, hc.nc)
	}
	s.mu.Unlock()
	for _, c := range left {
		c.Close()
	}
}

// h2Conn is one HTTP/2 connection.
type h2Conn struct {
	srv    *h2Server
	nc     net.Conn
	base   context.Context
	remote string
	client string // the peer's address without port, for events
	tls    *tls.ConnectionState
	logf   func(string, ...any)
	br     *bufio.Reader
	fr     *http2.Framer // read on the connection's goroutine; written under wmu
	frr    h2FrameReader // what fr reads from

	// The writing side. Frames go into bw under wmu; a writer flushes
	// unless another is waiting for wmu, which then flushes for both.
	waiting   atomic.Int32
	wmu       sync.Mutex
	out       h2Out
	idleOut   atomic.Bool // no stream open: the write buffer goes back to its pool once empty
	henc      *hpackEncoder
	hbuf      []byte // the header block being written
	werr      error
	failed    atomic.Bool // werr is set: for readers without wmu
	needFlush bool        // a writer that wanted a flush left it to the next
	wset      time.Time   // when the write deadline was last set
	wMaxFrame int         // the client's SETTINGS_MAX_FRAME_SIZE, for header blocks

	mu           sync.Mutex // guards what follows; may be held while taking wmu, never the reverse
	sendCond     sync.Cond  // L is mu: a send window grew, a stream closed, the connection ended
	streams      map[uint32]*h2Stream
	maxClientID  uint32
	sendWindow   int64 // what the connection's window lets us send
	peerInitial  int64 // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame int
	recvWindow   int64 // what the client may still send on the connection
	recvUnacked  int64 // read by handlers (or dropped), not yet given back
	unackedSet   int   // our SETTINGS not yet acknowledged
	running      int   // handlers running, including those of closed streams
	refused      int   // streams refused in a row for busy handlers
	emptyData    int
	goingAway    bool // no new streams
	fatal        bool // GOAWAY for an error: close at once
	closed       bool
	idleSet      bool // the idle read deadline is set

	canon map[string]string // this connection's canonical forms of uncommon field names
}

// serveConn serves nc, whose TLS handshake chose HTTP/2, until it ends.
// base is the requests' context; ec, when not nil, is the earlyConn net/http
// holds (its Close then sends GOAWAY instead of closing).
func (s *h2Server) serveConn(base context.Context, nc net.Conn, tlsState *tls.ConnectionState, ec *earlyTLSConn) {
	defer nc.Close()
	hc := &h2Conn{
		srv: s,
		nc:  nc,
		// The streams' contexts end with them (closeStream): none
		// is registered with a parent that outlives the request.
		base:   context.WithoutCancel(base),
		remote: nc.RemoteAddr().String(),
		tls:    tlsState,
		logf:   s.logf,
		// 4 KiB: a frame larger than what is buffered is read into the
		// Framer's own buffer directly (crypto/tls keeps the record).
		br:           bufio.NewReaderSize(nc, 4<<10),
		out:          h2Out{w: nc},
		streams:      make(map[uint32]*h2Stream),
		sendWindow:   h2InitialWindow,
		peerInitial:  h2InitialWindow,
		peerMaxFrame: 16 << 10,
		wMaxFrame:    16 << 10,
		recvWindow:   h2ConnWindow,
	}
	hc.client = hc.remote
	if host, _, err := net.SplitHostPort(hc.remote); err == nil {
		hc.client = host
	}
	hc.sendCond.L = &hc.mu
	hc.frr = h2FrameReader{r: hc.br, max: 2*int(s.maxHeaderList) + 32<<10}
	hc.fr = http2.NewFramer(&hc.out, &hc.frr)
	hc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	hc.fr.MaxHeaderListSize = s.maxHeaderList
	hc.fr.SetMaxReadFrameSize(16 << 10)
	hc.henc = newHPACKEncoder()

	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return
	}
	s.conns[hc] = struct{}{}
	s.mu.Unlock()
	if ec != nil {
		ec.h2c.Store(hc)
	}
	defer func() {
		if ec != nil {
			ec.h2c.Store(nil)
		}
		s.mu.Lock()
		delete(s.conns, hc)
		if s.shutdown && len(s.conns) == 0 && s.drained != nil {
			close(s.drained)
			s.drained = nil
		}
		s.mu.Unlock()
	}()
	err := hc.serve()
	hc.end(err)
}

// serve reads the connection's frames until it ends.
func (hc *h2Conn) serve() error {
	hc.nc.SetReadDeadline(time.Now().Add(hc.srv.prefaceTimeout))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(hc.br, preface); err != nil {
		return err
	}
	if string(preface) != http2.ClientPreface {
		hc.srv.report(hc.client, "conn_PROTOCOL_ERROR_bad_preface")
		return errors.New("listen: not an HTTP/2 client preface")
	}
	hc.mu.Lock()
	hc.unackedSet++
	hc.mu.Unlock()
	hc.write(func() error {
		err := hc.fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: hc.srv.maxStreams},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: hc.srv.maxHeaderList},
		)
		if err != nil {
			return err
		}
		return hc.fr.WriteWindowUpdate(0, h2ConnWindow-h2InitialWindow)
	}, true)

	first := true
	for {
		hc.frr.n = 0
		f, err := hc.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				hc.streamError(se, "bad_header_block")
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				hc.srv.report(hc.client, "conn_"+http2.ErrCode(ce).String()+"_frame")
				hc.goAway(http2.ErrCode(ce), true)
				return err
			}
			if errors.Is(err, errH2BlockFlood) {
				hc.srv.report(hc.client, "conn_ENHANCE_YOUR_CALM_continuation_flood")
				hc.goAway(http2.ErrCodeEnhanceYourCalm, true)
				return err
			}
			if errors.Is(err, http2.ErrFrameTooLarge) {
				hc.srv.report(hc.client, "conn_FRAME_SIZE_ERROR_frame_too_large")
				hc.goAway(http2.ErrCodeFrameSize, true)
				return err
			}
			hc.mu.Lock()
			fatal := hc.fatal
			hc.mu.Unlock()
			if ne, ok := err.(net.Error); ok && ne.Timeout() && !fatal {
				// Idle, or done after a graceful GOAWAY.
				hc.goAway(http2.ErrCodeNo, false)
				hc.linger()
			}
			return err
		}
		if first {
			if _, ok := f.(*http2.SettingsFrame); !ok {
				hc.srv.report(hc.client, "conn_PROTOCOL_ERROR_first_settings")
				hc.goAway(http2.ErrCodeProtocol, true)
				return errors.New("listen: HTTP/2 connection did not start with SETTINGS")
			}
			first = false
			hc.mu.Lock()
			hc.setIdle()
			hc.mu.Unlock()
		}
		if err := hc.process(f); err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				hc.streamError(se, "")
				continue
			}
			var he h2Error
			if errors.As(err, &he) {
				hc.goAway(he.code, true)
			}
			return err
		}
		if hc.br.Buffered() == 0 {
			// Nothing more to read at once: what this goroutine wrote
			// (acknowledgements, window updates) leaves now.
			hc.write(nil, true)
		}
		if hc.broken() {
			return errH2ConnClosed
		}
	}
}

// h2FrameReader is what the connection's Framer reads: it fails a frame
// (a header block with its CONTINUATION frames) of more than max bytes.
// The Framer's own check counts what the fragments decode to, so it lets
// through CONTINUATION frames that are empty or hold only HPACK table
// size updates, without end (CVE-2024-27316's kin). n is reset before
// each frame.
type h2FrameReader struct {
	r      io.Reader
	n, max int
}

var errH2BlockFlood = errors.New("listen: HTTP/2 header block over twice MaxHeaderBytes and 32 KiB")

func (r *h2FrameReader) Read(p []byte) (int, error) {
	if r.n >= r.max {
		return 0, errH2BlockFlood
	}
	p = p[:min(len(p), r.max-r.n)]
	n, err := r.r.Read(p)
	r.n += n
	return n, err
}

// h2Error is a connection error: the kind is reported, then GOAWAY.
type h2Error struct {
	code http2.ErrCode
	kind string
}

func (e h2Error) Error() string { return "listen: HTTP/2 " + e.code.String() + ": " + e.kind }

// connError reports a connection error; serve sends GOAWAY and closes.
// hc.mu may be held.
func (hc *h2Conn) connError(code http2.ErrCode, kind string) error {
	hc.srv.report(hc.client, "conn_"+code.String()+"_"+kind)
	return h2Error{code, kind}
}

// streamErr makes a stream error to return from process.
func streamErr(id uint32, code http2.ErrCode, kind string) error {
	return http2.StreamError{StreamID: id, Code: code, Cause: errors.New(kind)}
}

// streamError resets the stream of se and reports it.
func (hc *h2Conn) streamError(se http2.StreamError, kind string) {
	if kind == "" && se.Cause != nil {
		kind = se.Cause.Error()
	}
	hc.srv.report(hc.client, "stream_"+se.Code.String()+"_"+kind)
	hc.mu.Lock()
	if se.StreamID > hc.maxClientID && se.StreamID%2 == 1 {
		hc.maxClientID = se.StreamID
	}
	st := hc.streams[se.StreamID]
	if st != nil {
		hc.closeStream(st, errH2StreamClosed)
	}
	hc.mu.Unlock()
	hc.writeRST(st, se.StreamID, se.Code)
}

func (hc *h2Conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return hc.onHeaders(f)
	case *http2.DataFrame:
		return hc.onData(f)
	case *http2.SettingsFrame:
		return hc.onSettings(f)
	case *http2.WindowUpdateFrame:
		return hc.onWindowUpdate(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if f.StreamID != 0 {
			return hc.connError(http2.ErrCodeProtocol, "ping_on_stream")
		}
		data := f.Data
		hc.write(func() error { return hc.fr.WritePing(true, data) }, hc.br.Buffered() == 0)
		return nil
	case *http2.RSTStreamFrame:
		hc.mu.Lock()
		defer hc.mu.Unlock()
		if f.StreamID > hc.maxClientID {
			return hc.connError(http2.ErrCodeProtocol, "reset_idle_stream")
		}
		if st := hc.streams[f.StreamID]; st != nil {
			hc.closeStream(st, fmt.Errorf("listen: HTTP/2 stream reset by the client (%v)", f.ErrCode))
		}
		return nil
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return streamErr(f.StreamID, http2.ErrCodeProtocol, "priority_self_dependency")
		}
		return nil
	case *http2.GoAwayFrame:
		hc.goAway(http2.ErrCodeNo, false)
		return nil
	case *http2.PushPromiseFrame:
		return hc.connError(http2.ErrCodeProtocol, "push_promise")
	default:
		return nil // unknown frames and PRIORITY_UPDATE are ignored
	}
}

func (hc *h2Conn) onSettings(f *http2.SettingsFrame) error {
	hc.mu.Lock()
	if f.IsAck() {
		hc.unackedSet--
		bad := hc.unackedSet < 0
		hc.mu.Unlock()
		if bad {
			return hc.connError(http2.ErrCodeProtocol, "settings_ack_unsolicited")
		}
		return nil
	}
	if f.NumSettings() > 100 {
		// A setting may come more than once, the last one counting
		// (RFC 9113, 6.5.3); a hundred is far more than there are.
		hc.mu.Unlock()
		return hc.connError(http2.ErrCodeProtocol, "settings_too_many")
	}
	var table *uint32
	maxFrame := 0
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			v := s.Val
			table = &v
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - hc.peerInitial
			for _, st := range hc.streams {
				if st.sendWindow+delta > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			for _, st := range hc.streams {
				st.sendWindow += delta
			}
			hc.peerInitial = int64(s.Val)
			hc.sendCond.Broadcast()
		case http2.SettingMaxFrameSize:
			hc.peerMaxFrame = int(s.Val)
			maxFrame = int(s.Val)
		}
		return nil
	})
	hc.mu.Unlock()
	if err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return hc.connError(http2.ErrCode(ce), "bad_setting")
		}
		return err
	}
	hc.write(func() error {
		if table != nil {
			hc.henc.setMaxTableSize(*table)
		}
		if maxFrame > 0 {
			hc.wMaxFrame = maxFrame
		}
		return hc.fr.WriteSettingsAck()
	}, hc.br.Buffered() == 0)
	return nil
}

func (hc *h2Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if hc.sendWindow+inc > 1<<31-1 {
			return hc.connError(http2.ErrCodeFlowControl, "window_overflow")
		}
		hc.sendWindow += inc
		hc.sendCond.Broadcast()
		return nil
	}
	if f.StreamID > hc.maxClientID {
		return hc.connError(http2.ErrCodeProtocol, "window_update_idle_stream")
	}
	st := hc.streams[f.StreamID]
	if st == nil {
		return nil // closed: allowed (RFC 9113, 6.9)
	}
	if st.sendWindow+inc > 1<<31-1 {
		return streamErr(f.StreamID, http2.ErrCodeFlowControl, "window_overflow")
	}
	st.sendWindow += inc
	hc.sendCond.Broadcast()
	return nil
}

func (hc *h2Conn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length)
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if id == 0 || id > hc.maxClientID {
		return hc.connError(http2.ErrCodeProtocol, "data_on_idle_stream")
	}
	if n > hc.recvWindow {
		return hc.connError(http2.ErrCodeFlowControl, "data_over_connection_window")
	}
	hc.recvWindow -= n
	st := hc.streams[id]
	if st == nil || st.remoteDone || st.body == nil {
		hc.giveBack(nil, n)
		if st == nil {
			return streamErr(id, http2.ErrCodeStreamClosed, "data_on_closed_stream")
		}
		return streamErr(id, http2.ErrCodeStreamClosed, "data_after_end_stream")
	}
	if n > st.recvWindow {
		hc.giveBack(nil, n)
		return streamErr(id, http2.ErrCodeFlowControl, "data_over_stream_window")
	}
	st.recvWindow -= n
	data := f.Data()
	if n == 0 && !f.StreamEnded() {
		hc.emptyData++
		if hc.emptyData > h2MaxEmptyData {
			return hc.connError(http2.ErrCodeEnhanceYourCalm, "empty_data_flood")
		}
	}
	b := st.body
	if b.declared >= 0 && b.received+int64(len(data)) > b.declared {
		hc.giveBack(nil, n)
		// Closed before the handler sees its body fail, as net/http's
		// server does: it must not answer a stream being reset.
		hc.closeStream(st, fmt.Errorf("listen: HTTP/2 request body longer than its Content-Length of %d bytes", b.declared))
		return streamErr(id, http2.ErrCodeProtocol, "body_over_content_length")
	}
	b.received += int64(len(data))
	if b.closed || b.broken() {
		// The handler closed the body: what it will not read goes back
		// to the connection; the stream's window is not reopened.
		hc.giveBack(nil, n)
	} else {
		b.buf = append(b.buf, data...)
		if pad := n - int64(len(data)); pad > 0 {
			hc.giveBack(st, pad)
		}
		b.cond.Broadcast()
	}
	if f.StreamEnded() {
		hc.endRemote(st)
	}
	return nil
}

// endRemote notes the client's END_STREAM on st.
func (hc *h2Conn) endRemote(st *h2Stream) {
	st.remoteDone = true
	if b := st.body; b != nil {
		if b.declared >= 0 && b.received != b.declared {
			b.fail(fmt.Errorf("listen: HTTP/2 request declared a Content-Length of %d but sent %d bytes", b.declared, b.received))
		} else if b.err == nil {
			b.err = io.EOF
			b.cond.Broadcast()
		}
		if st.readTimer != nil {
			st.readTimer.Stop()
		}
	}
	if st.handlerDone {
		hc.closeStream(st, nil)
	}
}

// giveBack returns n bytes of receive window to the client: the
// connection's always, st's when st is not nil. WINDOW_UPDATE frames go
// out once a quarter of a window is owed. hc.mu is held.
func (hc *h2Conn) giveBack(st *h2Stream, n int64) {
	hc.recvUnacked += n
	var connInc, streamInc uint32
	if hc.recvUnacked >= h2ConnWindow/4 {
		connInc = uint32(hc.recvUnacked)
		hc.recvWindow += hc.recvUnacked
		hc.recvUnacked = 0
	}
	var id uint32
	if st != nil && !st.remoteDone && !st.closed {
		st.recvUnacked += n
		if st.recvUnacked >= h2StreamWindow/4 {
			streamInc, id = uint32(st.recvUnacked), st.id
			st.recvWindow += st.recvUnacked
			st.recvUnacked = 0
		}
	}
	if connInc == 0 && streamInc == 0 {
		return
	}
	hc.write(func() error {
		if connInc > 0 {
			if err := hc.fr.WriteWindowUpdate(0, connInc); err != nil {
				return err
			}
		}
		if streamInc > 0 {
			return hc.fr.WriteWindowUpdate(id, streamInc)
		}
		return nil
	}, true)
}

func (hc *h2Conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return hc.connError(http2.ErrCodeProtocol, "headers_even_stream")
	}
	hc.mu.Lock()
	if st := hc.streams[id]; st != nil {
		defer hc.mu.Unlock()
		return hc.onTrailers(st, f)
	}
	if id <= hc.maxClientID {
		hc.mu.Unlock()
		return hc.connError(http2.ErrCodeProtocol, "headers_on_closed_stream") // RFC 9113, 5.1.1
	}
	hc.maxClientID = id
	if hc.goingAway {
		hc.mu.Unlock()
		return nil // after GOAWAY: ignored (RFC 9113, 6.8)
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		hc.mu.Unlock()
		return streamErr(id, http2.ErrCodeProtocol, "priority_self_dependency")
	}
	if uint32(len(hc.streams)) >= hc.srv.maxStreams {
		code := http2.ErrCodeProtocol
		if hc.unackedSet > 0 {
			code = http2.ErrCodeRefusedStream // it may not have our SETTINGS yet
		}
		hc.mu.Unlock()
		return streamErr(id, code, "over_max_streams")
	}
	if uint32(hc.running) >= hc.srv.maxStreams {
		hc.refused++
		over := hc.refused > h2MaxRefused
		hc.mu.Unlock()
		if over {
			return hc.connError(http2.ErrCodeEnhanceYourCalm, "streams_refused_handlers_busy")
		}
		return streamErr(id, http2.ErrCodeRefusedStream, "handlers_busy")
	}
	hc.refused = 0
	hc.mu.Unlock()

	req, rej, err := hc.newRequest(f)
	if err != nil {
		return err
	}
	st := &h2Stream{hc: hc, id: id, recvWindow: h2StreamWindow}
	ctx, cancel := context.WithCancel(hc.base)
	st.ctx, st.cancel = ctx, cancel
	handler := hc.srv.handler
	if f.Truncated {
		rej = &Rejection{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "HTTP/2 header list over listen.max_header_bytes"}
	}
	if rej != nil {
		hc.srv.report(hc.client, "stream_rejected_"+strconv.Itoa(rej.Status))
		ctx = context.WithValue(ctx, rejectionKey{}, *rej)
		handler = hc.srv.rejected
		// A malformed request (RFC 9113, 8.1.1) is answered, then its
		// stream reset; a header list over the limit is only answered.
		st.malformed = !f.Truncated
	}
	req = req.WithContext(withState(ctx))
	// Expect: 100-continue is taken off every request, as net/http's
	// server does, and answered only when there is a body to ask for.
	expect := httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue")
	if expect {
		delete(req.Header, "Expect")
	}
	if !f.StreamEnded() {
		b := &h2Body{st: st, declared: req.ContentLength, needsContinue: expect}
		b.cond.L = &hc.mu
		st.body = b
		st.reqTrailer = req.Trailer
		req.Body = b
		if hc.srv.readTimeout > 0 {
			st.readTimer = time.AfterFunc(hc.srv.readTimeout, st.onReadTimeout)
		}
	}
	w := &h2Writer{st: st, req: req}

	hc.mu.Lock()
	st.sendWindow = hc.peerInitial
	st.remoteDone = f.StreamEnded()
	hc.streams[id] = st
	hc.running++
	if hc.idleSet {
		hc.idleSet = false
		hc.idleOut.Store(false)
		hc.nc.SetReadDeadline(time.Time{})
	}
	hc.mu.Unlock()
	hc.srv.workers.run(h2Job{hc: hc, w: w, req: req, h: handler})
	return nil
}

func (hc *h2Conn) onTrailers(st *h2Stream, f *http2.MetaHeadersFrame) error {
	if st.remoteDone && st.endSent.Load() {
		// Closed, though its handler has not returned yet (RFC 9113,
		// 5.1: a connection error).
		return hc.connError(http2.ErrCodeStreamClosed, "headers_on_closed_stream")
	}
	if st.remoteDone || st.body == nil {
		return streamErr(st.id, http2.ErrCodeStreamClosed, "headers_after_end_stream")
	}
	if !f.StreamEnded() {
		return streamErr(st.id, http2.ErrCodeProtocol, "trailers_without_end_stream")
	}
	if len(f.PseudoFields()) > 0 {
		return streamErr(st.id, http2.ErrCodeProtocol, "pseudo_header_in_trailers")
	}
	if f.Truncated {
		return streamErr(st.id, http2.ErrCodeProtocol, "trailers_too_large")
	}
	if st.reqTrailer != nil {
		for _, hf := range f.RegularFields() {
			k := hc.canonical(hf.Name)
			if !httpguts.ValidTrailerHeader(k) {
				// A field trailers may not carry (Host, Content-Length...),
				// even undeclared: net/http's server refuses the stream too.
				return streamErr(st.id, http2.ErrCodeProtocol, "trailer_header")
			}
			if _, ok := st.reqTrailer[k]; ok {
				st.body.trailer = append(st.body.trailer, hpack.HeaderField{Name: k, Value: hf.Value})
			}
		}
	}
	hc.endRemote(st)
	return nil
}

// newRequest makes the request of a HEADERS frame as net/http's server
// does. A malformed one is a stream error; one whose fields net/http's
// server answers 400 comes back with a Rejection.
func (hc *h2Conn) newRequest(f *http2.MetaHeadersFrame) (*http.Request, *Rejection, error) {
	id := f.StreamID
	method := f.PseudoValue("method")
	scheme := f.PseudoValue("scheme")
	authority := f.PseudoValue("authority")
	path := f.PseudoValue("path")
	if f.PseudoValue("protocol") != "" {
		return nil, nil, streamErr(id, http2.ErrCodeProtocol, "extended_connect")
	}
	if method == "CONNECT" {
		if path != "" || scheme != "" || authority == "" {
			return nil, nil, streamErr(id, http2.ErrCodeProtocol, "bad_connect")
		}
	} else if method == "" || path == "" || (scheme != "https" && scheme != "http") {
		return nil, nil, streamErr(id, http2.ErrCodeProtocol, "bad_path_method")
	}
	fields := f.RegularFields()
	header := make(http.Header, len(fields))
	for _, hf := range fields {
		k := hc.canonical(hf.Name)
		header[k] = append(header[k], hf.Value)
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	if c := header["Cookie"]; len(c) > 1 {
		header["Cookie"] = []string{strings.Join(c, "; ")}
	}
	var trailer http.Header
	for _, v := range header["Trailer"] {
		for key := range strings.SplitSeq(v, ",") {
			key = http.CanonicalHeaderKey(strings.TrimSpace(key))
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
			default:
				if trailer == nil {
					trailer = make(http.Header)
				}
				trailer[key] = nil
			}
		}
	}
	delete(header, "Trailer")
	if strings.IndexByte(authority, '@') >= 0 {
		return nil, nil, streamErr(id, http2.ErrCodeProtocol, "userinfo_in_authority")
	}
	var u *url.URL
	requestURI := path
	if method == "CONNECT" {
		u, requestURI = &url.URL{Host: authority}, authority
	} else {
		if path[0] != '/' && path != "*" {
			return nil, nil, streamErr(id, http2.ErrCodeProtocol, "bad_path")
		}
		// The lane's parser for the paths most requests have (what
		// url.ParseRequestURI makes of them: FuzzSimpleURL), else Go's.
		if u = simpleURL(path); u == nil {
			var err error
			if u, err = url.ParseRequestURI(path); err != nil {
				return nil, nil, streamErr(id, http2.ErrCodeProtocol, "bad_path")
			}
		}
	}
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     header,
		Host:       authority,
		RemoteAddr: hc.remote,
		RequestURI: requestURI,
		TLS:        hc.tls,
		Trailer:    trailer,
		Body:       http.NoBody,
	}
	bodyOpen := !f.StreamEnded()
	if cls, ok := header["Content-Length"]; ok {
		if cl, err := strconv.ParseUint(cls[0], 10, 63); err == nil {
			req.ContentLength = int64(cl)
		}
		if !bodyOpen && req.ContentLength != 0 {
			return nil, nil, streamErr(id, http2.ErrCodeProtocol, "bodyless_content_length")
		}
		for _, dup := range cls[1:] {
			if dup != cls[0] {
				return nil, nil, streamErr(id, http2.ErrCodeProtocol, "duplicate_content_length")
			}
		}
		header["Content-Length"] = cls[:1]
	} else if bodyOpen {
		req.ContentLength = -1
	}
	for _, k := range [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"} {
		if _, ok := header[k]; ok {
			return req, &Rejection{Status: http.StatusBadRequest, Reason: "HTTP/2 request with connection-specific field " + k}, nil
		}
	}
	if te := header["Te"]; len(te) > 1 || (len(te) == 1 && te[0] != "trailers" && te[0] != "") {
		return req, &Rejection{Status: http.StatusBadRequest, Reason: `HTTP/2 request with a TE field other than "trailers"`}, nil
	}
	return req, nil, nil
}

// canonical is http.CanonicalHeaderKey of an HTTP/2 field name (always
// lower case), without an allocation for the common ones.
func (hc *h2Conn) canonical(name string) string {
	if c, ok := h2CommonCanonical[name]; ok {
		return c
	}
	if c, ok := hc.canon[name]; ok {
		return c
	}
	c := http.CanonicalHeaderKey(name)
	if len(hc.canon) < 100 && len(name) < 64 {
		if hc.canon == nil {
			hc.canon = make(map[string]string)
		}
		hc.canon[name] = c
	}
	return c
}

var h2CommonCanonical, h2CommonLower = func() (map[string]string, map[string]string) {
	names := []string{"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Age", "Allow", "Authorization",
		"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Cookie",
		"Cross-Origin-Embedder-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Date",
		"Dnt", "Etag", "Expect", "Expires", "Forwarded", "From", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Last-Modified", "Link", "Location",
		"Max-Forwards", "Origin", "Permissions-Policy", "Pragma", "Priority", "Proxy-Authenticate",
		"Proxy-Authorization", "Range", "Referer", "Referrer-Policy", "Refresh", "Retry-After",
		"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Server", "Server-Timing", "Set-Cookie",
		"Strict-Transport-Security", "Te", "Trailer", "Upgrade-Insecure-Requests", "User-Agent", "Vary",
		"Via", "Www-Authenticate", "X-Content-Type-Options", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Frame-Options", "X-Real-Ip", "X-Request-Id", "X-Requested-With",
		"X-Xss-Protection"}
	canon := make(map[string]string, len(names))
	lower := make(map[string]string, len(names))
	for _, n := range names {
		l := strings.ToLower(n)
		canon[l], lower[n] = n, l
	}
	return canon, lower
}()

// runHandler serves one request, on a worker (h2Workers).
func (hc *h2Conn) runHandler(w *h2Writer, req *http.Request, h http.Handler) {
	st := w.st
	panicked := true
	defer func() {
		if panicked {
			e := recover()
			if e != nil && e != http.ErrAbortHandler && hc.logf != nil {
				hc.logf("http2: panic serving %v: %v", hc.remote, e)
			}
			w.done = true
			w.release()
			hc.mu.Lock()
			hc.closeStream(st, errH2StreamClosed)
			hc.mu.Unlock()
			hc.writeRST(st, st.id, http2.ErrCodeInternal)
		} else {
			w.finish()
		}
		if b := st.body; b != nil {
			b.Close()
		}
		hc.handlerDone(st)
	}()
	h.ServeHTTP(w, req)
	panicked = false
}

// handlerDone ends st's handler: the stream closes if the client is done
// sending too, or is reset (NO_ERROR) if it is still sending.
func (hc *h2Conn) handlerDone(st *h2Stream) {
	hc.mu.Lock()
	hc.running--
	st.handlerDone = true
	rst, code := false, http2.ErrCodeNo
	if !st.closed {
		if !st.remoteDone {
			rst = true
		}
		if st.malformed {
			rst, code = true, http2.ErrCodeProtocol
		}
		hc.closeStream(st, nil)
	}
	hc.mu.Unlock()
	if rst {
		hc.writeRST(st, st.id, code)
	}
}

// closeStream removes st from the connection: its context is cancelled,
// its body's readers and writers wake, its unread body goes back to the
// connection's window. hc.mu is held.
func (hc *h2Conn) closeStream(st *h2Stream, err error) {
	if st.closed {
		return
	}
	st.closed = true
	st.closeErr = err
	if err == nil {
		st.closeErr = errH2StreamClosed
	}
	delete(hc.streams, st.id)
	if b := st.body; b != nil {
		b.fail(st.closeErr) // also gives back what was not read
	}
	if st.readTimer != nil {
		st.readTimer.Stop()
	}
	if st.writeTimer != nil {
		st.writeTimer.Stop()
	}
	st.gone.Store(true)
	st.cancel()
	if f := st.hook; f != nil {
		// As context.AfterFunc runs it, in a goroutine of its own.
		st.hook = nil
		go f()
	}
	hc.sendCond.Broadcast()
	if len(hc.streams) == 0 {
		if hc.goingAway {
			hc.closeSoon()
		} else {
			hc.setIdle()
		}
	}
}

// setIdle starts the idle timeout. hc.mu is held.
func (hc *h2Conn) setIdle() {
	if len(hc.streams) == 0 && !hc.idleSet && !hc.closed {
		hc.idleSet = true
		hc.idleOut.Store(true)
		hc.nc.SetReadDeadline(time.Now().Add(hc.srv.idleTimeout))
		if hc.wmu.TryLock() {
			// Else the writer holding it gives the buffer back.
			hc.out.release()
			hc.wmu.Unlock()
		}
	}
}

// closeSoon wakes the reading goroutine of a connection that sent GOAWAY
// and has no stream left (or failed): its read times out, and it flushes,
// lingers and closes (serve, end). hc.mu is held.
func (hc *h2Conn) closeSoon() {
	hc.nc.SetReadDeadline(time.Now())
}

// goAway sends GOAWAY with code once. A graceful one (NO_ERROR, not
// fatal) lets the streams opened so far finish; the connection closes
// after the last. A fatal one closes the connection after it is written.
func (hc *h2Conn) goAway(code http2.ErrCode, fatal bool) {
	hc.mu.Lock()
	already := hc.goingAway
	hc.goingAway = true
	hc.fatal = hc.fatal || fatal
	last := hc.maxClientID
	if fatal || len(hc.streams) == 0 {
		hc.closeSoon()
	}
	hc.mu.Unlock()
	if already && code == http2.ErrCodeNo {
		return
	}
	hc.write(func() error { return hc.fr.WriteGoAway(last, code, nil) }, true)
}

// h2Linger is how long a connection closing gracefully goes on reading
// after its last response, so that what the client was still sending (the
// rest of a request body the handler did not read) does not make the
// kernel reset the connection, which can destroy responses the client has
// not read yet.
const h2Linger = time.Second

// linger flushes, closes the writing side and reads what the client
// still sends, for at most h2Linger.
func (hc *h2Conn) linger() {
	if hc.write(nil, true) != nil {
		return
	}
	if cw, ok := hc.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	hc.nc.SetReadDeadline(time.Now().Add(h2Linger))
	io.Copy(io.Discard, hc.br)
}

// end runs when the reading goroutine stops: every stream is closed.
func (hc *h2Conn) end(err error) {
	hc.mu.Lock()
	hc.closed = true
	for _, st := range hc.streams {
		hc.closeStream(st, errH2ConnClosed)
	}
	hc.sendCond.Broadcast()
	fatal := hc.fatal
	hc.mu.Unlock()
	if fatal {
		// Closed at once, with what the client still sends unread, the
		// connection would be reset, and the GOAWAY saying why lost.
		hc.linger()
	}
	hc.nc.Close()
}

// broken reports whether a write failed. The reading goroutine asks after
// every frame: it reads a flag, without taking wmu.
func (hc *h2Conn) broken() bool { return hc.failed.Load() }

// write runs fn (if not nil) on the connection's writer under wmu. With
// flush, what is buffered is flushed, by this writer or, if another is
// waiting for wmu, by the last of them: concurrent streams' frames leave
// in one write.
func (hc *h2Conn) write(fn func() error, flush bool) error {
	hc.waiting.Add(1)
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	if hc.werr == nil && fn != nil {
		hc.renewWrite()
		if err := fn(); err != nil {
			hc.fail(err)
		}
	}
	if hc.waiting.Add(-1) > 0 {
		// Another writer waits: it flushes for this one.
		hc.needFlush = hc.needFlush || flush
		return hc.werr
	}
	if (flush || hc.needFlush) && hc.werr == nil && hc.out.buffered() > 0 {
		hc.renewWrite()
		if err := hc.out.flush(); err != nil {
			hc.fail(err)
		}
	}
	hc.needFlush = false
	if hc.idleOut.Load() {
		hc.out.release()
	}
	return hc.werr
}

// h2Out is a connection's write buffer, taken from a pool when the
// connection writes and given back when it has no stream open and
// everything written has been flushed: an idle connection holds none. It
// is used under wmu.
type h2Out struct {
	w  io.Writer
	bw *bufio.Writer
}

var h2Writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}

func (o *h2Out) Write(p []byte) (int, error) {
	if o.bw == nil {
		o.bw = h2Writers.Get().(*bufio.Writer)
		o.bw.Reset(o.w)
	}
	return o.bw.Write(p)
}

func (o *h2Out) buffered() int {
	if o.bw == nil {
		return 0
	}
	return o.bw.Buffered()
}

func (o *h2Out) flush() error {
	if o.bw == nil {
		return nil
	}
	return o.bw.Flush()
}

// release gives the buffer back when nothing is left in it.
func (o *h2Out) release() {
	if o.bw != nil && o.bw.Buffered() == 0 {
		o.bw.Reset(nil)
		h2Writers.Put(o.bw)
		o.bw = nil
	}
}

// fail notes a write error: the connection is closed, which ends its
// reading goroutine. hc.wmu is held.
func (hc *h2Conn) fail(err error) {
	hc.werr = err
	hc.failed.Store(true)
	if tc, ok := hc.nc.(*tls.Conn); ok {
		// Not tls.Conn.Close: its close_notify would wait up to 5 s for
		// room in the buffers of a client that reads nothing.
		tc.NetConn().Close()
	}
	hc.nc.Close()
}

// renewWrite sets the connection's write deadline when an eighth of
// WriteTimeout has passed since it was last set, as the lane does.
// hc.wmu is held.
func (hc *h2Conn) renewWrite() {
	now := time.Now()
	if now.Sub(hc.wset) < hc.srv.writeTimeout/8 {
		return
	}
	hc.wset = now
	hc.nc.SetWriteDeadline(now.Add(hc.srv.writeTimeout))
}

// writeRST resets stream id, unless a reset was already written for it.
func (hc *h2Conn) writeRST(st *h2Stream, id uint32, code http2.ErrCode) {
	hc.write(func() error {
		if st != nil {
			if st.rstSent {
				return nil
			}
			st.rstSent = true
		}
		return hc.fr.WriteRSTStream(id, code)
	}, true)
}

// h2Stream is one request.
type h2Stream struct {
	hc     *h2Conn
	id     uint32
	ctx    context.Context // the request's; only cancel ends it
	cancel context.CancelFunc
	body   *h2Body // nil: the request ended with its HEADERS

	// Guarded by hc.mu.
	sendWindow  int64
	recvWindow  int64
	recvUnacked int64
	remoteDone  bool // END_STREAM received
	handlerDone bool
	closed      bool
	closeErr    error
	stalled     bool // a write waited WriteTimeout for window, or its deadline passed
	reqTrailer  http.Header
	readTimer   *time.Timer
	writeTimer  *time.Timer
	rstSent     bool        // guarded by hc.wmu
	gone        atomic.Bool // closed: nothing more is written for it
	endSent     atomic.Bool // END_STREAM written
	malformed   bool        // answered by Options.Rejected, then reset (PROTOCOL_ERROR)
	hook        func()      // AfterClientGone's function; guarded by hc.mu
}

// AfterClientGone arranges for f to run when the stream's context ends
// (a reset, the connection's end, or the stream's): what
// context.AfterFunc(ctx, f) does, without its allocations, for ctx the
// request's own context (see the lane's). ok is false for any other
// context and once the stream is closed.
func (w *h2Writer) AfterClientGone(ctx context.Context, f func()) (stop func() bool, ok bool) {
	st := w.st
	done := ctx.Done()
	hc := st.hc
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if st.closed || st.hook != nil || done != st.ctx.Done() {
		return nil, false
	}
	st.hook = f
	return st.unhook, true
}

// unhook is AfterClientGone's stop.
func (st *h2Stream) unhook() bool {
	st.hc.mu.Lock()
	defer st.hc.mu.Unlock()
	had := st.hook != nil
	st.hook = nil
	return had
}

func (st *h2Stream) onReadTimeout() {
	hc := st.hc
	hc.mu.Lock()
	if b := st.body; b != nil && b.err == nil {
		b.fail(fmt.Errorf("listen: HTTP/2 request body: %w", os.ErrDeadlineExceeded))
	}
	hc.mu.Unlock()
}

func (st *h2Stream) onWriteTimeout() {
	hc := st.hc
	hc.mu.Lock()
	if st.closed {
		// Closed as the timer fired: nothing to reset.
		hc.mu.Unlock()
		return
	}
	st.stalled = true
	hc.closeStream(st, errH2WriteTimeout)
	hc.mu.Unlock()
	hc.writeRST(st, st.id, http2.ErrCodeInternal)
}

// takeWindow takes up to want bytes of send window for st, at most a
// frame's worth. With wait it waits for some, for at most WriteTimeout;
// without, it may return 0. more says whether window is left after it.
func (hc *h2Conn) takeWindow(st *h2Stream, want int, wait bool) (n int, more bool, err error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	var timer *time.Timer
	for {
		if st.closed {
			return 0, false, st.closeErr
		}
		if hc.closed {
			return 0, false, errH2ConnClosed
		}
		n := min(int64(want), hc.sendWindow, st.sendWindow, int64(hc.peerMaxFrame))
		if n > 0 || want == 0 {
			n = max(n, 0)
			hc.sendWindow -= n
			st.sendWindow -= n
			if timer != nil {
				timer.Stop()
			}
			return int(n), hc.sendWindow > 0 && st.sendWindow > 0, nil
		}
		if !wait {
			return 0, false, nil
		}
		if st.stalled {
			hc.closeStream(st, errH2WriteTimeout)
			hc.writeRST(st, st.id, http2.ErrCodeCancel)
			return 0, false, errH2WriteTimeout
		}
		if timer == nil {
			timer = time.AfterFunc(hc.srv.writeTimeout, func() {
				hc.mu.Lock()
				st.stalled = true
				hc.sendCond.Broadcast()
				hc.mu.Unlock()
			})
		}
		hc.sendCond.Wait()
	}
}
