package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// checkTarget is a self-signed HTTPS server with no security headers and a
// plain-HTTP server redirecting to it.
func checkTarget(t *testing.T) (httpsURL, httpURL string) {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	}))
	t.Cleanup(ts.Close)
	hs := httptest.NewServer(http.RedirectHandler(ts.URL+"/", http.StatusMovedPermanently))
	t.Cleanup(hs.Close)
	return ts.URL + "/", hs.URL + "/"
}

func TestCheckCLI_Usage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"-h"}, 0, "usage: rampart check"},
		{nil, 2, "exactly one URL"},
		{[]string{"--min-grade", "E", "https://x/"}, 2, "not a grade"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--ca", "/nonexistent", "https://x/"}, 2, "--ca"},
		{[]string{"http://example.com/"}, 2, "want an https:// URL"},
	} {
		var out, errb bytes.Buffer
		if code := runCheck(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.err)
		}
	}
}

// TestCheckCLI_SelfSignedNeedsInsecure: without --insecure an untrusted
// certificate is a TLS error (exit 1); with it the site is graded.
func TestCheckCLI_SelfSignedNeedsInsecure(t *testing.T) {
	target, plain := checkTarget(t)
	var out, errb bytes.Buffer
	// Even the lowest gate fails on a TLS error.
	if code := runCheck([]string{"--min-grade", "F", "--http-url", plain, target}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1; stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "certificate chain not trusted") {
		t.Errorf("report lacks the untrusted chain:\n%s", out.String())
	}

	out.Reset()
	errb.Reset()
	code := runCheck([]string{"--insecure", "--json", "--http-url", plain, target}, &out, &errb)
	if code != 0 {
		t.Errorf("exit %d, want 0 (no --min-grade, no TLS error); stderr %s", code, errb.String())
	}
	var rep struct {
		Grade    string
		Findings []struct{ ID, Severity string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out.String())
	}
	if rep.Grade != "F" && rep.Grade != "D-" && rep.Grade != "D" {
		// No CSP, HSTS, XFO, nosniff: 100-25-20-20-5 = 30 at best.
		t.Errorf("grade %s for a site without security headers", rep.Grade)
	}

	out.Reset()
	if code := runCheck([]string{"--insecure", "--min-grade", "b", "--http-url", plain, target}, &out, &errb); code != 1 {
		t.Errorf("--min-grade b: exit %d, want 1", code)
	}
}

// Flags after the URL are parsed: the audit runs with --insecure and
// --http-url given after it, as it does with them before.
func TestCheckCLI_FlagsAfterTheURL(t *testing.T) {
	target, plain := checkTarget(t)
	var out, errb bytes.Buffer
	if code := runCheck([]string{target, "--insecure", "--http-url", plain, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s", code, errb.String())
	}
	var rep struct{ Grade string }
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Grade == "" {
		t.Errorf("not a JSON report (--json after the URL ignored?): %v\n%s", err, out.String())
	}
}

// keepNamesOffTheNetwork makes rampart check's dialer refuse every address
// that is not an IP literal, answering as a resolver would for a name that
// does not exist: no test reaches DNS.
func keepNamesOffTheNetwork(t *testing.T) {
	t.Helper()
	checkDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if _, err := netip.ParseAddr(host); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	t.Cleanup(func() { checkDial = nil })
}

// A name DNS does not know (here under .invalid, answered without asking
// DNS) gets the DNS hint, not the TLS one; --resolve then audits the server
// under that name.
func TestCheckCLI_ResolveAndDNSHint(t *testing.T) {
	keepNamesOffTheNetwork(t)
	target, plain := checkTarget(t)
	u, _ := url.Parse(target)
	named := "https://app.rampart.invalid:" + u.Port() + "/"

	var out, errb bytes.Buffer
	if code := runCheck([]string{"--insecure", named}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, w := range []string{"rampart: error: app.rampart.invalid does not resolve",
		"rampart: hint: check the name; to test a server before DNS points at it: --resolve app.rampart.invalid:" + u.Port() + ":ADDR"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb.String())
		}
	}
	if strings.Contains(errb.String(), "speaking TLS") {
		t.Errorf("a DNS failure hints at TLS:\n%s", errb.String())
	}

	out.Reset()
	errb.Reset()
	code := runCheck([]string{named, "--resolve", "app.rampart.invalid:" + u.Port() + ":127.0.0.1", "--insecure", "--http-url", plain, "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d with --resolve; stderr %s", code, errb.String())
	}
	var rep struct {
		Target string
		Grade  string
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Target != named || rep.Grade == "" {
		t.Errorf("report %+v, %v", rep, err)
	}
}

// A refused port says nothing listens there, with the port; an untrusted
// certificate says --ca or --insecure.
func TestCheckCLI_RefusedAndUntrustedHints(t *testing.T) {
	keepNamesOffTheNetwork(t)
	closed := freeAddr(t)
	var out, errb bytes.Buffer
	if code := runCheck([]string{"https://" + closed + "/"}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "rampart: error: nothing listens on "+closed+": connection refused") ||
		!strings.Contains(errb.String(), "rampart: hint: start the server") {
		t.Errorf("refused:\n%s", errb.String())
	}

	target, plain := checkTarget(t)
	errb.Reset()
	runCheck([]string{"--http-url", plain, target}, &out, &errb)
	if !strings.Contains(errb.String(), "rampart: hint: the certificate is not trusted: --ca FILE to trust the CA that issued it, or --insecure") {
		t.Errorf("untrusted certificate without a hint:\n%s", errb.String())
	}
}
