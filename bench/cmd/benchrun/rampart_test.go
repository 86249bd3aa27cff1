package main

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rampart's access log goes to a file beside nginx's, through the buffer
// rampart has by default for a file, as the report says: not to standard
// output (the process's log, unbuffered).
func TestStartRampart_AccessLogToABufferedFile(t *testing.T) {
	tg, dir, pair := startTarget(t, startRampart, config{host: "localhost", path: "/"})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Roots, ServerName: "localhost"}}, Timeout: 10 * time.Second}
	resp, err := client.Get(tg.url + "buffered")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(dir, "access.log")); strings.Contains(string(b), `"GET /buffered`) || strings.Contains(string(b), `"/buffered"`) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Fatalf("the request never reached rampart's access log file; it holds:\n%s", b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "rampart.log")); strings.Contains(string(b), "/buffered") {
		t.Errorf("the access line went to rampart's standard output too:\n%s", b)
	}
	if !strings.Contains(accessLogs(config{}), "rampart through its default 64 KiB buffer") {
		t.Errorf("the report no longer says how rampart logs: %s", accessLogs(config{}))
	}
}
