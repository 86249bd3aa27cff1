package check

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func run(t *testing.T, f *fixture, o Options) *Report {
	t.Helper()
	if o.RootCAs == nil {
		o.RootCAs = loadPKI(t).pool
	}
	o.HTTPURL = f.http.URL + "/"
	rep, err := Run(context.Background(), f.tls.URL+"/", o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// golden compares the text report, with the fixture's ports replaced.
func golden(t *testing.T, name string, f *fixture, rep *Report) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	got := strings.NewReplacer(f.tls.Listener.Addr().String(), "127.0.0.1:TLSPORT",
		f.http.Listener.Addr().String(), "127.0.0.1:HTTPPORT",
		":"+f.tlsURL.Port(), ":TLSPORT").Replace(b.String())
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (go test -update to accept):\n%s", path, got)
	}
}

func findingIDs(rep *Report) map[string]Severity {
	m := map[string]Severity{}
	for _, f := range rep.Findings {
		if old, ok := m[f.ID]; !ok || f.Severity.rank() < old.rank() {
			m[f.ID] = f.Severity
		}
	}
	return m
}

func results(rep *Report) map[string]string {
	m := map[string]string{}
	for _, t := range rep.Tests {
		m[t.Name] = t.Result
	}
	return m
}

func TestRun_StrongDeployment(t *testing.T) {
	f := strongFixture(t)
	rep := run(t, f, Options{})
	if rep.Score < 100 || rep.Grade != "A+" {
		t.Errorf("score %d grade %s, want A+ (≥ 100); tests: %+v", rep.Score, rep.Grade, rep.Tests)
	}
	for _, fd := range rep.Findings {
		if fd.Category == CategoryTLS {
			t.Errorf("unexpected TLS finding: %+v", fd)
		}
		if fd.Severity != Info {
			t.Errorf("unexpected %s finding: %s (%s)", fd.Severity, fd.ID, fd.Title)
		}
	}
	if rep.Redirect.ReflectsHost {
		t.Error("redirect to a configured host reported as reflecting Host")
	}
	if rep.Failed("A+") {
		t.Error("Failed(A+) on an A+ deployment")
	}
	golden(t, "strong", f, rep)
}

func TestRun_SeedNginxTalisman(t *testing.T) {
	f := seedFixture(t)
	rep := run(t, f, Options{})
	// HSTS, X-Frame-Options and X-Content-Type-Options are each sent twice,
	// so browsers (and the Observatory) see invalid values: -20 -20 -5.
	if rep.Score != 55 || rep.Grade != "C" {
		t.Errorf("score %d grade %s, want 55 C; tests: %+v", rep.Score, rep.Grade, rep.Tests)
	}
	r := results(rep)
	for name, want := range map[string]string{
		"strict-transport-security": "hsts-header-invalid",
		"x-frame-options":           "x-frame-options-header-invalid",
		"x-content-type-options":    "x-content-type-options-header-invalid",
		"content-security-policy":   "csp-implemented-with-no-unsafe",
		"redirection":               "redirection-to-https",
	} {
		if r[name] != want {
			t.Errorf("%s = %s, want %s", name, r[name], want)
		}
	}
	ids := findingIDs(rep)
	for id, sev := range map[string]Severity{
		"header-duplicated":        Warning,
		"x-xss-protection-enabled": Warning,
		"version-banner":           Warning,
		"tls-weak-cipher":          Warning,
		"redirect-reflects-host":   Error,
		"hsts-invalid":             Error,
		"csp-base-uri-missing":     Warning,
		"csp-object-src-missing":   Warning,
	} {
		if ids[id] != sev {
			t.Errorf("finding %s = %q, want %s", id, ids[id], sev)
		}
	}
	if !rep.Redirect.ReflectsHost {
		t.Error("open redirect not detected")
	}
	if _, ok := ids["tls-legacy-version"]; ok {
		t.Error("TLS 1.0/1.1 reported on a TLS 1.2+ server")
	}
	if !rep.Failed("B") || rep.Failed("C") {
		t.Errorf("Failed(B)=%v Failed(C)=%v, want true false", rep.Failed("B"), rep.Failed("C"))
	}
	golden(t, "seed", f, rep)
}

func TestRun_BadDeployment(t *testing.T) {
	f := badFixture(t)
	rep := run(t, f, Options{})
	if rep.Grade != "F" || rep.Score != 0 {
		t.Errorf("score %d grade %s, want 0 F", rep.Score, rep.Grade)
	}
	r := results(rep)
	for name, want := range map[string]string{
		"content-security-policy":       "csp-not-implemented",
		"cookies":                       "cookies-session-without-secure-flag",
		"cross-origin-resource-sharing": "cross-origin-resource-sharing-implemented-with-universal-access",
		"redirection":                   "redirection-missing",
		"strict-transport-security":     "hsts-not-implemented",
		"subresource-integrity":         "sri-not-implemented-and-external-scripts-not-loaded-securely",
		"x-frame-options":               "x-frame-options-not-implemented",
	} {
		if r[name] != want {
			t.Errorf("%s = %s, want %s", name, r[name], want)
		}
	}
	ids := findingIDs(rep)
	for id, sev := range map[string]Severity{
		"tls-legacy-version":                    Error,
		"tls-broken-cipher":                     Error,
		"tls-weak-cipher":                       Warning,
		"tls13-missing":                         Warning,
		"cors-reflects-origin-with-credentials": Error,
		"cookie-no-secure":                      Error,
		"cookie-no-httponly":                    Error,
		"env-exposed":                           Error,
		"git-exposed":                           Error,
		"werkzeug-console":                      Error,
		"trace-enabled":                         Warning,
		"redirect-missing":                      Error,
		"version-banner":                        Warning,
		"csp-missing":                           Error,
	} {
		if ids[id] != sev {
			t.Errorf("finding %s = %q, want %s", id, ids[id], sev)
		}
	}
	if _, ok := ids["server-status-exposed"]; ok {
		t.Error("catch-all page reported as /server-status")
	}
	if !rep.Failed("F") || rep.Failed("") {
		t.Error("TLS errors must fail the gate even at --min-grade F, and nothing fails without a gate")
	}
	golden(t, "bad", f, rep)
}

func TestWriteJSON(t *testing.T) {
	f := strongFixture(t)
	rep := run(t, f, Options{})
	var b bytes.Buffer
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Grade != rep.Grade || back.Score != rep.Score || len(back.Tests) != 10 || back.TLS.Certificate == nil ||
		len(back.TLS.Versions) != 4 || back.Redirect.Status != http.StatusMovedPermanently {
		t.Errorf("JSON lost data: %s", b.String())
	}
}

func TestParseTargets_IPv6(t *testing.T) {
	_, h, err := parseTargets("https://[::1]:8443/x?y=1", Options{})
	if err != nil || h.String() != "http://[::1]/x?y=1" {
		t.Errorf("got %v %v", h, err)
	}
}

// BenchmarkRun measures a whole audit of a loopback server (about thirty
// handshakes and fifteen requests).
func BenchmarkRun(b *testing.B) {
	f := strongFixture(b)
	o := Options{RootCAs: pki.pool, HTTPURL: f.http.URL + "/"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), f.tls.URL+"/", o); err != nil {
			b.Fatal(err)
		}
	}
}
