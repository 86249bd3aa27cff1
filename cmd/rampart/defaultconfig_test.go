package main

import (
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// rampart demo is zero-config: a rampart.yaml in the working directory,
// here one that serve would refuse, neither changes nor breaks it.
func TestDemo_IgnoresRampartYAMLInTheWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	bad := "hosts: [\"https://app.example\"]\nlisten: {https: 'not an address'}\nupstream: {url: 'ftp://x'}\n"
	if err := os.WriteFile(filepath.Join(dir, "rampart.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	addr := freeAddr(t)
	var stderr testenv.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"demo", "--listen", addr, "--http-listen", "off", "--admin-listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state")}, io.Discard, &stderr)
	}()
	// Serving, and past the signal handler's installation: the banner is
	// printed after it. (A TLS answer alone could come from another
	// test's process that took the same free port; a SIGTERM before the
	// handler would kill the test binary.)
	var err error
	for range 100 {
		var c *tls.Conn
		if c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
			c.Close()
			if strings.Contains(stderr.String(), "rampart demo is running") {
				break
			}
			err = errors.New("no banner yet")
		}
		select {
		case code := <-exit:
			t.Fatalf("the demo exited %d:\n%s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("the demo never answered: %v\n%s", err, stderr.String())
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	awaitExit(t, exit, &stderr)
	if strings.Contains(stderr.String(), "rampart.yaml") {
		t.Errorf("the demo mentions rampart.yaml:\n%s", stderr.String())
	}
}
