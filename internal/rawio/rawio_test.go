package rawio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every test runs on both kinds of connection: what Wrap returns must
// behave as the *net.TCPConn it wraps, error for error.
var kinds = []struct {
	name string
	wrap func(net.Conn) net.Conn
}{
	{"TCPConn", func(c net.Conn) net.Conn { return c }},
	{"rawio", Wrap},
}

// pair returns a connected loopback pair: c is wrapped, peer is not.
func pair(t testing.TB, wrap func(net.Conn) net.Conn) (c, peer *net.TCPConn, wrapped net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- a
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d.(*net.TCPConn), a.(*net.TCPConn), wrap(d)
}

func forKinds(t *testing.T, f func(t *testing.T, wrap func(net.Conn) net.Conn)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.wrap) })
	}
}

func TestConn_BytesBothWays(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		_, peer, c := pair(t, wrap)
		if _, err := peer.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := io.ReadAtLeast(c, buf, 18)
		if err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\n\r\n" {
			t.Fatalf("Read: %q, %v", buf[:n], err)
		}
		if n, err := c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")); n != 27 || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		n, err = io.ReadAtLeast(peer, buf, 27)
		if err != nil || string(buf[:n]) != "HTTP/1.1 204 No Content\r\n\r\n" {
			t.Fatalf("peer read: %q, %v", buf[:n], err)
		}
		if n, err := c.Read(nil); n != 0 || err != nil {
			t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
		}
		if n, err := c.Write(nil); n != 0 || err != nil {
			t.Errorf("Write(nil) = %d, %v; want 0, nil", n, err)
		}
	})
}

// A write much larger than the socket's buffers and than one raw call
// (maxRaw) goes out whole and in order while the peer reads slowly: the
// writer waits for the poller each time the buffer is full. So does a read
// into a buffer larger than maxRaw.
func TestConn_LargeWriteToASlowReader(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		tc, peer, c := pair(t, wrap)
		tc.SetWriteBuffer(16 << 10)
		peer.SetReadBuffer(16 << 10)
		data := make([]byte, 4<<20)
		for i := range data {
			data[i] = byte(i * 7 / 3)
		}
		done := make(chan error, 1)
		go func() {
			n, err := c.Write(data)
			if err == nil && n != len(data) {
				err = io.ErrShortWrite
			}
			c.(interface{ CloseWrite() error }).CloseWrite()
			done <- err
		}()
		h := sha256.New()
		buf := make([]byte, 3000)
		for {
			n, err := peer.Read(buf)
			h.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatal("the peer read other bytes than were written")
		}

		// And the other way, into one large buffer.
		go func() {
			peer.Write(data)
			peer.CloseWrite()
		}()
		got, err := io.ReadAll(struct{ io.Reader }{c})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes (%v), want the %d written", len(got), err, len(data))
		}
	})
}

func TestConn_EOF(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		_, peer, c := pair(t, wrap)
		peer.Write([]byte("last"))
		peer.Close()
		got, err := io.ReadAll(struct{ io.Reader }{c})
		if string(got) != "last" || err != nil {
			t.Fatalf("ReadAll = %q, %v", got, err)
		}
		if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("Read at the end = %d, %v; want 0, io.EOF", n, err)
		}
	})
}

// The attack: a peer that sends nothing, or reads nothing, to hold the
// gateway's goroutine forever. The deadline ends both waits, with the
// error the standard library gives.
func TestConn_DeadlinesEndAHangingPeer(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		tc, _, c := pair(t, wrap)
		tc.SetWriteBuffer(4 << 10)

		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.Read(make([]byte, 8))
		checkTimeout(t, "read", n, err)

		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err = c.Write(make([]byte, 64<<20))
		if n >= 64<<20 {
			t.Fatalf("Write to a peer that reads nothing wrote all %d bytes", n)
		}
		checkTimeout(t, "write", 0, err)
	})
}

func checkTimeout(t *testing.T, op string, n int, err error) {
	t.Helper()
	var ne net.Error
	var oe *net.OpError
	switch {
	case n != 0:
		t.Errorf("%s: n = %d, want 0", op, n)
	case !errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("%s: %v, want os.ErrDeadlineExceeded", op, err)
	case !errors.As(err, &ne) || !ne.Timeout():
		t.Errorf("%s: %v is not a net.Error with Timeout()", op, err)
	case !errors.As(err, &oe) || oe.Op != op:
		t.Errorf("%s: %#v, want a *net.OpError with Op %q", op, err, op)
	}
}

// The proxy's interrupt: a deadline in the past, set while a read or a
// write waits, ends it at once; so does Close.
func TestConn_InterruptAndCloseEndAWait(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		for _, stop := range []struct {
			name string
			f    func(net.Conn)
			want error
		}{
			{"deadline", func(c net.Conn) { c.SetDeadline(time.Unix(1, 0)) }, os.ErrDeadlineExceeded},
			{"close", func(c net.Conn) { c.Close() }, net.ErrClosed},
		} {
			t.Run(stop.name, func(t *testing.T) {
				tc, _, c := pair(t, wrap)
				tc.SetWriteBuffer(4 << 10)
				errs := make(chan error, 2)
				go func() { _, err := c.Read(make([]byte, 8)); errs <- err }()
				go func() { _, err := c.Write(make([]byte, 64<<20)); errs <- err }()
				time.Sleep(20 * time.Millisecond)
				stop.f(c)
				for range 2 {
					select {
					case err := <-errs:
						if !errors.Is(err, stop.want) {
							t.Errorf("got %v, want %v", err, stop.want)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("a waiting read or write did not end")
					}
				}
				if _, err := c.Read(make([]byte, 8)); !errors.Is(err, stop.want) {
					t.Errorf("a later read: %v, want %v", err, stop.want)
				}
			})
		}
	})
}

// A reset connection reports ECONNRESET to a read and a reset or a broken
// pipe to a write (the proxy's isConnReset), as syscall errors inside a
// *net.OpError.
func TestConn_ResetByPeer(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		_, peer, c := pair(t, wrap)
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		_, err := c.Read(make([]byte, 8))
		var se *os.SyscallError
		if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &se) || se.Syscall != "read" {
			t.Errorf("read: %#v, want ECONNRESET from read", err)
		}
		var werr error
		for range 10 {
			if _, werr = c.Write([]byte("x")); werr != nil {
				break
			}
		}
		if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
			t.Errorf("write: %v, want EPIPE or ECONNRESET", werr)
		}
		var oe *net.OpError
		if !errors.As(werr, &oe) || oe.Op != "write" {
			t.Errorf("write: %#v, want a *net.OpError with Op write", werr)
		}
	})
}

// net.Conn allows concurrent calls: each Write goes out whole, never
// interleaved with another's bytes, and concurrent Reads each get their
// own bytes (run under the race detector in CI).
func TestConn_ConcurrentCalls(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		_, peer, c := pair(t, wrap)
		const writers, each, size = 8, 50, 100 << 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := bytes.Repeat([]byte{'a' + byte(w)}, size)
				for range each {
					if _, err := c.Write(msg); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		buf := make([]byte, size)
		for range writers * each {
			if _, err := io.ReadFull(peer, buf); err != nil {
				t.Fatal(err)
			}
			if bytes.Count(buf, buf[:1]) != size {
				t.Fatalf("one write's bytes came interleaved with another's")
			}
		}
		wg.Wait()

		go func() {
			for range writers * each {
				peer.Write(bytes.Repeat([]byte{'z'}, 100))
			}
			peer.CloseWrite()
		}()
		var total sync.Map
		for r := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 0
				b := make([]byte, 333)
				for {
					m, err := c.Read(b)
					n += m
					if bytes.Count(b[:m], []byte{'z'}) != m {
						t.Error("read bytes that were not sent")
					}
					if err != nil {
						break
					}
				}
				total.Store(r, n)
			}()
		}
		wg.Wait()
		sum := 0
		total.Range(func(_, v any) bool { sum += v.(int); return true })
		if sum != writers*each*100 {
			t.Errorf("the readers read %d bytes, want %d", sum, writers*each*100)
		}
	})
}

// Under the race detector, a write to the socket happens before the
// peer's read of those bytes, each way, as with a *net.TCPConn: a server
// that records something and then answers, and a test that reads the
// answer and then the record, is not a race. Run with -race, this fails
// if the wrapper's calls lose syscall's annotations.
func TestConn_SocketOrderSeenByTheRaceDetector(t *testing.T) {
	forKinds(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		_, peer, c := pair(t, wrap)
		var record []string // written on one side, read on the other, no lock
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 1)
			if _, err := io.ReadFull(c, buf); err != nil {
				done <- err
				return
			}
			_ = len(record) // the peer wrote it before its byte
			record = append(record, "answered")
			_, err := c.Write([]byte{'b'})
			done <- err
		}()
		record = append(record, "asked")
		if _, err := peer.Write([]byte{'a'}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatal(err)
		}
		if len(record) != 2 || record[1] != "answered" {
			t.Errorf("record %q", record)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestWrap_OnlyTCPConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Error("Wrap changed a connection that is not a *net.TCPConn")
	}
	tc, _, c := pair(t, Wrap)
	// The TCPConn's other methods stay reachable through the wrapper:
	// the listener's reset (SetLinger), the proxy's liveness check
	// (SyscallConn), net/http's half-close and sendfile.
	if _, ok := c.(interface{ SetLinger(int) error }); !ok {
		t.Error("SetLinger is missing")
	}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("CloseWrite is missing")
	}
	if _, ok := c.(syscall.Conn); !ok {
		t.Error("SyscallConn is missing")
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("ReadFrom is missing")
	}
	if c.LocalAddr().String() != tc.LocalAddr().String() {
		t.Error("LocalAddr differs")
	}
}

// BenchmarkPingPong sends 64 bytes each way per operation over loopback.
func BenchmarkPingPong(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			_, peer, c := pair(b, k.wrap)
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(peer, buf); err != nil {
						return
					}
					peer.Write(buf)
				}
			}()
			buf := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				c.Write(buf)
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
