package check

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/safe"
)

func strongTLS(t *testing.T) *tls.Config {
	p := loadPKI(t)
	return &tls.Config{Certificates: []tls.Certificate{p.ecdsa}, MinVersion: tls.VersionTLS12}
}

// TestRedirect_HostHeaderInjection: "return 301 https://$host$request_uri"
// sends a victim who follows a link with a forged Host to the attacker.
func TestRedirect_HostHeaderInjection(t *testing.T) {
	f := start(t, strongTLS(t), http.HandlerFunc(strongApp), func(port string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
		})
	})
	rep := run(t, f, Options{})
	if !rep.Redirect.ReflectsHost || findingIDs(rep)["redirect-reflects-host"] != Error {
		t.Errorf("Host reflection not reported: %+v", rep.Redirect)
	}
}

// TestRedirect_ToForeignHostNotFollowed: the audit records a redirect to
// another host but sends it no request, and scores it as off-host.
func TestRedirect_ToForeignHostNotFollowed(t *testing.T) {
	f := start(t, strongTLS(t), http.HandlerFunc(strongApp), func(string) http.Handler {
		return http.RedirectHandler("https://www.evil.example/", http.StatusFound)
	})
	rep := run(t, f, Options{})
	if r := results(rep)["redirection"]; r != "redirection-off-host-from-http" {
		t.Errorf("redirection = %s", r)
	}
	if len(rep.Redirect.Route) != 2 || rep.Redirect.Route[1] != "https://www.evil.example/" {
		t.Errorf("route %v", rep.Redirect.Route)
	}
}

// TestCORS_OriginReflectionWithCredentials: reflecting Origin with
// credentials lets any site read a logged-in user's responses.
func TestCORS_OriginReflectionWithCredentials(t *testing.T) {
	h := http.Header{"Access-Control-Allow-Origin": {foreignOrigin}, "Access-Control-Allow-Credentials": {"true"}}
	tr, fs := corsTest(h, foreignOrigin)
	if tr.Modifier != -50 || !hasID(fs, "cors-reflects-origin-with-credentials") {
		t.Errorf("got %+v %+v", tr, fs)
	}
	if tr, _ := corsTest(http.Header{"Access-Control-Allow-Origin": {"*"}}, foreignOrigin); tr.Modifier != 0 {
		t.Errorf("public CORS penalised: %+v", tr)
	}
}

// TestExposure_CatchAllNotReported: an SPA answering 200 with its index
// page for every path must not be reported as leaking .env or .git.
func TestExposure_CatchAllNotReported(t *testing.T) {
	spa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		strongApp(w, &http.Request{Method: r.Method, URL: mustURL("/"), Header: r.Header})
	})
	f := start(t, strongTLS(t), spa, func(port string) http.Handler {
		return http.RedirectHandler("https://127.0.0.1:"+port+"/", http.StatusMovedPermanently)
	})
	rep := run(t, f, Options{})
	for _, fd := range rep.Findings {
		if fd.Category == CategoryExposure {
			t.Errorf("false positive: %+v", fd)
		}
	}
}

// TestTLS_UntrustedCertificate: a self-signed certificate fails the chain,
// which voids HSTS and the redirect (browsers refuse the site); with
// InsecureAcceptCert the site is graded, and the chain is still reported.
func TestTLS_UntrustedCertificate(t *testing.T) {
	f := strongFixture(t)
	o := Options{RootCAs: nil, HTTPURL: f.http.URL + "/"}
	rep, err := Run(context.Background(), f.tls.URL+"/", o) // system roots: the test CA is unknown
	if err != nil {
		t.Fatal(err)
	}
	r := results(rep)
	if r["strict-transport-security"] != "hsts-invalid-cert" || r["redirection"] != "redirection-invalid-cert" {
		t.Errorf("results %v", r)
	}
	if findingIDs(rep)["tls-cert-untrusted"] != Error || !rep.Failed("F") {
		t.Errorf("untrusted chain not an error: %+v", rep.Findings)
	}
	o.InsecureAcceptCert = true
	rep, err = Run(context.Background(), f.tls.URL+"/", o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Grade != "A+" || findingIDs(rep)["tls-cert-untrusted"] != Warning || rep.Failed("A+") {
		t.Errorf("insecure: grade %s findings %+v", rep.Grade, rep.Findings)
	}
}

// TestCert_NameAndExpiry checks hostname mismatch, expiry soon and expired.
func TestCert_NameAndExpiry(t *testing.T) {
	p := loadPKI(t)
	leaf := p.ecdsa.Leaf
	if leaf == nil {
		var err error
		leaf, err = parseLeaf(p.ecdsa)
		if err != nil {
			t.Fatal(err)
		}
	}
	st := tls.ConnectionState{PeerCertificates: []*x509Certificate{leaf}}
	at := func(d time.Time) Options { return Options{RootCAs: p.pool, Now: func() time.Time { return d }} }

	_, fs, ok := verifyCert(st, "www.evil.example", at(time.Now()))
	if ok || !hasID(fs, "tls-cert-hostname") {
		t.Errorf("hostname mismatch: ok=%v %+v", ok, fs)
	}
	_, fs, ok = verifyCert(st, "localhost", at(notAfter.Add(-7*24*time.Hour)))
	if !ok || !hasID(fs, "tls-cert-expiring") {
		t.Errorf("expiring: ok=%v %+v", ok, fs)
	}
	_, fs, ok = verifyCert(st, "localhost", at(notAfter.Add(time.Hour)))
	if ok || !hasID(fs, "tls-cert-expired") {
		t.Errorf("expired: ok=%v %+v", ok, fs)
	}
}

func TestRun_RejectsBadTargets(t *testing.T) {
	for _, target := range []string{"http://example.com/", "example.com", "https://user:pw@example.com/", "https://"} {
		if _, err := Run(context.Background(), target, Options{}); err == nil {
			t.Errorf("Run(%q) accepted", target)
		}
	}
	if _, err := Run(context.Background(), "https://example.com/", Options{HTTPURL: "https://example.com/"}); err == nil ||
		!strings.HasPrefix(err.Error(), "http-url:") {
		t.Errorf("bad HTTPURL: %v", err)
	}
}

// TestRun_NotTLS: a plain-HTTP port given as the HTTPS target fails the
// audit instead of grading garbage.
func TestRun_NotTLS(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	defer s.Close()
	target := strings.Replace(s.URL, "http://", "https://", 1)
	if _, err := Run(context.Background(), target, Options{Timeout: 5 * time.Second}); err == nil {
		t.Error("audit of a non-TLS port succeeded")
	}
}

// TestTLS_LegacyOnlyServer: a server that speaks only TLS 1.0 with RSA key
// exchange is still audited (the probes offer what it needs) and failed.
func TestTLS_LegacyOnlyServer(t *testing.T) {
	p := loadPKI(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{p.rsa}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
	f := start(t, cfg, http.HandlerFunc(strongApp), func(port string) http.Handler {
		return http.RedirectHandler("https://127.0.0.1:"+port+"/", http.StatusMovedPermanently)
	})
	rep := run(t, f, Options{})
	ids := findingIDs(rep)
	if ids["tls-legacy-version"] != Error || ids["tls-weak-cipher"] != Warning || ids["tls13-missing"] != Warning {
		t.Errorf("findings %+v", rep.Findings)
	}
	// The headers are still those of strongApp: the grade does not see TLS,
	// the gate does.
	if rep.Grade != "A+" || !rep.Failed("A+") {
		t.Errorf("grade %s, Failed(A+)=%v", rep.Grade, rep.Failed("A+"))
	}
}

// TestRedirect_HTTPUnreachable: no plain-HTTP listener is not penalised
// (the Observatory's redirection-not-needed-no-http) but is noted.
func TestRedirect_HTTPUnreachable(t *testing.T) {
	f := strongFixture(t)
	closed := freeLoopback(t) // nothing listens there once freed
	rep, err := Run(context.Background(), f.tls.URL+"/", Options{RootCAs: loadPKI(t).pool, HTTPURL: "http://" + closed + "/", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r := results(rep)["redirection"]; r != "redirection-not-needed-no-http" || findingIDs(rep)["http-unreachable"] != Info {
		t.Errorf("redirection %s, findings %+v", r, rep.Findings)
	}
	if rep.Grade != "A+" {
		t.Errorf("grade %s", rep.Grade)
	}
}

// The audited server chooses header values, cookie names and certificate
// names; none of its terminal escapes or bidi overrides may reach the
// auditor's terminal through the text report.
func TestWriteText_TerminalEscapeInjection(t *testing.T) {
	rep := &Report{
		Target: "https://evil.example/",
		Findings: []Finding{{ID: "x", Category: CategoryHeaders, Severity: Warning,
			Title: "cookie a\u202etxt.exe: no Secure", Evidence: "\x1b]0;pwned\x07\x1b[2J\u009b31m", Fix: "fix"}},
		TLS:      TLSInfo{Certificate: &CertInfo{Subject: "CN=\x1b[8mhidden", Issuer: "CN=ok"}},
		Redirect: RedirectInfo{URL: "http://evil.example/", Status: 301, Location: "https://x/\x1b[1A"},
	}
	var b strings.Builder
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q reached the text report:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "?]0;pwned??[2J?31m") || !strings.Contains(out, "→ https://x/?[1A") {
		t.Errorf("unexpected rendering:\n%s", out)
	}
}

// The JSON report has no terminal cleaning of its own (encoding/json
// escapes C0 controls, which whoever reads the JSON turns back into ESC,
// and leaves bidi overrides as they are), so the evidence a hostile server
// puts in its headers is cleaned and bounded when the finding is made.
func TestFindings_HostileEvidenceIsCleanedAndBounded(t *testing.T) {
	evil := "\x1b]0;pwned\x07\u202etxt.exe\u009b31m" + strings.Repeat("A", 500)
	h := http.Header{
		"Referrer-Policy":              {evil},
		"X-Content-Type-Options":       {evil},
		"X-Frame-Options":              {evil},
		"Cross-Origin-Resource-Policy": {evil},
		"X-Xss-Protection":             {evil},
		"Server":                       {"nginx/1.0 " + evil},
	}
	var fs []Finding
	for _, test := range []func(http.Header) (TestResult, []Finding){referrerTest, xctoTest, corpTest} {
		_, f := test(h)
		fs = append(fs, f...)
	}
	_, f := xfoTest(h, cspOutcome{})
	fs = append(append(fs, f...), otherHeaderFindings(h)...)
	seen := 0
	for _, f := range fs {
		if f.Evidence == "" {
			continue
		}
		seen++
		if f.Evidence != safe.Clean(f.Evidence, len(f.Evidence)) {
			t.Errorf("%s: evidence not cleaned: %q", f.ID, f.Evidence)
		}
		if len(f.Evidence) > 250 {
			t.Errorf("%s: evidence of %d bytes", f.ID, len(f.Evidence))
		}
	}
	if seen < 5 {
		t.Fatalf("only %d findings with evidence: %+v", seen, fs)
	}
}

// The Observatory's CORP test: a value is matched trimmed and in any
// case; one over 256 bytes is invalid whatever it holds.
func TestCORP_Values(t *testing.T) {
	for v, want := range map[string]string{
		"":                                       "corp-not-implemented",
		"  ":                                     "corp-not-implemented",
		" Same-Origin ":                          "corp-implemented-with-same-origin",
		"same-site":                              "corp-implemented-with-same-site",
		"cross-origin":                           "corp-implemented-with-cross-origin",
		"same-origin, same-origin":               "corp-header-invalid",
		"same-origin" + strings.Repeat(" ", 250): "corp-header-invalid",
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Cross-Origin-Resource-Policy", v)
		}
		if tr, _ := corpTest(h); tr.Result != want {
			t.Errorf("%q: %s, want %s", v, tr.Result, want)
		}
	}
}

// Categories is returned fresh: an importer that edits what it got cannot
// reorder (or hide a category from) every later report in the process.
func TestCategories_AnImporterCannotChangeThem(t *testing.T) {
	cats := Categories()
	cats[0], cats[len(cats)-1] = CategoryExposure, CategoryExposure
	fs := []Finding{{ID: "b", Category: CategoryExposure}, {ID: "a", Category: CategoryTLS}}
	sortFindings(fs)
	if fs[0].Category != CategoryTLS || Categories()[0] != CategoryTLS {
		t.Errorf("the categories changed under their caller: %v, findings %+v", Categories(), fs)
	}
}
