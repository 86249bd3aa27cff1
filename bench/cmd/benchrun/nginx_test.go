package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	seednginx "github.com/rampart-dev/rampart/examples/seed/nginx"
	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/internal/testenv"
)

func TestRenderNginx_NoRequestLimitPerConnection(t *testing.T) {
	conf, err := renderNginx(seednginx.Params{
		Prefix: "/tmp/benchrun-1/nginx", HTTPSAddr: "127.0.0.1:8443", HTTPAddr: "127.0.0.1:8080",
		Upstream: "127.0.0.1:5000", ServerName: "localhost", CertFile: "/tmp/c.pem", KeyFile: "/tmp/k.pem",
		UpstreamKeepalive: 64, AccessLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(conf)
	want := fmt.Sprintf("http {\n    # benchrun: no limit on requests per client connection, as rampart.\n    keepalive_requests %d;\n", nginxKeepaliveRequests)
	if strings.Count(s, "keepalive_requests") != 1 || !strings.Contains(s, want) {
		t.Errorf("keepalive_requests not set once at the top of the http block:\n%s", s)
	}
	// The seed's configuration is otherwise the rendered one.
	seed, _ := seednginx.Render(seednginx.Params{
		Prefix: "/tmp/benchrun-1/nginx", HTTPSAddr: "127.0.0.1:8443", HTTPAddr: "127.0.0.1:8080",
		Upstream: "127.0.0.1:5000", ServerName: "localhost", CertFile: "/tmp/c.pem", KeyFile: "/tmp/k.pem",
		UpstreamKeepalive: 64, AccessLog: true,
	})
	if got := strings.Replace(s, want, "http {\n", 1); got != string(seed) {
		t.Errorf("renderNginx changed more than keepalive_requests:\n%s", s)
	}
}

// nginx closes a connection after keepalive_requests (1000 by default) and
// h2load does not reconnect in a timed run: nginx would be measured idle
// once every client had sent 1000 requests. 2500 requests on one HTTP/2
// connection must all succeed.
func TestStartNginx_ManyRequestsOnOneHTTP2Connection(t *testing.T) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	h2load := testenv.LookPath(t, "h2load", h2loadInstall)
	dir := t.TempDir()
	pair, err := testcert.Write(dir, time.Hour, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer stopUpstream()
	ctx := context.Background()
	c := config{nginx: nginx, host: "localhost", path: "/"}
	tg, err := startNginx(ctx, c, dir, upstream, pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.stop()
	if err := sanityCheck(ctx, tg, pair.Roots, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, h2load, "-n2500", "-c1", "-m10", tg.url).CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	s, err := parseH2load(string(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.Succeeded != 2500 || s.Errored != 0 {
		t.Errorf("%d of 2500 requests succeeded, %d errored (logs: %s)\n%s", s.Succeeded, s.Errored, filepath.Join(dir, "nginx"), out)
	}
}
