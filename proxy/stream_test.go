package proxy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// hangGuard fails the test instead of hanging forever if a stream never
// arrives. It bounds a wait, it does not measure speed.
func hangGuard(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
}

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// TestProxy_WebSocketEcho: an Upgrade handshake passes through the proxy
// (and a ResponseWriter wrapper in front of it), the 101 response is
// cleaned of fingerprint headers, the upgrade request carries rampart's
// forwarding headers, and bytes flow both ways over the hijacked
// connections.
func TestProxy_WebSocketEcho(t *testing.T) {
	gotReq := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotReq <- r.Header.Clone()
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+wsAccept(r.Header.Get("Sec-WebSocket-Key"))+"\r\n"+
			"Server: echo/1.0\r\nX-Powered-By: ws\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 512)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			conn.Write(buf[:n])
		}
	}))
	t.Cleanup(up.Close)
	var results resultLog
	p, _, _ := testProxy(t, up.URL, Options{OnResult: results.add})
	h := withContext(p, "rid-ws", netip.MustParseAddr("203.0.113.5"))
	fe := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&statusWriter{ResponseWriter: w}, r)
	}))

	conn, err := net.Dial("tcp", mustURL(t, fe.URL).Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hangGuard(t, conn)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	if got := res.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
		t.Errorf("Sec-WebSocket-Accept %q", got)
	}
	if res.Header.Get("Server") != "" || res.Header.Get("X-Powered-By") != "" {
		t.Errorf("fingerprint headers on 101: %v", res.Header)
	}
	// Reported (for metrics) when the connection was taken, before the
	// 101 was written.
	if got := results.all(); len(got) != 1 || got[0].Status != http.StatusSwitchingProtocols || got[0].Failed {
		t.Errorf("OnResult got %+v, want one 101", got)
	}
	upHdr := <-gotReq
	if got := upHdr.Get("X-Forwarded-For"); got != "203.0.113.5" {
		t.Errorf("upgrade request X-Forwarded-For = %q", got)
	}
	for _, msg := range []string{"hello\n", "second message\n"} {
		io.WriteString(conn, msg)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading echo: %v", err)
		}
		if line != msg {
			t.Errorf("echo %q, want %q", line, msg)
		}
	}
}

// TestProxy_StreamingFlushes: server-sent events and chunked responses
// reach the client event by event: the upstream withholds the second
// event until the client has read the first, so a proxy that buffered
// would never deliver it.
func TestProxy_StreamingFlushes(t *testing.T) {
	for _, ctype := range []string{"text/event-stream", "application/octet-stream"} {
		t.Run(ctype, func(t *testing.T) {
			next := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ctype)
				io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "data: 2\n\n")
			}))
			t.Cleanup(up.Close)
			p, _, _ := testProxy(t, up.URL, Options{})
			fe := front(t, p)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // hang guard
			defer cancel()
			req := newRequest(t, "GET", fe.URL, nil).WithContext(ctx)
			res, err := fe.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for i, want := range []string{"data: 1\n", "\n", "data: 2\n"} {
				if i == 2 {
					close(next)
				}
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("line %d: %v (response buffered?)", i, err)
				}
				if line != want {
					t.Fatalf("line %d = %q, want %q", i, line, want)
				}
			}
		})
	}
}
