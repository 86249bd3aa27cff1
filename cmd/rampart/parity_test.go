package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// `rampart config check` and `rampart serve` run the same validation: on
// every invalid configuration they report the same findings, each with
// file:line. A mistake that config check let through and serve refused at
// start (a bad header name in strip_request_headers, reported under a key
// that does not exist) is the defect this holds against.
func TestConfigCheckAndServeAgree(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"bad strip_request_headers name", "upstream:\n  url: http://127.0.0.1:5000\n  strip_request_headers: [X-Ok, \"Bad Name\", \"*\"]\n"},
		{"bad remove_response_headers pattern", "upstream:\n  url: http://127.0.0.1:5000\n  remove_response_headers: [X-*-Mid]\n"},
		{"negative upstream timeout", "upstream:\n  url: http://127.0.0.1:5000\n  max_idle_conns: -1\n"},
		{"header limit out of range", "upstream: {url: 'http://127.0.0.1:5000'}\nlisten:\n  max_header_bytes: 2m\n"},
		{"trust every proxy", "upstream: {url: 'http://127.0.0.1:5000'}\ntrusted_proxies: [\"::/0\"]\n"},
		{"unknown client IP header", "upstream: {url: 'http://127.0.0.1:5000'}\nclient_ip_header: True-Client-IP\n"},
		{"relaxed path prefix that is not a path", "upstream: {url: 'http://127.0.0.1:5000'}\npaths:\n  insecure_allow_encoded_slashes: [api]\n"},
		{"stream path with a dot segment", "upstream:\n  url: http://127.0.0.1:5000\n  insecure_stream_request_body_paths: [/upload/../login]\n"},
		{"log file that is a directory", "upstream: {url: 'http://127.0.0.1:5000'}\nlog:\n  access: {path: /}\n"},
		{"bad access log parameter", "upstream: {url: 'http://127.0.0.1:5000'}\nlog:\n  access: {keep_query_params: [\"a=b\"]}\n"},
		{"rule mixing a Redis zone and a local zone", "upstream: {url: 'http://127.0.0.1:5000'}\nratelimit:\n  zones:\n    shared: {rate: 10r/s, backend: 'redis://127.0.0.1:6379/0'}\n    local: {rate: 10r/s}\n  rules:\n    - prefix: /\n      limits: [{zone: shared}, {zone: local}]\n"},
		{"temporary directory missing", "upstream: {url: 'http://127.0.0.1:5000'}\nlimits:\n  body_temp_dir: /nonexistent/rampart-bodies\n"},
		{"users file missing", "upstream: {url: 'http://127.0.0.1:5000'}\nauth:\n  users_file: /nonexistent/users.yaml\n"},
		{"auth rule with a bad requirement", "upstream: {url: 'http://127.0.0.1:5000'}\nauth:\n  users_file: /nonexistent/users.yaml\n  rules:\n    - {prefix: /admin, require: admins}\n"},
		{"session shorter than its token", "upstream: {url: 'http://127.0.0.1:5000'}\nauth:\n  users_file: /nonexistent/users.yaml\n  session: {access_ttl: 2h, idle_timeout: 1h}\n"},
		{"identity header that is not a name", "upstream: {url: 'http://127.0.0.1:5000'}\nauth:\n  users_file: /nonexistent/users.yaml\n  headers: {user: \"X User\"}\n"},
		{"redis state URL with a password", "upstream: {url: 'http://127.0.0.1:5000'}\nauth:\n  users_file: /nonexistent/users.yaml\n  redis: {url: 'redis://:pw@127.0.0.1:6379/0'}\n"},
		{"csrf trusted origin with a path", "upstream: {url: 'http://127.0.0.1:5000'}\ncsrf:\n  trusted_origins: [https://app.example.com/x]\n"},
		{"csrf token without auth", "upstream: {url: 'http://127.0.0.1:5000'}\ncsrf:\n  token_prefixes: [/api/]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "rampart.yaml")
			os.WriteFile(cfg, []byte("hosts: [example.com]\nstate_dir: "+filepath.Join(dir, "state")+"\n"+tc.yaml), 0o600)
			var checkOut, checkErr, serveErr testenv.Buffer
			if code := run([]string{"config", "check", "--config", cfg}, &checkOut, &checkErr); code != 1 {
				t.Fatalf("config check: exit %d, want 1:\n%s%s", code, checkOut.String(), checkErr.String())
			}
			if code := run([]string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--http-listen", "off", "--admin-listen", "127.0.0.1:0"}, &checkErr, &serveErr); code != 1 {
				t.Fatalf("serve: exit %d, want 1:\n%s", code, serveErr.String())
			}
			check := findingLines(checkOut.String())
			serve := findingLines(serveErr.String())
			if len(check) == 0 {
				t.Fatalf("config check reported no error with file:line:\n%s", checkOut.String())
			}
			if strings.Join(check, "\n") != strings.Join(serve, "\n") {
				t.Errorf("config check and serve disagree:\ncheck:\n%s\nserve:\n%s", strings.Join(check, "\n"), strings.Join(serve, "\n"))
			}
		})
	}
}

var findingLine = regexp.MustCompile(`^\S*rampart\.yaml:\d+: error: .*`)

// findingLines are the error findings with file:line in a command's output.
func findingLines(out string) []string {
	var lines []string
	for l := range strings.SplitSeq(out, "\n") {
		if findingLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

// The warnings too: on a valid configuration that weakens defences,
// `config check` and the start of `rampart serve` report the same
// findings at the same file:line (serve logs them, then serves).
func TestConfigCheckAndServeAgreeOnWarnings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rampart.yaml")
	os.WriteFile(cfg, []byte("hosts: [localhost]\nstate_dir: "+filepath.Join(dir, "state")+"\n"+
		"tls: {insecure_dev_certificate: true}\nupstream:\n  url: http://127.0.0.1:5000\n  insecure_no_redirect_rewrite: true\n"+
		"listen:\n  read_header_timeout: 2m\nheaders:\n  referrer_policy: unsafe-url\n"), 0o600)
	var checkOut, checkErr testenv.Buffer
	if code := run([]string{"config", "check", "--config", cfg}, &checkOut, &checkErr); code != 0 {
		t.Fatalf("config check: exit %d:\n%s%s", code, checkOut.String(), checkErr.String())
	}
	var check []string
	for l := range strings.SplitSeq(checkOut.String(), "\n") {
		if m := checkWarning.FindStringSubmatch(l); m != nil {
			check = append(check, m[1]+" "+m[2])
		}
	}
	if len(check) < 4 {
		t.Fatalf("config check reported %d warnings, want 4:\n%s", len(check), checkOut.String())
	}

	var serveErr testenv.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--http-listen", "off", "--admin-listen", "127.0.0.1:0"}, io.Discard, &serveErr)
	}()
	for i := 0; !strings.Contains(serveErr.String(), `"rampart serving"`); i++ {
		if i == 400 {
			t.Fatalf("serve never started:\n%s", serveErr.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	awaitExit(t, exit, &serveErr)
	var serve []string
	for l := range strings.SplitSeq(serveErr.String(), "\n") {
		var rec struct{ Msg, Where, Key, Message string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "configuration warning" {
			serve = append(serve, filepath.Base(rec.Where)+" "+rec.Key+": "+rec.Message)
		}
	}
	if strings.Join(check, "\n") != strings.Join(serve, "\n") {
		t.Errorf("config check and serve disagree on warnings:\ncheck:\n%s\nserve:\n%s", strings.Join(check, "\n"), strings.Join(serve, "\n"))
	}
}

var checkWarning = regexp.MustCompile(`^\S*(rampart\.yaml:\d+): warning: (.*)$`)
