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
	"strconv"
	"time"
)

// serveLoop is -server loop: the least an HTTP/1.1 server can do around
// the gateway's handler, to measure what net/http's server costs. It is a
// measuring aid, not a server: one goroutine per connection reading
// requests with http.ReadRequest and calling the handler, whose response
// is gathered whole and written with a Content-Length; no timeouts, no
// request bodies beyond draining them, no Flush, Hijack or 1xx, no HTTP/2,
// none of the checks net/http makes on top of its parser. It answers the
// keep-alive GETs that wrk sends, and nothing else correctly.
//
// host replaces each request's Host, so that the gateway's host check sees
// its own listener's port.
func serveLoop(ln net.Listener, cfg *tls.Config, h http.Handler, host string) {
	serveEach(ln, cfg, func(c *tls.Conn) { serveLoopConn(c, h, host) })
}

// serveEach serves each connection ln accepts, over TLS, in a goroutine of
// its own, until ln is closed.
func serveEach(ln net.Listener, cfg *tls.Config, serve func(*tls.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(tls.Server(c, cfg))
	}
}

func serveLoopConn(c *tls.Conn, h http.Handler, host string) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return
	}
	st := c.ConnectionState()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	w := &loopWriter{h: make(http.Header, 32)}
	ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, c.LocalAddr())
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.RemoteAddr, req.Host, req.TLS = c.RemoteAddr().String(), host, &st
		req = req.WithContext(ctx)
		clear(w.h)
		w.status = 0
		w.body.Reset()
		h.ServeHTTP(w, req)
		io.Copy(io.Discard, req.Body)
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.h.Del("Content-Length")
		if _, ok := w.h["Date"]; !ok {
			w.h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
		}
		bw.WriteString("HTTP/1.1 " + strconv.Itoa(w.status) + " " + http.StatusText(w.status) + "\r\n")
		for k, vv := range w.h {
			for _, v := range vv {
				bw.WriteString(k + ": " + v + "\r\n")
			}
		}
		bw.WriteString("Content-Length: " + strconv.Itoa(w.body.Len()) + "\r\n\r\n")
		bw.Write(w.body.Bytes())
		if bw.Flush() != nil {
			return
		}
	}
}

// loopWriter gathers a response: its header, its final status, its body.
type loopWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *loopWriter) Header() http.Header { return w.h }

func (w *loopWriter) WriteHeader(code int) {
	if code >= 200 && w.status == 0 {
		w.status = code
	}
}

func (w *loopWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}
