package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
