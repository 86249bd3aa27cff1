package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	seednginx "github.com/rampart-dev/rampart/examples/seed/nginx"
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
// h2load does not reconnect after the GOAWAY: nginx would be measured idle
// once every h2load client had sent 1000 requests. 2500 requests over
// HTTP/2 must all travel on one connection.
func TestStartNginx_ManyRequestsOnOneHTTP2Connection(t *testing.T) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	tg, dir, pair := startTarget(t, startNginx, config{nginx: nginx, host: "localhost", path: "/"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := url.Parse(tg.url)
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	tr := &http.Transport{
		ForceAttemptHTTP2: true,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			d := tls.Dialer{Config: &tls.Config{RootCAs: pair.Roots, ServerName: "localhost", NextProtos: []string{"h2"}}}
			return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", u.Port()))
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 2500 {
		req, _ := http.NewRequestWithContext(ctx, "GET", tg.url, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(body) != page {
			t.Fatalf("request %d: %s %s, %d bytes, %v; want the upstream's page over HTTP/2", i+1, resp.Proto, resp.Status, len(body), err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("2500 requests took %d connections, want 1: nginx closes connections after a number of requests (logs: %s)", n, filepath.Join(dir, "nginx"))
	}
}

// -nginx-log-buffer renders access_log with buffer= and flush=, which
// nginx accepts; the line reaches the file within the flush interval.
func TestStartNginx_BufferedAccessLog(t *testing.T) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	tg, dir, pair := startTarget(t, startNginx, config{nginx: nginx, host: "localhost", path: "/", nginxLogBuffer: "64k"})
	conf, _ := os.ReadFile(filepath.Join(dir, "nginx", "nginx.conf"))
	if !strings.Contains(string(conf), "access.log combined buffer=64k flush=100ms;") {
		t.Fatalf("no buffered access_log in:\n%s", conf)
	}
	u, _ := url.Parse(tg.url)
	requestLogged(t, pair, "https://127.0.0.1:"+u.Port()+"/buffered", filepath.Join(dir, "nginx", "access.log"), "GET /buffered ")
}
