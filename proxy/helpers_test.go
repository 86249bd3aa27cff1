package proxy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// seen is what the echo upstream reports about the request it received.
type seen struct {
	Host   string      `json:"host"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
}

// echoUpstream answers every request with a JSON description of it.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header})
	}))
	t.Cleanup(up.Close)
	return up
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// logBuffer is a concurrency-safe sink for a JSON slog handler.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testProxy builds a Proxy to upstream with o, logging into the returned
// buffers (error log, security log).
func testProxy(t *testing.T, upstream string, o Options) (*Proxy, *logBuffer, *logBuffer) {
	t.Helper()
	var errLog, secLog logBuffer
	o.Upstream = mustURL(t, upstream)
	if o.Logger == nil {
		o.Logger = errLog.logger()
	}
	if o.SecLog == nil {
		o.SecLog = seclog.New(secLog.logger())
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.CloseIdleConnections)
	return p, &errLog, &secLog
}

// withContext plays the pipeline stages in front of the proxy: a request
// id and, when client is valid, a resolved client address.
func withContext(next http.Handler, id string, client netip.Addr) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if id != "" {
			ctx = requestid.NewContext(ctx, id)
		}
		if client.IsValid() {
			ctx = clientip.NewContext(ctx, client)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// front serves h on a loopback test server.
func front(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// do sends req and decodes the echo upstream's report.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, seen) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s seen
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
			t.Fatalf("decoding upstream echo: %v", err)
		}
	}
	return res, s
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequest(method, url, nil)
	} else {
		req, err = http.NewRequest(method, url, bytes.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// newTLSFront serves h over TLS on loopback.
func newTLSFront(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewTLSServer(h)
	t.Cleanup(s.Close)
	return s
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
