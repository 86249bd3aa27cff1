package gateway

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A client trickling a large or chunked body (slow POST, R.U.D.Y.) gets
// no upstream connection before its body is complete, whatever its size:
// the gateway buffers it (memory, then limits.body_temp_dir) within the
// listener's read timeout. A complete chunked body reaches the upstream
// with a Content-Length, and no temporary file stays behind.
func TestAttack_SlowLargeBodyHoldsUpstreamWorker(t *testing.T) {
	up := newRawUpstream(t)
	tmp := t.TempDir()
	h := start(t, up.url, fmt.Sprintf("listen: {read_timeout: 300ms}\nlimits: {body_memory_bytes: 4k, body_temp_dir: %q}\n", tmp))
	part := strings.Repeat("a", 10000)
	for _, raw := range []string{
		"POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 200000\r\n\r\n" + part,
		"POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n", len(part), part),
	} {
		for _, r := range h.rawExchange(raw) {
			if r.StatusCode == 200 {
				t.Errorf("incomplete body answered 200")
			}
		}
	}
	up.mu.Lock()
	started := up.started
	up.mu.Unlock()
	if started != 0 {
		t.Errorf("the upstream was sent %d requests whose body was not complete", started)
	}
	body := strings.Repeat("b", 100<<10)
	resps := h.rawExchange("POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body))
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("complete body: %v", resps)
	}
	reqs := up.requests()
	if len(reqs) != 1 || reqs[0].body != body {
		t.Fatalf("upstream got %d requests", len(reqs))
	}
	if cl := reqs[0].header["content-length"]; len(cl) != 1 || cl[0] != fmt.Sprint(len(body)) || reqs[0].header["transfer-encoding"] != nil {
		t.Errorf("upstream framing: %q", reqs[0].head)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("files left in body_temp_dir: %v", ents)
	}
}
