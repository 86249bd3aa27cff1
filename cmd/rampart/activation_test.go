package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// activate runs `rampart serve` under systemd-socket-activate, which binds
// the addresses and, on the first connection, starts rampart with them as
// systemd does (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES). The configured listen address is busy: only the passed
// sockets can be served.
func activate(t *testing.T, fdnames string, addrs ...string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	sa := testenv.LookPath(t, "systemd-socket-activate", "apt-get install systemd")
	bin, err := exec.LookPath("rampart") // the test binary, put on PATH by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	t.Cleanup(up.Close)
	state := t.TempDir()
	cfg := filepath.Join(state, "rampart.yaml")
	os.WriteFile(cfg, []byte("tls: {insecure_dev_certificate: true}\n"), 0o600)
	args := []string{}
	for _, a := range addrs {
		args = append(args, "-l", a)
	}
	args = append(args, "--fdname="+fdnames, bin, "serve", "--config", cfg, "--upstream", up.URL, "--host", "localhost",
		"--listen", busy.Addr().String(), "--http-listen", "127.0.0.1:1", "--state-dir", state, "--admin-listen", "127.0.0.1:0")
	cmd := exec.Command(sa, args...)
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd, &stderr
}

// End to end with systemd's own implementation of the protocol: both
// sockets served, the redirect pointing at the passed HTTPS port.
func TestServe_SystemdSocketActivate(t *testing.T) {
	addrs := freeAddrs(t, 2)
	httpsAddr, httpAddr := addrs[0], addrs[1]
	cmd, stderr := activate(t, "https:http", httpsAddr, httpAddr)
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(url string) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		req.Host = "localhost"
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b), nil
	}
	var body string
	var err error
	for range 200 {
		if _, body, err = get("https://" + httpsAddr + "/"); err == nil {
			break
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body != "app" {
		t.Fatalf("HTTPS on the passed socket: %q, %v\n%s", body, err, stderr.String())
	}
	resp, _, err := get("http://" + httpAddr + "/x")
	if err != nil {
		t.Fatalf("HTTP on the passed socket: %v\n%s", err, stderr.String())
	}
	_, port, _ := net.SplitHostPort(httpsAddr)
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != "https://localhost:"+port+"/x" {
		t.Errorf("redirect: %d %q, want https://localhost:%s/x", resp.StatusCode, loc, port)
	}
	out := stderr.String()
	for _, want := range []string{"socket activation: serving HTTPS", "socket activation: serving the redirect", `"https":"` + httpsAddr} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// A socket under a name rampart does not serve is refused at start.
func TestServe_SystemdSocketActivateUnknownName(t *testing.T) {
	addrs := freeAddrs(t, 2)
	addr := addrs[0]
	cmd, stderr := activate(t, "https:admin", addr, addrs[1])
	// systemd-socket-activate starts rampart on the first connection.
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), `socket named "admin"`) {
			t.Errorf("exit %v:\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("still running with an unknown socket:\n%s", stderr.String())
	}
}
