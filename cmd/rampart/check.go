package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/check"
)

const checkUsage = `usage: rampart check [flags] https://host[:port]/ [flags]

Audits a live deployment the way a browser and a scanner see it: the
HTTP→HTTPS redirect (and whether it reflects a foreign Host), TLS versions,
cipher suites and certificate, security headers, cookies, CORS, exposed
files (/.git/HEAD, /.env, /server-status, /console), and the security.txt
file (RFC 9116: missing, expired, no Contact or Expires, Expires more than
a year ahead). The headers are scored
and graded like the MDN HTTP Observatory; TLS is reported separately.

Flags may come before or after the URL. To audit a server before DNS
points at it, --resolve sends the name to an address, as curl does:
  rampart check https://app.example.com/ --resolve app.example.com:443:203.0.113.7
(the redirect probe on port 80 goes to the same address).

Exit status: 0 when the audit ran (and passed --min-grade, if given); 1 when
--min-grade is given and the grade is below it or a TLS finding is an error
(TLS is not part of the grade); 2 when the audit could not run (bad flags,
a name that does not resolve, nothing listening, no TLS at the target).

flags:
`

// checkDial opens the audit's connections; nil means check's default
// dialer. Tests replace it to keep names off the network.
var checkDial func(ctx context.Context, network, addr string) (net.Conn, error)

// runCheck implements "rampart check".
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}
	jsonOut := fs.Bool("json", false, "write the report as JSON")
	minGrade := fs.String("min-grade", "", "exit 1 below this grade (A+, A, A-, B+, … F) or on any TLS error")
	insecure := fs.Bool("insecure", false, "accept an untrusted (self-signed) certificate; still reported")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each request and handshake")
	httpURL := fs.String("http-url", "", "plain-HTTP URL for the redirect probe (default http://<host>/ on port 80)")
	caFile := fs.String("ca", "", "PEM file of root certificates to trust instead of the system roots")
	var resolve stringList
	fs.Var(&resolve, "resolve", "connect to `HOST:PORT:ADDR` for HOST (as curl; repeatable; IPv6 ADDR in brackets); SNI and Host keep the name")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		hint := "rampart check [flags] https://example.com/ (flags may come before or after the URL)"
		if len(pos) == 0 {
			errorf(stderr, hint, "check takes exactly one URL, and none was given")
		} else {
			errorf(stderr, hint, "check takes exactly one URL, got %d arguments: %s", len(pos), strings.Join(pos, " "))
		}
		return 2
	}
	if *minGrade != "" && !check.ValidGrade(strings.ToUpper(*minGrade)) {
		errorf(stderr, "use one of A+ A A- B+ B B- C+ C C- D+ D D- F", "--min-grade %q is not a grade", *minGrade)
		return 2
	}
	opts := check.Options{Timeout: *timeout, HTTPURL: *httpURL, InsecureAcceptCert: *insecure, DialContext: checkDial}
	for _, r := range resolve {
		entry, err := check.ParseResolve(r)
		if err != nil {
			errorf(stderr, "write --resolve example.com:443:127.0.0.1 (or [::1] for IPv6), one per name and port", "%v", err)
			return 2
		}
		opts.Resolve = append(opts.Resolve, entry)
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			errorf(stderr, "", "--ca: %v", err)
			return 2
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			errorf(stderr, "", "--ca: no PEM certificate in %s", *caFile)
			return 2
		}
		opts.RootCAs = pool
	}
	target := pos[0]
	if !strings.Contains(target, "://") {
		target = "https://" + target
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := check.Run(ctx, target, opts)
	if err != nil {
		hint := ""
		var re *check.RunError
		if errors.As(err, &re) {
			hint = re.Hint
		}
		errorf(stderr, hint, "%v", err)
		return 2
	}
	if *jsonOut {
		err = check.WriteJSON(stdout, rep)
	} else {
		err = check.WriteText(stdout, rep)
	}
	if err != nil {
		errorf(stderr, "", "%v", err)
		return 2
	}
	for _, f := range rep.Findings {
		if f.ID == "tls-cert-untrusted" && f.Severity == check.Error {
			fmt.Fprintln(stderr, "rampart: hint: the certificate is not trusted: --ca FILE to trust the CA that issued it, or --insecure to audit a self-signed certificate")
		}
	}
	if rep.Failed(strings.ToUpper(*minGrade)) {
		fmt.Fprintf(stderr, "rampart: check failed: grade %s (minimum %s), or a TLS error\n", rep.Grade, strings.ToUpper(*minGrade))
		return 1
	}
	return 0
}
