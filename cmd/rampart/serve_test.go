package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n distinct free loopback addresses: each port is held
// until all are chosen, so that two calls cannot return the same one.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// SIGTERM stops `rampart serve` gracefully: a request in flight when the
// signal arrives completes, and the command exits 0.
func TestServe_SIGTERMDrainsInFlightRequests(t *testing.T) {
	started := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			time.Sleep(time.Second)
		}
		io.WriteString(w, "done")
	}))
	defer up.Close()
	state := t.TempDir()
	httpsAddr := freeAddr(t)
	args := []string{"serve", "--upstream", up.URL, "--host", "localhost", "--listen", httpsAddr,
		"--http-listen", "off", "--state-dir", state, "--admin-listen", "127.0.0.1:0"}
	os.WriteFile(filepath.Join(state, "rampart.yaml"), []byte("tls: {insecure_dev_certificate: true}\nratelimit: {rules: []}\n"), 0o600)
	args = append(args, "--config", filepath.Join(state, "rampart.yaml"))

	var stderr testenv.Buffer
	exit := make(chan int, 1)
	go func() { exit <- run(args, io.Discard, &stderr) }()

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	getWhileStarting(t, c, func() *http.Request {
		req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/", nil)
		return req
	}, exit, &stderr).Body.Close()
	// The dev certificate is for localhost: the Host must be a configured one.
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/slow", nil)
		req.Host = "localhost"
		resp, err := c.Do(req)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(body)
	}()
	<-started
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request cut by shutdown: %q", body)
	}
	awaitExit(t, exit, &stderr)
	if !strings.Contains(stderr.String(), "rampart stopped") {
		t.Errorf("no stop record:\n%s", stderr.String())
	}
}

// The SIGHUP loop ends with serve: signal.Stop never closes its channel.
func TestReloadOnHUP_EndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	reloaded := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		reloadOnHUP(ctx, hup, func() error { return nil }, func(context.Context) error { reloaded <- struct{}{}; return nil }, slog.New(slog.DiscardHandler))
		close(done)
	}()
	hup <- syscall.SIGHUP
	<-reloaded
	cancel()
	<-done
}

// A port already in use is reported before anything says rampart is
// serving, with how to find the program holding it.
func TestServe_PortInUseReportedBeforeServing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, "rampart.yaml"), []byte("tls: {insecure_dev_certificate: true}\n"), 0o600)
	var stderr testenv.Buffer
	code := run([]string{"serve", "--config", filepath.Join(state, "rampart.yaml"), "--upstream", "http://127.0.0.1:1",
		"--host", "localhost", "--listen", busy.Addr().String(), "--http-listen", "off", "--state-dir", state, "--admin-listen", "127.0.0.1:0"}, io.Discard, &stderr)
	out := stderr.String()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	if code != 1 || !strings.Contains(out, "address already in use") || !strings.Contains(out, "ss -ltnp 'sport = :"+port+"'") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	if strings.Contains(out, "rampart serving") {
		t.Errorf("said it was serving on a port it could not bind:\n%s", out)
	}
}

// Sockets passed by systemd are served instead of the plan's addresses:
// the configured listen address is busy, and rampart serves anyway.
func TestServe_SocketActivation(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	activated, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	orig := activatedListeners
	activatedListeners = func() (map[string]net.Listener, error) {
		return map[string]net.Listener{"https": activated}, nil
	}
	defer func() { activatedListeners = orig }()

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer up.Close()
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, "rampart.yaml"), []byte("tls: {insecure_dev_certificate: true}\n"), 0o600)
	var stderr testenv.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"serve", "--config", filepath.Join(state, "rampart.yaml"), "--upstream", up.URL,
			"--host", "localhost", "--listen", busy.Addr().String(), "--http-listen", "off", "--state-dir", state, "--admin-listen", "127.0.0.1:0"}, io.Discard, &stderr)
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp := getWhileStarting(t, c, func() *http.Request {
		req, _ := http.NewRequest("GET", "https://"+activated.Addr().String()+"/", nil)
		req.Host = "localhost"
		return req
	}, exit, &stderr)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "app" {
		t.Errorf("activated socket answered %q\n%s", body, stderr.String())
	}
	if !strings.Contains(stderr.String(), "socket activation: serving HTTPS") {
		t.Errorf("no activation record:\n%s", stderr.String())
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	awaitExit(t, exit, &stderr)
}

// A socket under another name is refused, and closed.
func TestPickActivated_UnknownNameRefused(t *testing.T) {
	a, _ := net.Listen("tcp", "127.0.0.1:0")
	b, _ := net.Listen("tcp", "127.0.0.1:0")
	_, _, err := pickActivated(map[string]net.Listener{"https": a, "admin": b})
	if err == nil || !strings.Contains(err.Error(), `"admin"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := a.Accept(); err == nil {
		t.Error("listener left open")
	}
	h, p, err := pickActivated(nil)
	if h != nil || p != nil || err != nil {
		t.Errorf("nothing passed: %v %v %v", h, p, err)
	}
}

// SIGHUP makes a running `rampart serve` read its configuration file again:
// a valid change is in force for the next request; an invalid one is
// refused, named in the log with its file:line, and the running
// configuration stays.
func TestServe_SIGHUPReloadsTheConfiguration(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer up.Close()
	state := t.TempDir()
	httpsAddr := freeAddr(t)
	conf := filepath.Join(state, "rampart.yaml")
	write := func(policy string) {
		os.WriteFile(conf, []byte("tls: {insecure_dev_certificate: true}\nratelimit: {rules: []}\nheaders: {referrer_policy: "+policy+"}\n"), 0o600)
	}
	write("same-origin")
	var stderr testenv.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"serve", "--config", conf, "--upstream", up.URL, "--host", "localhost", "--listen", httpsAddr,
			"--http-listen", "off", "--state-dir", state, "--admin-listen", "127.0.0.1:0"}, io.Discard, &stderr)
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	policy := func() string {
		req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/", nil)
		req.Host = "localhost"
		resp, err := c.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		resp.Body.Close()
		return resp.Header.Get("Referrer-Policy")
	}
	// Polls are bounded; nothing is timed.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for range 200 {
			if cond() {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: never happened\n%s", what, stderr.String())
	}
	waitFor("rampart serving", func() bool { return policy() == "same-origin" })

	write("origin")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("the new Referrer-Policy after SIGHUP", func() bool { return policy() == "origin" })

	write("nonsense")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("the refusal in the log", func() bool {
		return strings.Contains(stderr.String(), "configuration not reloaded") && strings.Contains(stderr.String(), "rampart.yaml:3")
	})
	if got := policy(); got != "origin" {
		t.Errorf("after a refused reload: Referrer-Policy %q, want the running origin", got)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	awaitExit(t, exit, &stderr)
}

// The README's first local run, as a new user types it: the development
// certificate switched on from the environment, issued for --host and
// written under --state-dir/dev-cert, where a client that trusts that one
// file (curl --cacert) verifies it for the name, and the request reaches
// the application.
func TestServe_READMELocalRunWithDevCertificate(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	defer up.Close()
	t.Setenv("RAMPART_TLS_INSECURE_DEV_CERTIFICATE", "true")
	dir := t.TempDir()
	t.Chdir(dir)
	addrs := freeAddrs(t, 2)
	httpsAddr, httpAddr := addrs[0], addrs[1]
	var stderr testenv.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"serve", "--listen", httpsAddr, "--http-listen", httpAddr, "--upstream", up.URL,
			"--host", "app.test", "--state-dir", "./state", "--admin-listen", "127.0.0.1:0"}, io.Discard, &stderr)
	}()
	var pool *x509.CertPool
	for range 200 {
		if pem, err := os.ReadFile(filepath.Join(dir, "state", "dev-cert", "cert.pem")); err == nil {
			pool = x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pool == nil {
		t.Fatalf("no ./state/dev-cert/cert.pem\n%s", stderr.String())
	}
	// curl --resolve app.test:PORT:127.0.0.1 --cacert ./state/dev-cert/cert.pem
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		}}}
	_, port, _ := net.SplitHostPort(httpsAddr)
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = c.Get("https://app.test:" + port + "/api/hello"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the README's curl: %v\n%s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from /api/hello" {
		t.Errorf("the README's curl: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(stderr.String(), "insecure_dev_certificate") {
		t.Errorf("the development certificate is not reported as a weakness at start-up:\n%s", stderr.String())
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	awaitExit(t, exit, &stderr)
}

// getWhileStarting sends the request newReq makes until an in-process
// `rampart serve` answers it, and fails the test if serve exits first; the
// attempts are bounded, not timed. The caller closes the body.
func getWhileStarting(t *testing.T, c *http.Client, newReq func() *http.Request, exit <-chan int, log *testenv.Buffer) *http.Response {
	t.Helper()
	var err error
	for range 100 {
		var resp *http.Response
		if resp, err = c.Do(newReq()); err == nil {
			return resp
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited %d:\n%s", code, log.String())
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("rampart never answered: %v\n%s", err, log.String())
	return nil
}

// awaitExit waits for an in-process `rampart serve` sent SIGTERM to end,
// and checks it ended well; the wait is bounded, not measured.
func awaitExit(t *testing.T, exit <-chan int, log *testenv.Buffer) {
	t.Helper()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d\n%s", code, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("rampart did not stop after SIGTERM")
	}
}

// A file access log is buffered by default; what the buffer holds when
// SIGTERM comes is written out before rampart exits.
func TestServe_BufferedAccessLogWrittenAtShutdown(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer up.Close()
	state := t.TempDir()
	accessLog := filepath.Join(state, "logs", "access.log")
	os.WriteFile(filepath.Join(state, "rampart.yaml"), []byte("tls: {insecure_dev_certificate: true}\nlog:\n  access: {path: "+accessLog+", flush: 10s}\n"), 0o600)
	ln := testenv.Listener(t)
	addr := ln.Addr().String()
	ln.Close()
	var stderr testenv.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"serve", "--config", filepath.Join(state, "rampart.yaml"), "--upstream", up.URL,
			"--host", "localhost", "--listen", addr, "--http-listen", "off", "--state-dir", state, "--admin-listen", "off"}, io.Discard, &stderr)
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp := getWhileStarting(t, c, func() *http.Request {
		req, _ := http.NewRequest("GET", "https://"+addr+"/written-at-shutdown", nil)
		req.Host = "localhost"
		return req
	}, exit, &stderr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, stderr.String())
	}
	if b, _ := os.ReadFile(accessLog); len(b) != 0 {
		t.Errorf("the line reached the file before the buffer was flushed: %q", b)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	awaitExit(t, exit, &stderr)
	b, err := os.ReadFile(accessLog)
	if err != nil || !strings.Contains(string(b), `"path":"/written-at-shutdown"`) {
		t.Errorf("access log after shutdown (%v):\n%s", err, b)
	}
}
