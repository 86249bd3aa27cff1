package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (h *harness) accessLines() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.access.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			h.t.Fatalf("access log line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// waitLines waits for the access log to hold n lines: a record is written
// after the response, so it can trail the client by a moment.
func (h *harness) waitLines(n int) []map[string]any {
	h.t.Helper()
	for range 200 {
		if lines := h.accessLines(); len(lines) >= n {
			return lines
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("want %d access log lines, have:\n%s", n, h.access.String())
	return nil
}

// The seed's after_request logs request.path raw: %0a in a URL becomes a
// newline and a forged line. Here every request is exactly one JSON line
// with the real client address, whatever it sends.
func TestGateway_AccessLogInjectionAndSpoofing(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	forged := `/x%0a{"time":"2026-01-01T00:00:00Z","client_ip":"10.9.9.9","status":200}%0d`
	h.get(forged+"?token=s3cr3t&page=2", http.Header{
		"User-Agent":      {"curl\u0085{\"x\":1}"},
		"X-Forwarded-For": {"10.9.9.9"},
		"Cookie":          {"session=s3cr3t"},
		"Authorization":   {"Bearer s3cr3t"},
		"X-Request-Id":    {"chosen-by-client"},
	})
	lines := h.waitLines(1)
	if len(lines) != 1 {
		t.Fatalf("one request, %d lines:\n%s", len(lines), h.access.String())
	}
	l := lines[0]
	if l["client_ip"] != "127.0.0.1" {
		t.Errorf("client_ip = %v: spoofed or proxy address logged", l["client_ip"])
	}
	if raw := h.access.String(); strings.Contains(raw, "s3cr3t") {
		t.Errorf("a credential reached the access log: %s", raw)
	}
	if id, _ := l["request_id"].(string); id == "" || id == "chosen-by-client" {
		t.Errorf("request_id = %q: an untrusted client chose it", id)
	}
	for _, k := range []string{"time", "method", "host", "path", "status", "bytes", "duration_ms", "user_agent", "tls_version"} {
		if _, ok := l[k]; !ok {
			t.Errorf("access log lacks %q: %v", k, l)
		}
	}
}

// Rejections are logged like any response: the 429 and 502 of the
// pipeline appear in the access log with their status.
func TestGateway_AccessLogRecordsRejections(t *testing.T) {
	h := start(t, upstream(t).URL, "ratelimit:\n  zones: {z: {rate: 1r/m}}\n  rules: [{prefix: /, limits: [{zone: z, burst: 0, nodelay: true}]}]\n")
	h.get("/", nil)
	resp, _ := h.get("/", nil)
	if resp.StatusCode != 429 {
		t.Fatalf("want 429, got %d", resp.StatusCode)
	}
	lines := h.waitLines(2)
	if got := lines[1]["status"]; got != float64(429) {
		t.Errorf("second line status = %v", got)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("no X-Request-ID on the response")
	}
}

// After logrotate moves the access log away, Reopen (SIGHUP) makes rampart
// write to a fresh file at the configured path; nothing is lost.
func TestGateway_ReopenAfterLogrotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	h := start(t, upstream(t).URL, fmt.Sprintf("log:\n  access: {path: %q}\n", path))
	h.get("/before", nil)
	waitFile := func(p, want string) {
		t.Helper()
		for range 200 {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), want) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s never held %q", p, want)
	}
	waitFile(path, "/before")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := h.gw.Reopen(); err != nil {
		t.Fatal(err)
	}
	h.get("/after", nil)
	waitFile(path, "/after")
	if b, _ := os.ReadFile(path + ".1"); strings.Contains(string(b), "/after") {
		t.Error("wrote to the rotated-away file after Reopen")
	}
}
