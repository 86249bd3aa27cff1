package listen

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A client sends one byte of a declared body and then nothing. A handler
// (the reverse proxy's transport, after its read failed) closes the body
// early; net/http then drains the rest of it, and that drain must still be
// bounded by the read timeout, not wait for the client forever.
func TestSlowBody_EarlyCloseStillBounded(t *testing.T) {
	closed := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1)
		r.Body.Read(b)
		closed <- r.Body.Close()
	})
	addr, _ := startServer(t, h, nil, Options{ReadTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
	select {
	case <-closed:
	case <-time.After(15 * time.Second): // guard only
		t.Fatal("closing a trickled body waits for the client forever")
	}
}

// An HTTP/2 client that grants a stream no flow-control window (SETTINGS
// INITIAL_WINDOW_SIZE 0, never a WINDOW_UPDATE) while it keeps the
// connection alive holds the response's writes forever: the connection's
// WriteByteTimeout never starts, since nothing can be written. The
// stream's write deadline must reset it and fail the handler's write.
func TestH2StalledStream_Reset(t *testing.T) {
	const timeout = 200 * time.Millisecond
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
	cfg, client := dualCertConfig(t)
	addr, _ := startServer(t, h, cfg, Options{WriteTimeout: timeout})
	fr := h2Dial(t, addr, client, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	// Before the request: the server's wait for window may start before
	// this goroutine runs again.
	start := time.Now()
	h2Request(t, fr, 1, true)
	reset := make(chan struct{})
	go h2ReadAll(fr, func(f http2.Frame) {
		if f, ok := f.(*http2.RSTStreamFrame); ok && f.StreamID == 1 {
			close(reset)
		}
	})
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("64 MB written to a stream with no flow-control window")
		}
		if d := time.Since(start); d < timeout {
			t.Errorf("write failed after %v, before the %v write timeout", d, timeout)
		}
	case <-time.After(15 * time.Second): // guard only
		t.Fatal("write to a stream with no window still blocked")
	}
	select {
	case <-reset:
	case <-time.After(15 * time.Second): // guard only
		t.Fatal("stream 1 never reset")
	}
}

// A request body trickled over HTTP/2, a byte every 20 ms, is cut at the
// read timeout, as over HTTP/1 (TestSlowBody_Disconnected); so is a body
// declared empty on a stream the client never ends.
func TestH2SlowBody_Disconnected(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name    string
		length  string
		trickle bool
	}{{"trickled", "1000", true}, {"open empty stream", "0", false}} {
		t.Run(tc.name, func(t *testing.T) {
			readErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := io.ReadAll(r.Body)
				readErr <- err
			})
			cfg, client := dualCertConfig(t)
			addr, _ := startServer(t, h, cfg, Options{ReadTimeout: timeout})
			fr := h2Dial(t, addr, client)
			h2Request(t, fr, 1, false, "content-length", tc.length)
			go h2ReadAll(fr, nil)
			if tc.trickle {
				go func() {
					for i := 0; i < 1000; i++ {
						if fr.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, []byte{'x'}) }) != nil {
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			}
			start := time.Now()
			select {
			case err := <-readErr:
				if err == nil {
					t.Fatal("body read to its end")
				}
				if d := time.Since(start); d < timeout/2 {
					t.Errorf("body read failed after %v, before the %v read timeout", d, timeout)
				}
			case <-time.After(15 * time.Second): // guard only
				t.Fatal("slow body still being read")
			}
		})
	}
}

// h2Dial opens an HTTP/2 connection to addr with the client preface and
// settings; the connection is closed with the test.
func h2Dial(t *testing.T, addr string, client *tls.Config, settings ...http2.Setting) *h2Client {
	t.Helper()
	client = client.Clone()
	client.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, http2.ClientPreface)
	fr := &h2Client{Framer: http2.NewFramer(c, c)}
	fr.WriteSettings(settings...)
	return fr
}

// h2Client is a client's framer; frames are written under wmu, by the test
// and by h2ReadAll's acknowledgements.
type h2Client struct {
	*http2.Framer
	wmu sync.Mutex
}

func (c *h2Client) write(f func(*http2.Framer) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return f(c.Framer)
}

// h2Request sends a request's HEADERS on stream id: a GET when end is
// true, else a POST whose body follows; extra are more header names and
// values.
func h2Request(t *testing.T, fr *h2Client, id uint32, end bool, extra ...string) {
	t.Helper()
	method := "POST"
	if end {
		method = "GET"
	}
	block := atkBlock(append([]string{":method", method, ":scheme", "https", ":authority", "localhost", ":path", "/"}, extra...)...)
	if err := fr.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: end})
	}); err != nil {
		t.Fatal(err)
	}
}

// h2ReadAll reads the server's frames until the connection ends,
// acknowledging settings and pings and granting no flow-control window;
// each frame also goes to seen, when not nil.
func h2ReadAll(fr *h2Client, seen func(http2.Frame)) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		}
		if seen != nil {
			seen(f)
		}
	}
}
