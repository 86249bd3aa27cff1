package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/requestid"
)

// discardWriter is a reusable ResponseWriter, so the benchmark measures the
// proxy and the loopback round trip rather than a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Server", "gunicorn")
		io.WriteString(w, "ok\n")
	}))
	b.Cleanup(up.Close)
	return up
}

// BenchmarkProxy measures one proxied GET through ServeHTTP to a trivial
// upstream over a loopback keep-alive connection, with a request id and a
// resolved client address in the context as in the gateway.
func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b)
	p, err := New(Options{Upstream: mustURL(b, up.URL), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.CloseIdleConnections)
	req := httptest.NewRequest("GET", "http://app.example/api/items?page=2", nil)
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Cookie", "session=abc")
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	ctx := requestid.NewContext(req.Context(), "0123456789abcdef")
	ctx = clientip.NewContext(ctx, netip.MustParseAddr("203.0.113.7"))
	req = req.WithContext(ctx)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		p.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkProxyEndToEnd adds a real client and front server: client →
// proxy → upstream, all over loopback keep-alive connections.
func BenchmarkProxyEndToEnd(b *testing.B) {
	up := benchUpstream(b)
	p, err := New(Options{Upstream: mustURL(b, up.URL), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.CloseIdleConnections)
	fe := httptest.NewServer(p)
	b.Cleanup(fe.Close)
	c := fe.Client()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Get(fe.URL + "/api/items")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}

// BenchmarkDirect is the baseline for BenchmarkProxyEndToEnd: the same
// client and upstream without the proxy in between.
func BenchmarkDirect(b *testing.B) {
	up := benchUpstream(b)
	c := up.Client()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Get(up.URL + "/api/items")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// BenchmarkProxyPOST measures one proxied POST through ServeHTTP, with the
// body buffered (the default) and streamed (InsecureStreamRequestBodies),
// for a form-sized body, a body that spills to a temporary file and a
// chunked one. The upstream reads and discards the body.
func BenchmarkProxyPOST(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok\n")
	}))
	b.Cleanup(up.Close)
	for _, mode := range []struct {
		name   string
		stream bool
	}{{"buffered", false}, {"streamed", true}} {
		p, err := New(Options{Upstream: mustURL(b, up.URL), Logger: discardLogger(),
			InsecureStreamRequestBodies: mode.stream, BodyTempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.CloseIdleConnections)
		for _, size := range []struct {
			name    string
			n       int
			chunked bool
		}{{"2KiB", 2 << 10, false}, {"1MiB", 1 << 20, false}, {"1MiB-chunked", 1 << 20, true}} {
			b.Run(mode.name+"/"+size.name, func(b *testing.B) {
				body := bytes.Repeat([]byte("x"), size.n)
				w := &discardWriter{h: make(http.Header)}
				rd := bytes.NewReader(body)
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("POST", "http://app.example/upload", nil)
					rd.Reset(body)
					req.Body = io.NopCloser(rd)
					req.ContentLength = int64(size.n)
					if size.chunked {
						req.ContentLength = -1
					}
					clear(w.h)
					p.ServeHTTP(w, req)
					if w.code != http.StatusOK {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		}
	}
}
