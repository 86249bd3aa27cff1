package listen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2FuzzGuard bounds each wait of FuzzH2Server: a server that takes
// longer hangs.
const h2FuzzGuard = 5 * time.Second

// h2FuzzPing is the payload of the PING the fuzzer sends after its bytes.
var h2FuzzPing = [8]byte{'f', 'u', 'z', 'z', 'p', 'i', 'n', 'g'}

// FuzzH2Server writes the client preface and then any bytes to one of
// rampart's HTTP/2 connections (serveConn over a net.Pipe), whose handler
// echoes the request body, and checks that the server neither panics nor
// hangs: when the bytes end on a frame boundary, a PING sent after them
// is answered or the connection ends; the server reads everything it is
// sent or closes; once the client closes, the connection and all its
// handlers end. And that every frame the server sends is well formed (it
// is read with an http2.Framer that decodes the header blocks).
func FuzzH2Server(f *testing.F) {
	for _, seed := range h2FuzzSeeds(f) {
		f.Add(seed)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Read")
		if r.URL.Path == "/big" {
			// More than the client's initial window: the handler waits
			// for WINDOW_UPDATE frames.
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), 8<<10))
		}
		n, err := io.Copy(w, r.Body)
		w.Header().Set("X-Read", strconv.FormatInt(n, 10)+" "+strconv.FormatBool(err == nil))
	})
	// Short timeouts: a handler waits at most this long for a body or for
	// flow-control window.
	o := Options{ReadHeaderTimeout: time.Second, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, IdleTimeout: time.Second}.withDefaults()
	f.Fuzz(func(t *testing.T, b []byte) {
		srv := newH2Server(handler, http.HandlerFunc(plainRejection), o, func(client, kind string) {})
		client, server := net.Pipe()
		served := make(chan struct{})
		go func() {
			defer close(served)
			srv.serveConn(context.Background(), server, nil, nil)
		}()
		defer client.Close()
		client.SetDeadline(time.Now().Add(4 * h2FuzzGuard)) // past every wait below

		// The server's frames, read to the end; answered is closed when
		// the PING is acknowledged or the connection ends (h2FuzzRead).
		answered, readDone := make(chan struct{}), make(chan struct{})
		badFrame := make(chan error, 1)
		go func() {
			defer close(readDone)
			h2FuzzRead(client, answered, badFrame)
		}()

		if _, err := io.WriteString(client, http2.ClientPreface); err != nil {
			t.Fatalf("preface not read: %v", err)
		}
		// The preface was read, so serveConn registered the connection.
		srv.mu.Lock()
		var hc *h2Conn
		for c := range srv.conns {
			hc = c
		}
		srv.mu.Unlock()

		if _, err := client.Write(b); h2FuzzTimeout(err) {
			t.Fatalf("the server stopped reading without closing\n%s", h2FuzzStacks())
		}
		if h2FuzzAligned(b) {
			fr := http2.NewFramer(client, nil)
			if err := fr.WritePing(false, h2FuzzPing); h2FuzzTimeout(err) {
				t.Fatalf("the server stopped reading without closing\n%s", h2FuzzStacks())
			}
			select {
			case <-answered:
			case <-time.After(h2FuzzGuard):
				t.Fatalf("PING neither answered nor the connection closed\n%s", h2FuzzStacks())
			}
		}
		// The handlers end by themselves, the connection still open: a
		// body not sent is cut at ReadTimeout, a response the client's
		// window holds back at WriteTimeout.
		h2FuzzHandlersEnd(t, hc, "with the connection open")
		client.Close()
		select {
		case <-served:
		case <-time.After(h2FuzzGuard):
			t.Fatalf("connection still served after the client closed\n%s", h2FuzzStacks())
		}
		h2FuzzHandlersEnd(t, hc, "after the connection ended")
		<-readDone // the client's end is closed: its reads fail at once
		select {
		case err := <-badFrame:
			t.Fatalf("the server sent a malformed frame: %v", err)
		default:
		}
	})
}

// h2FuzzHandlersEnd fails the test unless hc's handlers all end within
// the guard. Their count is polled: no event marks the last one's end.
func h2FuzzHandlersEnd(t *testing.T, hc *h2Conn, when string) {
	t.Helper()
	if hc == nil {
		return
	}
	deadline := time.Now().Add(h2FuzzGuard)
	for {
		hc.mu.Lock()
		running := hc.running
		hc.mu.Unlock()
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers still running %s\n%s", running, when, h2FuzzStacks())
		}
		time.Sleep(time.Millisecond)
	}
}

// h2FuzzRead reads the server's frames from c until the connection ends,
// closing answered at the PING's acknowledgement, at a GOAWAY for an
// error or at the end, and reporting a frame the Framer refuses to bad.
func h2FuzzRead(c net.Conn, answered chan struct{}, bad chan<- error) {
	fr := http2.NewFramer(nil, c)
	fr.SetMaxReadFrameSize(1<<24 - 1) // the client may have allowed any size
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 30
	done := false
	answer := func() {
		if !done {
			done = true
			close(answered)
		}
	}
	defer answer()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, io.ErrUnexpectedEOF) && !h2FuzzTimeout(err) {
				bad <- err
				io.Copy(io.Discard, c) // keep the server's writes flowing
			}
			return
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			if f.IsAck() && f.Data == h2FuzzPing {
				answer()
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				// The connection ends: the server only lingers to read
				// what the client still sends, until it closes.
				answer()
			}
		}
	}
}

func h2FuzzTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

func h2FuzzStacks() []byte {
	buf := make([]byte, 1<<20)
	return buf[:runtime.Stack(buf, true)]
}

// h2FuzzAligned reports whether b is whole frames with no header block
// left open: a frame sent after b is read as a frame of its own.
func h2FuzzAligned(b []byte) bool {
	open := false
	for len(b) > 0 {
		if len(b) < 9 {
			return false
		}
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		typ, flags := http2.FrameType(b[3]), http2.Flags(b[4])
		if len(b) < 9+n {
			return false
		}
		switch typ {
		case http2.FrameHeaders, http2.FramePushPromise, http2.FrameContinuation:
			open = !flags.Has(http2.FlagHeadersEndHeaders)
		}
		b = b[9+n:]
	}
	return !open
}

// h2FuzzSeeds are valid frame sequences, as a client would send them
// after the preface.
func h2FuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	add := func(frames func(fr *http2.Framer, hdr func(fields ...string) []byte)) {
		var buf, hbuf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		enc := hpack.NewEncoder(&hbuf)
		hdr := func(fields ...string) []byte {
			hbuf.Reset()
			for i := 0; i+1 < len(fields); i += 2 {
				enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
			}
			return bytes.Clone(hbuf.Bytes())
		}
		frames(fr, hdr)
		seeds = append(seeds, bytes.Clone(buf.Bytes()))
	}
	get := []string{":method", "GET", ":scheme", "https", ":authority", "a.test", ":path", "/"}
	post := []string{":method", "POST", ":scheme", "https", ":authority", "a.test", ":path", "/echo", "content-length", "5"}
	big := []string{":method", "GET", ":scheme", "https", ":authority", "a.test", ":path", "/big"}
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings()
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr(get...), EndHeaders: true, EndStream: true})
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr(post...), EndHeaders: true})
		fr.WriteData(1, true, []byte("hello"))
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr(post[:len(post)-2]...), EndHeaders: true})
		fr.WriteData(1, false, []byte("hel"))
		fr.WriteWindowUpdate(0, 1<<20)
		fr.WriteData(1, true, []byte("lo"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hdr(big...), EndHeaders: true, EndStream: true})
		fr.WriteWindowUpdate(3, 1<<20)
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr(big...), EndHeaders: true, EndStream: true})
		fr.WriteWindowUpdate(1, 100)
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hdr(get...), EndHeaders: true, EndStream: true})
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings()
		fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		fr.WriteSettingsAck()
		fr.WritePing(true, [8]byte{})
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		// A header block in a HEADERS and a CONTINUATION frame, a
		// request with trailers, a PRIORITY frame, then GOAWAY.
		fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
		block := hdr(append(post[:len(post)-2], "trailer", "x-t", "cookie", "a=1", "cookie", "b=2")...)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:5]})
		fr.WriteContinuation(1, true, block[5:])
		fr.WriteData(1, false, []byte("body"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr("x-t", "v"), EndHeaders: true, EndStream: true})
		fr.WritePriority(3, http2.PriorityParam{StreamDep: 1, Weight: 10})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hdr(get...), EndHeaders: true, EndStream: true})
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	})
	add(func(fr *http2.Framer, hdr func(...string) []byte) {
		fr.WriteSettings()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr(append(post, "expect", "100-continue")...), EndHeaders: true})
		fr.WriteData(1, false, []byte("hel"))
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteData(1, true, []byte("lo"))
	})
	if len(seeds) == 0 {
		tb.Fatal("no seeds")
	}
	return seeds
}
