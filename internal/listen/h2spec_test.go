package listen

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// TestH2Spec runs h2spec, the HTTP/2 conformance suite (RFC 7540/9113 and
// RFC 7541, 145 cases: frame, stream-state, flow-control, settings and
// HPACK errors and how a server must answer them), against rampart's
// HTTP/2 server. scripts/test installs it (v2.2.1, with the dependencies
// tools/h2spec/go.mod pins: cd tools/h2spec && go install tool). Go's HTTP/2
// server fails four of its cases (it refuses SETTINGS with a repeated
// setting, and answers a connection-specific field or a TE other than
// "trailers" with 400 and nothing more, and a HEADERS frame over the
// maximum frame size without the expected error).
//
// The handler answers 7 KiB after 50 ms: several cases send a request and then
// the frames under test (WINDOW_UPDATE, SETTINGS) on its stream, and
// expect them to reach a stream that is still open; an answer written at
// once could close the stream first. The delay orders the frames; nothing
// is timed.
func TestH2Spec(t *testing.T) {
	h2spec := testenv.LookPath(t, "h2spec", "cd tools/h2spec && go install tool (scripts/test does)")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		// A page of some size: a case that sets the window negative
		// needs more than a few bytes to send (it is skipped otherwise).
		io.WriteString(w, strings.Repeat("h2spec\n", 1024))
	})
	cfg, _ := dualCertConfig(t)
	addr, _ := startServer(t, h, cfg, Options{})
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a guard only
	defer cancel()
	out, err := exec.CommandContext(ctx, h2spec, "-h", "127.0.0.1", "-p", port, "-t", "-k", "-o", "5").CombinedOutput()
	summary := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindSubmatch(out)
	if err != nil || summary == nil || string(summary[4]) != "0" || string(summary[3]) != "0" {
		t.Fatalf("h2spec: %v\n%s", err, failures(out))
	}
	t.Logf("h2spec: %s", summary[0])
}

// failures is h2spec's report from its list of failures on, or all of it.
func failures(out []byte) []byte {
	if i := regexp.MustCompile(`(?m)^Failures:`).FindIndex(out); i != nil {
		return out[i[0]:]
	}
	return out
}
