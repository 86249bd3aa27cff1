package accesslog

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkMiddleware measures the whole cost the access log adds to a
// typical request: wrapper, context, record, JSON encoding, write.
func BenchmarkMiddleware(b *testing.B) {
	l, _ := New(Options{Writer: io.Discard, KeepQueryParams: []string{"page"}})
	body := []byte("hello")
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	r := httptest.NewRequest("GET", "https://example.com/api/items?page=2&q=abc", nil)
	r.RemoteAddr = "198.51.100.7:43210"
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	r.Header.Set("Referer", "https://example.com/items")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func BenchmarkRedactQuery(b *testing.B) {
	keep := []string{"page"}
	b.ReportAllocs()
	for b.Loop() {
		RedactQuery("page=2&q=some+search&token=abcdef0123456789", keep)
	}
}
