package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	seednginx "github.com/rampart-dev/rampart/examples/seed/nginx"
)

// The "nginx" target is the seed's configuration (examples/seed/nginx,
// rendered on loopback with a private prefix), with two departures, each
// to compare like with like:
//
//   - upstream keep-alive (keepalive 64, HTTP/1.1 to the upstream): rampart
//     reuses its upstream connections; the seed's nginx opened one per
//     request;
//   - keepalive_requests: nginx closes a client connection after 1000
//     requests by default, over HTTP/1.1 and HTTP/2 alike; rampart (Go's
//     server) has no such limit. wrk reconnects, but h2load 1.52 does not
//     in a timed run: each client fails its in-flight streams at the
//     GOAWAY and stops, so after 1000 requests per connection nginx would
//     be measured idle. The limit is raised past anything a run sends.

// nginxKeepaliveRequests is the rendered configuration's keepalive_requests.
const nginxKeepaliveRequests = 10_000_000

// renderNginx returns the seed's nginx.conf for p with benchrun's
// keepalive_requests added to the http block.
func renderNginx(p seednginx.Params) ([]byte, error) {
	conf, err := seednginx.Render(p)
	if err != nil {
		return nil, err
	}
	const http = "\nhttp {\n"
	if n := strings.Count(string(conf), http); n != 1 {
		return nil, fmt.Errorf("rendered nginx.conf: %d http blocks, want 1", n)
	}
	directive := fmt.Sprintf("    # benchrun: no limit on requests per client connection, as rampart.\n    keepalive_requests %d;\n", nginxKeepaliveRequests)
	return []byte(strings.Replace(string(conf), http, http+directive, 1)), nil
}

// nginxLogFlush is the flush= that goes with a -nginx-log-buffer: rampart's
// default flush interval for a buffered access log.
func nginxLogFlush(buffer string) string {
	if buffer == "" {
		return ""
	}
	return "100ms"
}

func startNginx(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error) {
	prefix := filepath.Join(dir, "nginx")
	if err := os.Mkdir(prefix, 0o755); err != nil {
		return nil, err
	}
	httpsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf, err := renderNginx(seednginx.Params{
		Prefix:     prefix,
		HTTPSAddr:  httpsAddr,
		HTTPAddr:   httpAddr,
		Upstream:   upstream,
		ServerName: c.host,
		CertFile:   certFile,
		KeyFile:    keyFile,
		// rampart reuses its upstream connections; the seed's nginx
		// opened one per request. Compare like with like.
		UpstreamKeepalive: 64,
		// A packaged nginx logs every request, as rampart does.
		AccessLog: true,
		// -nginx-log-buffer: what rampart does by default with a log
		// file, to compare like with like on that point too.
		AccessLogBuffer: c.nginxLogBuffer,
		AccessLogFlush:  nginxLogFlush(c.nginxLogBuffer),
	})
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, err
	}
	// In the foreground (the configuration says daemon off), never
	// touching /etc/nginx or the system's pid file.
	cmd := exec.Command(c.nginx, "-p", prefix+"/", "-c", confPath, "-e", filepath.Join(prefix, "error.log"))
	t, err := startChild(ctx, cmd, "nginx", filepath.Join(prefix, "stderr.log"), httpsAddr, c.host, c.path)
	if err != nil {
		return nil, fmt.Errorf("nginx -c %s: %w", confPath, err)
	}
	t.log = prefix
	t.version = strings.TrimPrefix(toolVersion(ctx, c.nginx, "-v"), "nginx version: ") // nginx/1.22.1
	return t, nil
}
