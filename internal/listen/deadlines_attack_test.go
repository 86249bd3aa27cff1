package listen

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
