package listen

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Body is an HTTP/2 request's body: what DATA frames brought, read by
// the handler. Its fields are guarded by the connection's mu.
type h2Body struct {
	st            *h2Stream
	cond          sync.Cond // L is the connection's mu
	buf           []byte
	off           int
	err           error // io.EOF at the end
	declared      int64 // Content-Length, -1 if none
	received      int64
	closed        bool
	needsContinue bool
	trailer       []hpack.HeaderField // the declared trailers received
}

// fail ends the body with err: what is buffered and what comes later is
// dropped, its window given back to the connection. The connection's mu
// is held.
func (b *h2Body) fail(err error) {
	if b.err == nil || b.err == io.EOF {
		b.err = err
	}
	if unread := int64(len(b.buf) - b.off); unread > 0 {
		b.st.hc.giveBack(nil, unread)
	}
	b.buf, b.off = nil, 0
	b.cond.Broadcast()
}

// broken reports whether the body ended with an error. The connection's
// mu is held.
func (b *h2Body) broken() bool { return b.err != nil && b.err != io.EOF }

func (b *h2Body) Read(p []byte) (int, error) {
	st := b.st
	hc := st.hc
	hc.mu.Lock()
	if b.needsContinue {
		b.needsContinue = false
		if !st.closed && !b.closed {
			hc.write(func() error {
				if st.rstSent {
					return nil
				}
				hc.hbuf = hc.henc.status(hc.henc.begin(hc.hbuf[:0]), "100")
				return hc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: hc.hbuf, EndHeaders: true})
			}, true)
		}
	}
	for len(b.buf) == b.off && b.err == nil && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		hc.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if b.broken() {
		// A read deadline or a reset: what is buffered is not read.
		err := b.err
		hc.mu.Unlock()
		return 0, err
	}
	if len(b.buf) > b.off {
		n := copy(p, b.buf[b.off:])
		b.off += n
		if b.off == len(b.buf) {
			b.buf, b.off = b.buf[:0], 0
		}
		hc.giveBack(st, int64(n))
		hc.mu.Unlock()
		return n, nil
	}
	err := b.err
	if err == io.EOF {
		req := st.reqTrailer
		for _, f := range b.trailer {
			req[f.Name] = append(req[f.Name], f.Value)
		}
		b.trailer = nil
	}
	hc.mu.Unlock()
	return 0, err
}

// Close drops what the handler has not read; the client's window for it
// is given back to the connection.
func (b *h2Body) Close() error {
	hc := b.st.hc
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if unread := int64(len(b.buf) - b.off); unread > 0 {
		hc.giveBack(nil, unread)
	}
	b.buf, b.off = nil, 0
	b.cond.Broadcast()
	return nil
}

// h2Writer is an HTTP/2 request's http.ResponseWriter, used by the
// handler's goroutine alone. It answers as net/http's server does.
type h2Writer struct {
	st  *h2Stream
	req *http.Request

	header      http.Header // the handler's
	snap        h2Snap      // header as it was at WriteHeader
	status      int
	wroteHeader bool // WriteHeader called, explicitly or not
	sentHeader  bool // the HEADERS frame is written or on its way
	done        bool // the handler returned
	buf         []byte
	bufp        *[]byte // buf's pooled slice
	sentCL      int64   // the Content-Length the handler set, if any
	wrote       int64
	trailers    []string
	err         error
}

// Header returns the handler's header map, from a pool: the default
// security headers and an application's own make about 20 fields, which
// grew a new map of 16 twice for every response. After the handler
// returned, a map of its own is returned, as the lane does: the pooled one
// may serve another response by then.
func (w *h2Writer) Header() http.Header {
	if w.done {
		return http.Header{}
	}
	if w.header == nil {
		w.header = h2Headers.Get().(http.Header)
	}
	return w.header
}

func (w *h2Writer) WriteHeader(code int) {
	if !w.done {
		w.writeHeader(code)
	}
}

func (w *h2Writer) writeHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 {
		if code == http.StatusSwitchingProtocols {
			return // not in HTTP/2 (RFC 9113, 8.6)
		}
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if len(w.header) > 0 {
		w.snap.take(w.header)
	}
}

// h2Snap is the response's header as it was at WriteHeader: a shallow
// copy, so that later Set, Add and Del calls do not reach the response
// (the values themselves are not copied), as a list in a pooled slice,
// with what the HEADERS frame needs to know of it noted in the same pass.
// Copying the map into another map cost a hash and an insertion per field.
type h2Snap struct {
	fields  []h2Field
	fieldsp *[]h2Field // fields' pooled slice
	// Of the fields:
	hasCL, hasType, hasDate bool
	clen, encoding          string // the first values of Content-Length and Content-Encoding
	trailer                 []string
	connClose               bool // a Connection whose first value is "close"
}

type h2Field struct {
	k  string
	vv []string
}

func (s *h2Snap) take(h http.Header) {
	s.fieldsp = h2Snaps.Get().(*[]h2Field)
	f := (*s.fieldsp)[:0]
	for k, vv := range h {
		f = append(f, h2Field{k, vv})
		switch k {
		case "Content-Length":
			s.hasCL = true
			if len(vv) > 0 {
				s.clen = vv[0]
			}
		case "Content-Type":
			s.hasType = true
		case "Content-Encoding":
			if len(vv) > 0 {
				s.encoding = vv[0]
			}
		case "Date":
			s.hasDate = true
		case "Trailer":
			s.trailer = vv
		case "Connection":
			s.connClose = len(vv) > 0 && vv[0] == "close"
		}
	}
	s.fields = f
}

// release gives the slice back, emptied.
func (s *h2Snap) release() {
	if s.fieldsp != nil {
		if cap(s.fields) <= 64 {
			clear(s.fields)
			*s.fieldsp = s.fields[:0]
			h2Snaps.Put(s.fieldsp)
		}
	}
	*s = h2Snap{}
}

func (w *h2Writer) writeInformational(code int) {
	st, hc := w.st, w.st.hc
	h := w.header
	hc.write(func() error {
		if st.rstSent || st.gone.Load() {
			return nil
		}
		hc.hbuf = hc.henc.status(hc.henc.begin(hc.hbuf[:0]), strconv.Itoa(code))
		hc.encodeFields(h, nil)
		return hc.writeBlock(st.id, false)
	}, true)
}

func (w *h2Writer) Write(p []byte) (int, error) {
	if err := w.checkWrite(len(p)); err != nil {
		return 0, err
	}
	// As the bufio.Writer of net/http's server: a write that does not fit
	// what is left of the chunk fills it and sends it, and one that finds
	// the chunk empty goes as it is.
	nn := 0
	for len(p) > h2ChunkSize-len(w.buf) && w.err == nil {
		var n int
		if len(w.buf) == 0 {
			n, w.err = w.chunk(p)
		} else {
			n = copy(w.buf[len(w.buf):h2ChunkSize], p)
			w.buf = w.buf[:h2ChunkSize]
			w.err = w.flushBuf()
		}
		nn += n
		p = p[n:]
	}
	if w.err != nil {
		return nn, w.err
	}
	if w.buf == nil {
		w.getBuf()
	}
	w.buf = append(w.buf, p...)
	return nn + len(p), nil
}

func (w *h2Writer) WriteString(s string) (int, error) {
	if len(s) > h2ChunkSize-len(w.buf) {
		return w.Write([]byte(s))
	}
	if err := w.checkWrite(len(s)); err != nil {
		return 0, err
	}
	if w.buf == nil {
		w.getBuf()
	}
	w.buf = append(w.buf, s...)
	return len(s), nil
}

// checkWrite does what net/http's server checks before a write of n bytes.
func (w *h2Writer) checkWrite(n int) error {
	if w.done {
		return errH2LateWrite
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return http.ErrBodyNotAllowed
	}
	w.wrote += int64(n)
	if w.sentCL != 0 && w.wrote > w.sentCL {
		return errors.New("http2: handler wrote more than declared Content-Length")
	}
	if w.err != nil {
		return w.err
	}
	return nil
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func (w *h2Writer) flushBuf() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.chunk(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *h2Writer) Flush() { w.FlushError() }

func (w *h2Writer) FlushError() error {
	if w.done {
		return errH2LateWrite
	}
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		w.err = w.flushBuf()
	} else {
		_, w.err = w.chunk(nil)
	}
	return w.err
}

// EnableFullDuplex: HTTP/2 streams always are.
func (w *h2Writer) EnableFullDuplex() error { return nil }

func (w *h2Writer) SetReadDeadline(t time.Time) error {
	st := w.st
	hc := st.hc
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if st.readTimer != nil {
		st.readTimer.Stop()
		st.readTimer = nil
	}
	if st.closed || st.body == nil || t.IsZero() {
		return nil
	}
	if time.Until(t) <= 0 {
		// Already passed: the reads after this call fail, as with
		// net/http's server, not once a timer's goroutine has run.
		if b := st.body; b.err == nil {
			b.fail(fmt.Errorf("listen: HTTP/2 request body: %w", os.ErrDeadlineExceeded))
		}
		return nil
	}
	st.readTimer = time.AfterFunc(time.Until(t), st.onReadTimeout)
	return nil
}

func (w *h2Writer) SetWriteDeadline(t time.Time) error {
	st := w.st
	hc := st.hc
	hc.mu.Lock()
	if st.writeTimer != nil {
		st.writeTimer.Stop()
		st.writeTimer = nil
	}
	passed := !t.IsZero() && time.Until(t) <= 0
	if !st.closed && !t.IsZero() && !passed {
		st.writeTimer = time.AfterFunc(time.Until(t), st.onWriteTimeout)
	}
	hc.mu.Unlock()
	if passed {
		// Already passed: the stream is reset before this returns, as
		// net/http's server does, so the writes after it fail.
		st.onWriteTimeout()
	}
	return nil
}

// finish ends the response when the handler returns.
func (w *h2Writer) finish() {
	if w.done {
		return
	}
	w.done = true
	if w.err == nil {
		if len(w.buf) > 0 {
			w.err = w.flushBuf()
		} else {
			_, w.err = w.chunk(nil)
		}
	}
	w.release()
}

// A response's chunk buffer and header snapshot are pooled: the handler
// never sees either, and both are done with when the response is.
var (
	h2Chunks = sync.Pool{New: func() any { b := make([]byte, 0, h2ChunkSize); return &b }}
	h2Snaps  = sync.Pool{New: func() any { f := make([]h2Field, 0, 32); return &f }}
	// h2Headers holds the handlers' header maps (Header).
	h2Headers = sync.Pool{New: func() any { return make(http.Header, 32) }}
)

func (w *h2Writer) getBuf() {
	w.bufp = h2Chunks.Get().(*[]byte)
	w.buf = (*w.bufp)[:0]
}

// release returns the pooled buffer and snapshot, once the response is
// done (written, or abandoned after a panic).
func (w *h2Writer) release() {
	if w.bufp != nil {
		*w.bufp = w.buf[:0]
		h2Chunks.Put(w.bufp)
		w.bufp, w.buf = nil, nil
	}
	w.snap.release()
	if w.header != nil {
		if len(w.header) <= 64 {
			clear(w.header)
			h2Headers.Put(w.header)
		}
		w.header = nil
	}
}

// chunk sends p: the header block first if not yet sent, then p as DATA
// frames, then, once the handler is done, the trailers. It is net/http's
// writeChunk.
func (w *h2Writer) chunk(p []byte) (int, error) {
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if w.done {
		w.promoteTrailers()
	}
	st, hc := w.st, w.st.hc
	head := w.req.Method == http.MethodHead
	var hdr func() error
	if !w.sentHeader {
		w.sentHeader = true
		h := &w.snap
		var clen, ctype string
		// A Content-Length set to nil or "" suppresses the automatic one,
		// as net/http's does.
		noCL := h.hasCL
		if clen = h.clen; clen != "" {
			noCL = false
			if cl, err := strconv.ParseUint(clen, 10, 63); err == nil {
				w.sentCL = int64(cl)
			} else {
				clen = ""
			}
		}
		if clen == "" && !noCL && w.done && bodyAllowed(w.status) && (len(p) > 0 || !head) {
			clen = strconv.Itoa(len(p))
		}
		if !h.hasType && h.encoding == "" && bodyAllowed(w.status) && len(p) > 0 {
			ctype = http.DetectContentType(p)
		}
		for _, v := range h.trailer {
			for k := range strings.SplitSeq(v, ",") {
				w.declareTrailer(strings.TrimSpace(k))
			}
		}
		if h.connClose {
			hc.goAway(http2.ErrCodeNo, false)
		}
		status := w.status
		end := w.done && len(w.trailers) == 0 && len(p) == 0 || head
		fields, hasDate := h.fields, h.hasDate
		hdr = func() error {
			hc.hbuf = hc.henc.status(hc.henc.begin(hc.hbuf[:0]), statusText(status))
			for _, f := range fields {
				hc.encodeField(f.k, f.vv)
			}
			if ctype != "" {
				hc.hbuf = hc.henc.field(hc.hbuf, "Content-Type", ctype)
			}
			if clen != "" {
				hc.hbuf = hc.henc.literal(hc.hbuf, hpackContentLength, clen)
			}
			if !hasDate {
				hc.hbuf = hc.henc.literal(hc.hbuf, hpackDate, dateOf(time.Now()).text)
			}
			if end {
				st.endSent.Store(true)
			}
			return hc.writeBlock(st.id, end)
		}
		if end {
			return 0, w.send(hdr)
		}
	}
	if head {
		return len(p), nil
	}
	if len(p) == 0 && !w.done {
		if hdr != nil {
			return 0, w.send(hdr)
		}
		return 0, nil
	}
	trailers := w.nonEmptyTrailers()
	end := w.done && !trailers
	if len(p) > 0 || end {
		if err := w.data(hdr, p, end); err != nil {
			return 0, err
		}
	} else if hdr != nil {
		if err := w.send(hdr); err != nil {
			return 0, err
		}
	}
	if w.done && trailers {
		h, keys := w.header, w.trailers
		err := w.send(func() error {
			hc.hbuf = hc.henc.begin(hc.hbuf[:0])
			hc.encodeFields(h, keys)
			st.endSent.Store(true)
			return hc.writeBlock(st.id, true)
		})
		return len(p), err
	}
	return len(p), nil
}

// send writes a header block (fn) on the connection and flushes.
func (w *h2Writer) send(fn func() error) error {
	st, hc := w.st, w.st.hc
	var gone bool
	err := hc.write(func() error {
		if st.rstSent || st.gone.Load() {
			gone = true
			return nil
		}
		return fn()
	}, true)
	if err != nil {
		return err
	}
	if gone {
		return errH2StreamClosed
	}
	return nil
}

// data writes p as DATA frames within the client's windows, after the
// header block hdr if it is not nil, ending the stream if end.
func (w *h2Writer) data(hdr func() error, p []byte, end bool) error {
	st, hc := w.st, w.st.hc
	for {
		n, more, err := hc.takeWindow(st, len(p), hdr == nil)
		if err != nil {
			return err
		}
		if n == 0 && len(p) > 0 {
			// No window yet: the header block goes alone.
			if err := w.send(hdr); err != nil {
				return err
			}
			hdr = nil
			continue
		}
		frame, last := p[:n], n == len(p)
		var gone bool
		// Only the last frame asks for a flush, or one that leaves no
		// window: the connection's buffer writes itself out as it fills,
		// but the client must see what it has room for before it grants
		// more.
		err = hc.write(func() error {
			if st.rstSent || st.gone.Load() {
				gone = true
				return nil
			}
			if hdr != nil {
				if err := hdr(); err != nil {
					return err
				}
			}
			if end && last {
				st.endSent.Store(true)
			}
			return hc.fr.WriteData(st.id, end && last, frame)
		}, last || !more)
		if err != nil {
			return err
		}
		if gone {
			return errH2StreamClosed
		}
		hdr = nil
		p = p[n:]
		if last {
			return nil
		}
	}
}

func (w *h2Writer) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if k == "" || !httpguts.ValidTrailerHeader(k) {
		return
	}
	if !slices.Contains(w.trailers, k) {
		w.trailers = append(w.trailers, k)
	}
}

// promoteTrailers makes the handler's "Trailer:"-prefixed fields trailers.
func (w *h2Writer) promoteTrailers() {
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			w.declareTrailer(name)
			w.header[http.CanonicalHeaderKey(name)] = vv
		}
	}
	if len(w.trailers) > 1 {
		slices.Sort(w.trailers)
	}
}

func (w *h2Writer) nonEmptyTrailers() bool {
	for _, k := range w.trailers {
		if _, ok := w.header[k]; ok {
			return true
		}
	}
	return false
}

// statusText is the :status value of code.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}

// encodeFields encodes h's fields (only keys, if not nil) into hc.hbuf,
// leaving out the connection-specific ones HTTP/2 forbids (RFC 9113,
// 8.2.2), Content-Length (the caller adds its own), and names and values
// that are not valid. hc.wmu is held.
func (hc *h2Conn) encodeFields(h http.Header, keys []string) {
	if keys != nil {
		for _, k := range keys {
			hc.encodeField(k, h[k])
		}
		return
	}
	for k, vv := range h {
		hc.encodeField(k, vv)
	}
}

func (hc *h2Conn) encodeField(k string, vv []string) {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Content-Length":
		return
	}
	for _, v := range vv {
		hc.hbuf = hc.henc.field(hc.hbuf, k, v)
	}
}

// writeBlock writes hc.hbuf as a HEADERS frame and as many CONTINUATION
// frames as the client's frame size asks. hc.wmu is held.
func (hc *h2Conn) writeBlock(id uint32, end bool) error {
	block := hc.hbuf
	max := hc.wMaxFrame
	first := true
	for {
		frag := block
		if len(frag) > max {
			frag = frag[:max]
		}
		block = block[len(frag):]
		last := len(block) == 0
		var err error
		if first {
			err = hc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: last})
		} else {
			err = hc.fr.WriteContinuation(id, last, frag)
		}
		if err != nil || last {
			return err
		}
		first = false
	}
}
