//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serveH2Loop is -server h2loop: the least an HTTP/2 server can do around
// the gateway's handler, to measure what net/http's HTTP/2 server costs,
// as loop.go does for HTTP/1.1. It is a measuring aid, not a server. It
// reads frames with golang.org/x/net/http2's Framer and decodes and encodes
// header blocks with its hpack package (the code net/http's server uses),
// runs each request in a goroutine of its own, as net/http does (its stack
// grown once at the start, as rampart's listener has it), and
// writes each response, whole, from that goroutine: its HEADERS and DATA
// frames go into the connection's buffer under a lock, and the last of the
// responses waiting for the lock flushes the buffer, so that the answers
// of concurrent streams leave in one write, as nginx's do. Where net/http
// writes every HEADERS frame and every flush from a goroutine started for
// it, and passes every frame through the connection's serve loop.
//
// What it leaves out: request bodies (a stream that does not end with its
// HEADERS is reset), flow control (its responses must fit the peer's
// windows; h2load's default windows are 1 GiB), priorities, trailers,
// Flush, 1xx, every limit and every timeout, and all of RFC 9113's
// defences. It answers h2load's GETs and nothing else correctly.
//
// host replaces each request's Host, as for -server loop.
func serveH2Loop(ln net.Listener, cfg *tls.Config, h http.Handler, host string) {
	serveEach(ln, cfg, func(c *tls.Conn) { serveH2LoopConn(c, h, host) })
}

// h2LoopConn is one connection's writing side.
type h2LoopConn struct {
	waiting atomic.Int32 // responses waiting for mu or writing
	mu      sync.Mutex   // guards what follows
	bw      *bufio.Writer
	fr      *http2.Framer
	enc     *hpack.Encoder
	block   bytes.Buffer // the header block being encoded
	err     error
}

func serveH2LoopConn(c *tls.Conn, h http.Handler, host string) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return
	}
	st := c.ConnectionState()
	br := bufio.NewReaderSize(c, 16<<10)
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	hc := &h2LoopConn{bw: bufio.NewWriterSize(c, 16<<10)}
	hc.fr = http2.NewFramer(hc.bw, br)
	hc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	hc.fr.MaxHeaderListSize = 32 << 10
	hc.enc = hpack.NewEncoder(&hc.block)
	hc.write(func() error {
		return hc.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	})
	ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, c.LocalAddr())
	remote := c.RemoteAddr().String()
	for {
		f, err := hc.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			id := f.StreamID
			if !f.StreamEnded() {
				hc.write(func() error { return hc.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream) })
				continue
			}
			req, ok := h2LoopRequest(f, host)
			if !ok {
				hc.write(func() error { return hc.fr.WriteRSTStream(id, http2.ErrCodeProtocol) })
				continue
			}
			req.RemoteAddr, req.TLS = remote, &st
			req = req.WithContext(ctx)
			go func() {
				growStack(0) // as rampart's listener does (internal/listen/stack.go)
				w := &loopWriter{h: make(http.Header, 32)}
				h.ServeHTTP(w, req)
				hc.respond(id, w)
			}()
		case *http2.SettingsFrame:
			if !f.IsAck() {
				hc.write(hc.fr.WriteSettingsAck)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				hc.write(func() error { return hc.fr.WritePing(true, data) })
			}
		case *http2.GoAwayFrame:
			return
		}
		if hc.failed() {
			return
		}
	}
}

// h2LoopRequest makes the request of a HEADERS frame.
func h2LoopRequest(f *http2.MetaHeadersFrame, host string) (*http.Request, bool) {
	path := f.PseudoValue("path")
	u, err := url.ParseRequestURI(path)
	if err != nil || f.PseudoValue("method") == "" {
		return nil, false
	}
	req := &http.Request{Method: f.PseudoValue("method"), URL: u, RequestURI: path, Proto: "HTTP/2.0",
		ProtoMajor: 2, Header: make(http.Header, len(f.Fields)), Host: host, Body: http.NoBody}
	for _, hf := range f.RegularFields() {
		k := http.CanonicalHeaderKey(hf.Name)
		req.Header[k] = append(req.Header[k], hf.Value)
	}
	return req, true
}

// write runs fn on the connection's writer, then flushes unless another
// response is waiting to write: the last one flushes for all.
func (hc *h2LoopConn) write(fn func() error) {
	hc.waiting.Add(1)
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.err == nil {
		hc.err = fn()
	}
	if hc.waiting.Add(-1) == 0 && hc.err == nil {
		hc.err = hc.bw.Flush()
	}
}

func (hc *h2LoopConn) failed() bool {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.err != nil
}

// respond writes the response w gathered for stream id.
func (hc *h2LoopConn) respond(id uint32, w *loopWriter) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	body := w.body.Bytes()
	hc.write(func() error {
		hc.block.Reset()
		hc.enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(w.status)})
		for k, vv := range w.h {
			switch k {
			case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Content-Length":
				continue
			}
			name := strings.ToLower(k)
			for _, v := range vv {
				hc.enc.WriteField(hpack.HeaderField{Name: name, Value: v})
			}
		}
		if _, ok := w.h["Date"]; !ok {
			hc.enc.WriteField(hpack.HeaderField{Name: "date", Value: time.Now().UTC().Format(http.TimeFormat)})
		}
		hc.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
		if err := hc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hc.block.Bytes(),
			EndStream: len(body) == 0, EndHeaders: true}); err != nil {
			return err
		}
		for len(body) > 0 {
			n := min(len(body), 16<<10)
			if err := hc.fr.WriteData(id, n == len(body), body[:n]); err != nil {
				return err
			}
			body = body[n:]
		}
		return nil
	})
}

// growStack takes an 8 KiB frame, so that a request's goroutine grows its
// stack once, while it is shallow, as internal/listen/stack.go has
// rampart's HTTP/2 requests do.
//
//go:noinline
func growStack(i int) byte {
	var b [8 << 10]byte
	b[i&(len(b)-1)] = 1
	return b[(i+1)&(len(b)-1)]
}
