// Package testenv lets tests that need a real external component (nginx,
// chromium, python3-flask, redis-server) skip locally with a clear message
// when it is missing, and fail instead in CI, where RAMPART_TEST_REQUIRE_ALL=1
// promises that every component is installed.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireAll reports whether missing components must fail tests.
func RequireAll() bool { return os.Getenv("RAMPART_TEST_REQUIRE_ALL") == "1" }

// Missing skips t, or fails it when RequireAll is set, explaining what is
// missing and how to install it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("%s is required (RAMPART_TEST_REQUIRE_ALL=1) but missing; install: %s", what, install)
	}
	t.Skipf("skipping: %s not available (install: %s)", what, install)
}

// LookPath returns the path of the named program, or skips/fails t.
func LookPath(t testing.TB, prog, install string) string {
	t.Helper()
	for _, p := range []string{prog, "/usr/sbin/" + prog, "/usr/bin/" + prog} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	Missing(t, prog, install)
	return ""
}

// Redis returns the address of the local redis-server, or skips/fails t.
func Redis(t testing.TB) string {
	t.Helper()
	const addr = "127.0.0.1:6379"
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		Missing(t, "redis-server at "+addr, "apt-get install redis-server; .ci/run starts it")
		return ""
	}
	c.Close()
	return addr
}

// Listener is a loopback listener of the test's own, closed at its end:
// for a server (the admin listener) that tests run side by side, never on
// its default port.
func Listener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
