package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rampart-dev/rampart/internal/admin"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/demo"
)

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var src config.Source
	fs.Var(optString{&src.Flags.Listen}, "listen", "HTTPS listen `address` (default 127.0.0.1:8443)")
	fs.Var(optString{&src.Flags.HTTPListen}, "http-listen", "redirect listener `address` (default 127.0.0.1:8080)")
	fs.Var(optString{&src.Flags.StateDir}, "state-dir", "state `directory` for the development certificate")
	fs.Var(optString{&src.Flags.AdminListen}, "admin-listen", "admin listener `address`: dashboard, metrics, health (default 127.0.0.1:9180; off)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rampart demo")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs rampart with every protection on, in front of a built-in demo application,")
		fmt.Fprintln(stderr, "with a locally generated development certificate. No configuration needed.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		errorf(stderr, "", "demo application: %v", err)
		return 1
	}
	app := &http.Server{Handler: demo.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go app.Serve(ln)
	defer app.Close()
	upstream := "http://" + ln.Addr().String()
	src.Path, src.Data = demo.ConfigName, demo.Config
	src.Flags.Upstream = &upstream
	if src.Flags.StateDir == nil {
		// The development certificate is kept in the user's cache, so
		// that the browser's exception for it outlives one run.
		dir := ".rampart-state"
		if d, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(d, "rampart")
		}
		src.Flags.StateDir = &dir
	}
	login, err := demo.Login(*src.Flags.StateDir, os.LookupEnv)
	if err != nil {
		errorf(stderr, "", "demo: %v", err)
		return 1
	}
	src.LookupEnv = login.LookupEnv
	return serve(src, stdout, stderr, func(p *config.Plan) {
		https := "https://" + displayAddr(p.HTTPS)
		fmt.Fprintf(stderr, `
rampart demo is running: %s
(a development certificate: your browser will warn once; curl needs -k)

Try:
  curl -ki %s/                     security headers, no Server header
  curl -ki %s/api/hello            the application sees your real IP and https
  curl -i  http://%s/              redirect to HTTPS
  curl -i  -H 'Host: evil.example' http://%s/   refused, not redirected
  curl -gki '%s/x%%0a{"status":200}' refused: an encoded newline cannot forge a log line
  curl -ki %s/api/panic            the application crashes: a generic 502, details only in the log

Sign in at %s/private as user %q, password %q
(a new password each run; the user has the admin role, so %s/admin opens too)
  curl -ki %s/private             a script without a session: 401 problem+json
  curl -ki -X POST -H 'Origin: https://evil.example' %s/submit   cross-site POST: 403

%sCtrl-C stops it.

`, https, https, https, displayAddr(p.HTTP), displayAddr(p.HTTP), https, https,
			https, login.User, login.Password, https, https, https, adminBanner(p))
	})
}

// adminBanner says where the demo's admin listener is, when it is on.
func adminBanner(p *config.Plan) string {
	if p.Admin.Disabled() {
		return ""
	}
	addr := p.Admin.Listen
	if addr == "" {
		addr = admin.DefaultListen
	}
	a := "http://" + displayAddr(addr)
	return fmt.Sprintf(`Operations (admin listener, loopback only):
  %s/                 the security dashboard
  curl %s/metrics     Prometheus metrics; /healthz, /readyz
  rampart ban list --admin %s

`, a, a, a)
}

func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
