package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"sync/atomic"
	"testing"
	"time"
)

// watchedUpstream counts the TCP connections and requests it receives and
// answers with a description of the body it read.
type watchedUpstream struct {
	*httptest.Server
	conns    atomic.Int32
	requests atomic.Int32
	entered  chan struct{} // one value per request, when its handler starts
	onBody   func()        // called once the body is read, before answering
}

type bodyReport struct {
	Length           int64    `json:"length"`
	SHA256           string   `json:"sha256"`
	ContentLength    int64    `json:"content_length"`
	TransferEncoding []string `json:"transfer_encoding"`
	Expect           string   `json:"expect"`
}

func newWatchedUpstream(t *testing.T) *watchedUpstream {
	t.Helper()
	u := &watchedUpstream{entered: make(chan struct{}, 1000)}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		u.entered <- struct{}{}
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			return
		}
		if u.onBody != nil {
			u.onBody()
		}
		json.NewEncoder(w).Encode(bodyReport{Length: n, SHA256: hex.EncodeToString(h.Sum(nil)),
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Expect: r.Header.Get("Expect")})
	}))
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

// watchedFront serves p and reports, per request, when the proxy has read
// at least readMark bytes of its body and when ServeHTTP has returned (with
// the status it recorded).
type watchedFront struct {
	*httptest.Server
	readMark int64
	marked   chan struct{}
	done     chan int
}

func newWatchedFront(t *testing.T, h http.Handler, readMark int64) *watchedFront {
	t.Helper()
	f := &watchedFront{readMark: readMark, marked: make(chan struct{}, 1000), done: make(chan int, 1000)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				f.done <- -1
				return
			}
			f.done <- sw.code
		}()
		if r.Body != http.NoBody {
			r.Body = &markReader{ReadCloser: r.Body, mark: f.readMark, c: f.marked}
		}
		h.ServeHTTP(sw, r)
	}))
	t.Cleanup(f.Close)
	return f
}

type markReader struct {
	io.ReadCloser
	n, mark int64
	c       chan struct{}
	sent    bool
}

func (m *markReader) Read(p []byte) (int, error) {
	n, err := m.ReadCloser.Read(p)
	m.n += int64(n)
	if !m.sent && m.n >= m.mark {
		m.sent = true
		m.c <- struct{}{}
	}
	return n, err
}

// wait receives n values from c, failing the test rather than hanging
// forever if they never come. It bounds a wait; it measures nothing.
func wait[T any](t *testing.T, c <-chan T, n int, what string) []T {
	t.Helper()
	var got []T
	guard := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case v := <-c:
			got = append(got, v)
		case <-guard:
			t.Fatalf("gave up waiting for %s (%d of %d)", what, len(got), n)
		}
	}
	return got
}

// eventually polls cond until it holds, failing the test rather than
// hanging if it never does. It bounds a wait; it measures nothing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(guard) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rawClient is one client connection writing a request by hand.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", mustURL(t, url).Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hangGuard(t, c)
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) response() *http.Response {
	rc.t.Helper()
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatal(err)
	}
	return res
}

// chunk is one HTTP/1.1 chunk holding s.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// openBodyFiles lists the files named rampart-body-* in dir that this
// process has open, deleted or not, from /proc/self/fd. It skips the test
// where /proc is not available.
func openBodyFiles(t *testing.T, dir string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("open file descriptors are inspected through /proc/self/fd (Linux only)")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	var open []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, filepath.Join(dir, "rampart-body-")) {
			open = append(open, filepath.Join("/proc/self/fd", e.Name())+" -> "+target)
		}
	}
	return open
}

// dirEntries lists dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func decodeReport(t *testing.T, res *http.Response) bodyReport {
	t.Helper()
	defer res.Body.Close()
	var rep bodyReport
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}
