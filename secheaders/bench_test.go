package secheaders

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter with a reusable header map, so the
// benchmark measures the middleware, not the recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func benchPolicy(b *testing.B, p Policy, path string) {
	m, err := New(p)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("ok")
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	req := httptest.NewRequest("GET", path, nil)
	req.TLS = &tls.ConnectionState{}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

func BenchmarkMiddleware_Default(b *testing.B) { benchPolicy(b, Policy{}, "/") }

func BenchmarkMiddleware_Routes(b *testing.B) {
	benchPolicy(b, Policy{Routes: []Route{
		{Prefix: "/admin/", Headers: Headers{FrameOptions: "DENY"}},
		{Prefix: "/embed/", CSP: map[string][]string{"frame-ancestors": {"https://partner.example"}}},
		{Prefix: "/static/", Headers: Headers{CrossOriginResourcePolicy: "cross-origin"}},
	}}, "/embed/../admin/users")
}

func BenchmarkMiddleware_Nonce(b *testing.B) {
	benchPolicy(b, Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true}}}, "/")
}
