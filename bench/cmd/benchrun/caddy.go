package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The "caddy" target is Caddy (Debian's package, 2.6) configured as the
// seed's nginx is: TLS with the run's certificate, HTTP/1.1 and HTTP/2, the
// seed's four security headers, a reverse proxy to the same upstream with
// keep-alive that sets Host and X-Real-IP, no Server header, an access log
// to a file, and the 80→443 redirect server. Nothing is written outside the
// run's temporary directory: no ACME, no admin endpoint, storage and the
// autosaved configuration under the directory, HOME and XDG_* pointing into
// it.

// caddyInstall is how to get the binary benchrun expects.
const caddyInstall = "apt-get install caddy"

// caddyParams is what renderCaddyfile needs.
type caddyParams struct {
	HTTPSAddr, HTTPAddr string // 127.0.0.1:port each
	Host                string // site name, as in the certificate
	Upstream            string // host:port
	CertFile, KeyFile   string
	Dir                 string // Caddy's own directory: storage, access log
}

// caddyQuote quotes s as one Caddyfile token.
func caddyQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// renderCaddyfile returns a Caddyfile equivalent to the seed's nginx server
// blocks (examples/seed/nginx/seed.conf) as benchrun runs them.
//
// Where Caddy differs from the seed's nginx, and why it is left so:
//   - TLS 1.2 cipher suites are Caddy's (ECDHE with AEAD only); the seed's
//     string also allows CBC suites. wrk negotiates TLS 1.3, where neither
//     configuration chooses.
//   - The access log is Caddy's JSON (with request and response headers),
//     as a packaged Caddy writes it; nginx writes its one-line "combined".
//   - The seed's limit_req on /api/ has no counterpart: rate limiting is not
//     in Debian's Caddy (it is a third-party module). The benchmarked path
//     is not under /api/, where nginx and rampart do not limit either.
//   - Upstream keep-alive: Caddy's default, with up to 64 idle connections
//     per upstream (Caddy's default is 32) to match nginx's `keepalive 64`.
func renderCaddyfile(p caddyParams) string {
	_, httpsPort, _ := net.SplitHostPort(p.HTTPSAddr)
	httpsIP, _, _ := net.SplitHostPort(p.HTTPSAddr)
	_, httpPort, _ := net.SplitHostPort(p.HTTPAddr)
	httpIP, _, _ := net.SplitHostPort(p.HTTPAddr)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by benchrun: the seed's nginx server blocks, in Caddy's terms.")
	w("{")
	w("\t# No admin endpoint, no certificate management, no ACME account.")
	w("\tadmin off")
	w("\tauto_https off")
	w("\tstorage file_system %s", caddyQuote(filepath.Join(p.Dir, "data")))
	w("\t# listen 443 ssl http2: HTTP/1.1 and HTTP/2, no HTTP/3.")
	w("\tservers {")
	w("\t\tprotocols h1 h2")
	w("\t}")
	w("}")
	w("")
	w("https://%s:%s {", p.Host, httpsPort)
	w("\tbind %s", httpsIP)
	w("\t# ssl_certificate, ssl_certificate_key, ssl_protocols TLSv1.2 TLSv1.3.")
	w("\ttls %s %s {", caddyQuote(p.CertFile), caddyQuote(p.KeyFile))
	w("\t\tprotocols tls1.2 tls1.3")
	w("\t}")
	w("\t# The seed's add_header lines; proxy_hide_header Server, and no")
	w("\t# \"Server: Caddy\" either (deleting a field defers the operation to")
	w("\t# the response, after the upstream's fields are copied).")
	w("\theader {")
	w("\t\tStrict-Transport-Security \"max-age=63072000; includeSubDomains; preload\"")
	w("\t\tX-Content-Type-Options \"nosniff\"")
	w("\t\tX-Frame-Options \"SAMEORIGIN\"")
	w("\t\tX-XSS-Protection \"1; mode=block\"")
	w("\t\t-Server")
	w("\t}")
	w("\t# proxy_pass with proxy_set_header Host $host and X-Real-IP $remote_addr,")
	w("\t# upstream connections kept alive as nginx's keepalive 64.")
	w("\treverse_proxy %s {", p.Upstream)
	w("\t\theader_up Host {host}")
	w("\t\theader_up X-Real-IP {remote_host}")
	w("\t\ttransport http {")
	w("\t\t\tkeepalive 2m")
	w("\t\t\tkeepalive_idle_conns_per_host 64")
	w("\t\t}")
	w("\t}")
	w("\tlog {")
	w("\t\toutput file %s", caddyQuote(filepath.Join(p.Dir, "access.log")))
	w("\t}")
	w("}")
	w("")
	w("# The seed's port-80 server: return 301 https://$host$request_uri.")
	w("http://%s:%s {", p.Host, httpPort)
	w("\tbind %s", httpIP)
	w("\theader -Server")
	w("\tredir https://{host}{uri} 301")
	w("}")
	return b.String()
}

// skipTarget is returned when a target cannot run on this machine; run
// reports it and measures the others.
type skipTarget struct{ reason string }

func (s skipTarget) Error() string { return s.reason }

func startCaddy(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error) {
	if _, err := os.Stat(c.caddy); err != nil {
		return nil, skipTarget{fmt.Sprintf("%s not found (install: %s)", c.caddy, caddyInstall)}
	}
	cdir := filepath.Join(dir, "caddy")
	home := filepath.Join(cdir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
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
	conf := filepath.Join(cdir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(renderCaddyfile(caddyParams{
		HTTPSAddr: httpsAddr,
		HTTPAddr:  httpAddr,
		Host:      c.host,
		Upstream:  upstream,
		CertFile:  certFile,
		KeyFile:   keyFile,
		Dir:       cdir,
	})), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(c.caddy, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Dir = cdir
	cmd.Env = append(withoutEnv(os.Environ(), "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
	)
	t, err := startChild(ctx, cmd, "caddy", filepath.Join(cdir, "caddy.log"), httpsAddr, c.host, c.path)
	if err != nil {
		return nil, fmt.Errorf("caddy run --config %s: %w", conf, err)
	}
	t.log = cdir
	t.check = checkSeedHeaders
	t.version = "caddy " + toolVersion(ctx, c.caddy, "version")
	return t, nil
}

// withoutEnv returns env without the named variables.
func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// seedHeaders are the seed's add_header lines.
var seedHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "SAMEORIGIN",
	"X-XSS-Protection":          "1; mode=block",
}

// checkSeedHeaders verifies that a response carries the seed's security
// headers once each and no Server header, so a configuration that does
// less work than the seed's is not benchmarked by mistake.
func checkSeedHeaders(resp *http.Response) error {
	var errs []error
	for k, want := range seedHeaders {
		if got := resp.Header.Values(k); len(got) != 1 || got[0] != want {
			errs = append(errs, fmt.Errorf("%s: %q, want %q once", k, got, want))
		}
	}
	if s := resp.Header.Values("Server"); len(s) > 0 {
		errs = append(errs, fmt.Errorf("Server: %q, want none", s))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s response headers: %w", resp.Proto, errors.Join(errs...))
	}
	return nil
}
