package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rampart's access log goes to a file beside nginx's, through the buffer
// rampart has by default for a file, as the report says: not to standard
// output (the process's log, unbuffered).
func TestStartRampart_AccessLogToABufferedFile(t *testing.T) {
	tg, dir, pair := startTarget(t, startRampart, config{host: "localhost", path: "/"})
	requestLogged(t, pair, tg.url+"buffered", filepath.Join(dir, "access.log"), `"path":"/buffered"`)
	if b, _ := os.ReadFile(filepath.Join(dir, "rampart.log")); strings.Contains(string(b), "/buffered") {
		t.Errorf("the access line went to rampart's standard output too:\n%s", b)
	}
	if !strings.Contains(accessLogs(config{}), "rampart through its default 64 KiB buffer") {
		t.Errorf("the report no longer says how rampart logs: %s", accessLogs(config{}))
	}
}
