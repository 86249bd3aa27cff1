package listen

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// http.Transport may close a request body from one goroutine while its
// write loop reads it on another (the reverse proxy forwards the body this
// way); the deadline wrapper must stand that. Run with -race.
func TestDeadlineBody_ConcurrentReadAndClose(t *testing.T) {
	var done atomic.Bool
	rc := http.NewResponseController(httptest.NewRecorder())
	b := &deadlineBody{ReadCloser: io.NopCloser(strings.NewReader("")), rc: rc, done: &done}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.Read(make([]byte, 1)) }()
	go func() { defer wg.Done(); b.Close() }()
	wg.Wait()
	if !b.lifted.Load() {
		t.Error("read deadline not lifted after EOF and Close")
	}
}
