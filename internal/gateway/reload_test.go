package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/users"
)

// referrerPolicies are valid Referrer-Policy values: configuration n of a
// reload test sends the n-th, so a response says which configuration
// answered it.
var referrerPolicies = []string{"no-referrer", "same-origin", "strict-origin", "origin", "strict-origin-when-cross-origin", "no-referrer-when-downgrade"}

// rewrite replaces the harness's configuration file, keeping hosts, TLS,
// state and upstream, with extra as the rest.
func (h *harness) rewrite(extra string) {
	h.t.Helper()
	data, err := os.ReadFile(h.src.Path)
	if err != nil {
		h.t.Fatal(err)
	}
	// The first four lines are the harness's own (startFor).
	lines := strings.SplitN(string(data), "\n", 5)
	cfg := strings.Join(lines[:4], "\n") + "\n" + extra
	tmp := h.src.Path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.src.Path); err != nil {
		h.t.Fatal(err)
	}
}

// TestReload_UnderLoad: requests in a loop, over HTTP/2 on kept-alive
// connections and over HTTP/1.1 on a new TLS connection each, while the
// configuration is reloaded five times and the certificate files are
// replaced: no request fails, each reload's settings are in force as soon
// as Reload returns, new connections get the new certificate, and each
// reload is a sys_config_reload event.
func TestReload_UnderLoad(t *testing.T) {
	// The load is one client: the flood guard's default would stop it.
	const generous = "ratelimit:\n  zones: {all: {rate: 10000r/s}}\n  rules: [{prefix: /, limits: [{zone: all, burst: 10000, nodelay: true}]}]\n"
	h := start(t, upstream(t).URL, generous+"headers: {referrer_policy: "+referrerPolicies[0]+"}\n")
	next, err := testcert.Write(t.TempDir(), 90*24*time.Hour, "app.test")
	if err != nil {
		t.Fatal(err)
	}
	// Load clients trust the certificate before and after.
	trusted := func(cs tls.ConnectionState) error {
		leaf := cs.PeerCertificates[0]
		for _, roots := range []*x509.CertPool{h.pool, next.Roots} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "app.test"}); err == nil {
				return nil
			}
		}
		return errors.New("certificate not trusted")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := func(keepAlive bool) *http.Client {
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{ServerName: "app.test", InsecureSkipVerify: true, VerifyConnection: trusted},
			ForceAttemptHTTP2: keepAlive,
			DisableKeepAlives: !keepAlive,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, h.httpsAddr)
			},
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		c := client(i%2 == 0)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("https://app.test/api/x")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		})
	}

	fresh := client(false)
	for n := 1; n <= 5; n++ {
		// Each configuration serves a share of the load before the
		// next replaces it.
		for deadline := time.Now().Add(30 * time.Second); ok.Load() < int64(n)*200 && failed.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n == 3 {
			replaceFile(t, next.CertFile, h.certFile)
			replaceFile(t, next.KeyFile, h.keyFile)
		}
		h.rewrite(generous + "headers: {referrer_policy: " + referrerPolicies[n] + "}\n")
		if err := h.gw.ReloadConfig(context.Background(), h.src); err != nil {
			t.Fatalf("reload %d: %v", n, err)
		}
		resp, err := fresh.Get("https://app.test/api/x")
		if err != nil {
			t.Fatalf("after reload %d: %v", n, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Referrer-Policy"); got != referrerPolicies[n] {
			t.Errorf("after reload %d: Referrer-Policy %q, want %q", n, got, referrerPolicies[n])
		}
		serial := resp.TLS.PeerCertificates[0].SerialNumber
		if want := n >= 3; (serial.Cmp(next.Leaf.SerialNumber) == 0) != want {
			t.Errorf("after reload %d: new certificate served = %v, want %v", n, !want, want)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Error("no request was made during the reloads")
	}
	t.Logf("%d requests during 5 reloads, %d failed", ok.Load(), failed.Load())
	if n := strings.Count(h.errlog.String(), `"event.action":"sys_config_reload","event.category":"configuration","event.outcome":"success"`); n != 5 {
		t.Errorf("%d successful sys_config_reload events, want 5:\n%s", n, h.errlog.String())
	}
}

// replaceFile puts src's content at dst in one rename, as a deployment
// tool (or certbot's symlink swap) does.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(dst), ".new-"+filepath.Base(dst))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestReload_RefusedConfigurationKeepsRunning: a configuration with an
// error is refused with its file:line, the running one goes on serving,
// and the refusal is a failed sys_config_reload event; so is a change of
// a listener's address, which only a restart applies.
func TestReload_RefusedConfigurationKeepsRunning(t *testing.T) {
	h := start(t, upstream(t).URL, "headers: {referrer_policy: same-origin}\n")
	h.rewrite("headers: {referrer_policy: same-origin}\nratelimit:\n  zones: {api: {rate: fast}}\n")
	err := h.gw.ReloadConfig(context.Background(), h.src)
	if err == nil {
		t.Fatal("a configuration with an error was applied")
	}
	if !strings.Contains(h.errlog.String(), filepath.Base(h.src.Path)+":7") {
		t.Errorf("the refusal does not name the file and line (rampart.yaml:7):\n%s", h.errlog.String())
	}
	resp, _ := h.get("/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("after a refused reload: %d, Referrer-Policy %q", resp.StatusCode, resp.Header.Get("Referrer-Policy"))
	}

	h.rewrite("listen: {https: \"127.0.0.1:1\"}\nheaders: {referrer_policy: origin}\n")
	if err := h.gw.ReloadConfig(context.Background(), h.src); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("a listener address change: %v, want a refusal naming a restart", err)
	}
	resp, _ = h.get("/", nil)
	if resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("half of a refused configuration applied: Referrer-Policy %q", resp.Header.Get("Referrer-Policy"))
	}
	if n := strings.Count(h.errlog.String(), `"event.action":"sys_config_reload","event.category":"configuration","event.outcome":"failure"`); n != 2 {
		t.Errorf("%d failed sys_config_reload events, want 2:\n%s", n, h.errlog.String())
	}
}

// TestReload_KeepsRateLimitCounts: a client that used its burst before a
// reload is still limited after it when the zone did not change; a zone
// whose rate changed starts over.
func TestReload_KeepsRateLimitCounts(t *testing.T) {
	limits := func(rate, policy string) string {
		return "headers: {referrer_policy: " + policy + "}\nratelimit:\n  zones: {api: {rate: " + rate + "}}\n" +
			"  rules: [{prefix: /api/, limits: [{zone: api, burst: 2, nodelay: true}]}]\n"
	}
	h := start(t, upstream(t).URL, limits("1r/m", "same-origin"))
	for i := range 3 {
		if resp, _ := h.get("/api/x", nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	h.rewrite(limits("1r/m", "origin"))
	if err := h.gw.ReloadConfig(context.Background(), h.src); err != nil {
		t.Fatal(err)
	}
	resp, _ := h.get("/api/x", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Referrer-Policy") != "origin" {
		t.Errorf("after a reload keeping the zone: %d (Referrer-Policy %q), want 429 from the new configuration", resp.StatusCode, resp.Header.Get("Referrer-Policy"))
	}
	h.rewrite(limits("2r/m", "origin"))
	if err := h.gw.ReloadConfig(context.Background(), h.src); err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.get("/api/x", nil); resp.StatusCode != 200 {
		t.Errorf("after a reload changing the zone's rate: %d, want 200", resp.StatusCode)
	}
}

// TestReload_KeepsSessions: a session begun before a reload is still
// valid after it, and a logout after it is still enforced: the state
// store is handed over, not reopened.
func TestReload_KeepsSessions(t *testing.T) {
	c := newCluster(t)
	in := c.start("redis://"+testenv.Redis(t), "")
	ck := in.mustLogin("alice", alicePassword)
	in.src.Data = append(in.src.Data, []byte("headers: {referrer_policy: origin}\n")...)
	if err := in.gw.ReloadConfig(context.Background(), in.src); err != nil {
		t.Fatal(err)
	}
	if user, code := in.user(ck.access); code != 200 || user != "alice" {
		t.Errorf("after reload: %d %q, want alice's session to go on", code, user)
	}
	resp, next := in.refresh(ck.refresh)
	resp.Body.Close()
	if resp.StatusCode >= 400 || next.access == nil {
		t.Errorf("refresh after reload: %d", resp.StatusCode)
	}
}

// TestReloadHandler: the admin API reloads on a JSON POST only (a
// cross-site form cannot send one), answers 200 when the new
// configuration is in force and 422 when it was refused.
func TestReloadHandler(t *testing.T) {
	h := start(t, upstream(t).URL, "headers: {referrer_policy: same-origin}\n")
	api := httptest.NewServer(h.gw.ReloadHandler(h.src))
	defer api.Close()
	post := func(method, ct string) (int, string) {
		req, _ := http.NewRequest(method, api.URL+ReloadPath, strings.NewReader("{}"))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	h.rewrite("headers: {referrer_policy: origin}\n")
	for _, tc := range []struct {
		method, ct string
		want       int
	}{
		{"GET", "", 405},
		{"POST", "application/x-www-form-urlencoded", 415},
		{"POST", "text/plain", 415},
	} {
		if code, body := post(tc.method, tc.ct); code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.ct, code, body, tc.want)
		}
	}
	if resp, _ := h.get("/", nil); resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Fatal("a refused request reloaded the configuration")
	}
	if code, body := post("POST", "application/json"); code != 200 || !strings.Contains(body, `"reloaded":true`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	if resp, _ := h.get("/", nil); resp.Header.Get("Referrer-Policy") != "origin" {
		t.Error("the reload was not applied")
	}
	h.rewrite("headers: {referrer_policy: nonsense}\n")
	if code, body := post("POST", "application/json"); code != 422 || !strings.Contains(body, "referrer_policy") {
		t.Errorf("refused reload: %d %s", code, body)
	}
}

// TestReload_ReadsTheUsersFile: a user added to the users file can sign
// in after a reload, without waiting for the file's own check (set here
// to an hour, so only the reload can have read it).
func TestReload_ReadsTheUsersFile(t *testing.T) {
	c := newCluster(t)
	c.authExtra = "  users_reload_interval: 1h\n"
	in := c.start("redis://"+testenv.Redis(t), "")
	const carolPassword = "correct horse battery staple 3"
	if resp, _ := in.login("carol", carolPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("carol before she is added: %d", resp.StatusCode)
	}
	hash, err := users.Hash(carolPassword)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(c.users, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "  - name: carol\n    hash: '%s'\n    roles: []\n", hash)
	f.Close()
	if err := in.gw.ReloadConfig(context.Background(), in.src); err != nil {
		t.Fatal(err)
	}
	in.mustLogin("carol", carolPassword)
}

// The access log's buffer follows its file: a reload that moves the log
// writes what the buffer held into the old file first, and the reopen of
// SIGHUP (Reopen), which rotates the file in place, writes it out into the
// file being rotated. With a flush interval of 10 s, nothing else writes
// the lines out during the test. Requests go one after the other on one
// HTTP/1.1 connection: the server reads the second only once the first
// one's handler, and so its log line, is done.
func TestReload_BufferedAccessLogFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	logTo := func(path string) string {
		return "log:\n  access: {path: " + path + ", flush: 10s, compress: false}\n"
	}
	// contains reads the file and, with rotated, its rotated copies
	// (second-<time>.log).
	contains := func(path, what string, rotated bool) bool {
		files := []string{path}
		if rotated {
			more, _ := filepath.Glob(strings.TrimSuffix(path, ".log") + "-*.log")
			files = append(files, more...)
		}
		for _, f := range files {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), what) {
				return true
			}
		}
		return false
	}
	h := start(t, upstream(t).URL, logTo(first))
	inTurn := func(paths ...string) {
		t.Helper()
		c, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{RootCAs: h.pool, ServerName: "app.test", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for _, p := range paths {
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: app.test\r\n\r\n", p)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: status %d", p, resp.StatusCode)
			}
		}
	}
	inTurn("/before-the-reload", "/next")
	if contains(first, "/before-the-reload", false) {
		t.Fatal("the line reached the file before any flush: the log is not buffered")
	}
	h.rewrite(logTo(second))
	if err := h.gw.ReloadConfig(context.Background(), h.src); err != nil {
		t.Fatal(err)
	}
	if !contains(first, "/before-the-reload", false) {
		t.Errorf("the reload moved the log without writing out the old buffer")
	}
	inTurn("/after-the-reload", "/next")
	if contains(second, "/after-the-reload", true) {
		t.Fatal("the line reached the new file before any flush")
	}
	if err := h.gw.Reopen(); err != nil {
		t.Fatal(err)
	}
	if !contains(second, "/after-the-reload", true) || contains(first, "/after-the-reload", false) {
		t.Errorf("after Reopen: the line is not in the new log alone")
	}
}
