// Package nginx holds the seed's nginx configuration (seed.conf, kept as its
// hardening guide wrote it) and renders it into a runnable nginx.conf on
// loopback addresses with a private prefix, so that benchmarks and parity
// tests run the seed's actual configuration next to rampart.
//
// Render only substitutes addresses, names and file paths; every directive of
// the seed, defects included, reaches nginx unchanged. The one optional
// departure is Params.UpstreamKeepalive, which the benchmark uses so that
// nginx, like rampart, reuses its upstream connections.
package nginx

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// SeedConf is the seed's http-level nginx configuration (seed.conf).
//
//go:embed seed.conf
var SeedConf string

// Params says where a rendered configuration listens, proxies and writes.
type Params struct {
	// Prefix is the directory holding the pid file, logs and nginx's
	// temporary files. Required; it must exist and be absolute.
	Prefix string

	// HTTPSAddr replaces the seed's "listen 443 ssl http2", e.g.
	// "127.0.0.1:8443". Required.
	HTTPSAddr string

	// HTTPAddr replaces the seed's "listen 80" (the 80 → 443 redirect
	// server), e.g. "127.0.0.1:8080". Required.
	HTTPAddr string

	// Upstream replaces the seed's application address 127.0.0.1:5000, as
	// host:port. Required.
	Upstream string

	// ServerName replaces the seed's example.com. Empty keeps example.com.
	ServerName string

	// CertFile and KeyFile replace /path/to/cert.pem and /path/to/key.pem.
	// Required.
	CertFile, KeyFile string

	// UpstreamKeepalive, when > 0, proxies through an upstream block with
	// that many idle keep-alive connections per worker, using HTTP/1.1
	// (proxy_http_version 1.1, Connection ""). Zero (the default) keeps the
	// seed's behaviour: one HTTP/1.0 connection per proxied request. Note
	// that in keepalive mode the seed's /api/ location, which sets no Host,
	// sends the upstream block's name as Host instead of 127.0.0.1:5000.
	UpstreamKeepalive int

	// WorkerProcesses is nginx's worker_processes. Empty means "auto", as
	// Debian's packaged nginx.conf sets it.
	WorkerProcesses string

	// AccessLog, when true, writes nginx's default combined access log to
	// Prefix/access.log, as a packaged nginx does. The default (false)
	// turns the access log off.
	AccessLog bool

	// AccessLogBuffer, with AccessLog, gathers lines in a buffer of this
	// nginx size ("64k") written out at the latest AccessLogFlush (an nginx
	// time, "100ms"; required with it) after a line enters it: access_log's
	// buffer= and flush=. The default writes each line as it comes, as
	// the seed does.
	AccessLogBuffer, AccessLogFlush string
}

// nginxSize and nginxTime are the forms AccessLogBuffer and AccessLogFlush
// take: nothing else can reach the directive.
var (
	nginxSize = regexp.MustCompile(`^[1-9][0-9]{0,6}[km]?$`)
	nginxTime = regexp.MustCompile(`^[1-9][0-9]{0,5}(ms|s|m)$`)
)

// upstreamName is the upstream block used when UpstreamKeepalive > 0.
const upstreamName = "seed_app"

// substitution is one literal text of seed.conf, how many times it must
// occur, and what replaces it. Render fails when a count is wrong, so an edit
// of seed.conf cannot silently leave a production path or port in place.
type substitution struct {
	old   string
	count int
	new   string
}

// Render returns a complete nginx.conf running the seed's configuration with
// p's addresses and paths.
func Render(p Params) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	serverName := p.ServerName
	if serverName == "" {
		serverName = "example.com"
	}
	workers := p.WorkerProcesses
	if workers == "" {
		workers = "auto"
	}
	proxyPass := "proxy_pass http://" + p.Upstream + ";"
	if p.UpstreamKeepalive > 0 {
		proxyPass = "proxy_pass http://" + upstreamName + ";\n" +
			"        proxy_http_version 1.1;\n" +
			"        proxy_set_header Connection \"\";"
	}
	subs := []substitution{
		{"listen 443 ssl http2;", 1, "listen " + p.HTTPSAddr + " ssl http2;"},
		{"listen 80;", 1, "listen " + p.HTTPAddr + ";"},
		{"server_name example.com;", 2, "server_name " + serverName + ";"},
		{"ssl_certificate /path/to/cert.pem;", 1, "ssl_certificate " + p.CertFile + ";"},
		{"ssl_certificate_key /path/to/key.pem;", 1, "ssl_certificate_key " + p.KeyFile + ";"},
		{"proxy_pass http://127.0.0.1:5000;", 2, proxyPass},
	}
	seed := SeedConf
	for _, s := range subs {
		if n := strings.Count(seed, s.old); n != s.count {
			return nil, fmt.Errorf("seed.conf: expected %q %d time(s), found %d", s.old, s.count, n)
		}
		seed = strings.ReplaceAll(seed, s.old, s.new)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Generated from examples/seed/nginx/seed.conf; edit that file, not this one.\n")
	fmt.Fprintf(&b, "daemon off;\n")
	fmt.Fprintf(&b, "worker_processes %s;\n", workers)
	fmt.Fprintf(&b, "pid %s/nginx.pid;\n", p.Prefix)
	fmt.Fprintf(&b, "error_log %s/error.log warn;\n", p.Prefix)
	fmt.Fprintf(&b, "events {\n    worker_connections 1024;\n}\n")
	fmt.Fprintf(&b, "http {\n")
	// The defaults of Debian's packaged /etc/nginx/nginx.conf that the
	// seed relied on without writing them.
	fmt.Fprintf(&b, "    sendfile on;\n    tcp_nopush on;\n    types_hash_max_size 2048;\n")
	fmt.Fprintf(&b, "    default_type application/octet-stream;\n")
	switch {
	case p.AccessLog && p.AccessLogBuffer != "":
		fmt.Fprintf(&b, "    access_log %s/access.log combined buffer=%s flush=%s;\n", p.Prefix, p.AccessLogBuffer, p.AccessLogFlush)
	case p.AccessLog:
		fmt.Fprintf(&b, "    access_log %s/access.log;\n", p.Prefix)
	default:
		fmt.Fprintf(&b, "    access_log off;\n")
	}
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s/%s_temp;\n", d, p.Prefix, d)
	}
	if p.UpstreamKeepalive > 0 {
		fmt.Fprintf(&b, "    upstream %s {\n        server %s;\n        keepalive %d;\n    }\n",
			upstreamName, p.Upstream, p.UpstreamKeepalive)
	}
	b.WriteString("\n")
	b.WriteString(seed)
	b.WriteString("}\n")
	return []byte(b.String()), nil
}

func (p Params) validate() error {
	var errs []error
	required := []struct{ name, value string }{
		{"Prefix", p.Prefix},
		{"HTTPSAddr", p.HTTPSAddr},
		{"HTTPAddr", p.HTTPAddr},
		{"Upstream", p.Upstream},
		{"CertFile", p.CertFile},
		{"KeyFile", p.KeyFile},
	}
	for _, f := range required {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		}
	}
	if p.Prefix != "" && !strings.HasPrefix(p.Prefix, "/") {
		errs = append(errs, fmt.Errorf("Prefix: must be absolute (got %q)", p.Prefix))
	}
	if p.UpstreamKeepalive < 0 {
		errs = append(errs, errors.New("UpstreamKeepalive: must be >= 0"))
	}
	switch {
	case p.AccessLogBuffer == "" && p.AccessLogFlush == "":
	case !p.AccessLog:
		errs = append(errs, errors.New("AccessLogBuffer: needs AccessLog"))
	case !nginxSize.MatchString(p.AccessLogBuffer):
		errs = append(errs, fmt.Errorf("AccessLogBuffer: %q is not an nginx size such as 64k", p.AccessLogBuffer))
	case !nginxTime.MatchString(p.AccessLogFlush):
		errs = append(errs, fmt.Errorf("AccessLogFlush: %q is not an nginx time such as 100ms", p.AccessLogFlush))
	}
	// Values are pasted into nginx syntax: anything that could end a
	// directive, open a block, start a comment or expand a variable would
	// change the configuration instead of filling it in.
	all := append(required, struct{ name, value string }{"ServerName", p.ServerName},
		struct{ name, value string }{"WorkerProcesses", p.WorkerProcesses})
	for _, f := range all {
		if i := strings.IndexAny(f.value, " \t\r\n;{}#$\"'\\"); i >= 0 {
			errs = append(errs, fmt.Errorf("%s: character %q not allowed in %q", f.name, f.value[i], f.value))
		}
	}
	return errors.Join(errs...)
}
