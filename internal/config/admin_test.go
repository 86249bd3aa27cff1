package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/metrics"
)

const adminToken = "Vq8Lx3Nc7Rw2Pz9Kd4Hs6Fm1Bt5Gy0J="

func TestAdmin_DefaultIsLoopbackWithoutToken(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil || len(fs) != 0 {
		t.Fatalf("findings: %s", fmtFindings(fs))
	}
	if p.Admin.Listen != "" || p.Admin.Token != nil || p.Admin.Disabled() {
		t.Errorf("plan: %+v", p.Admin)
	}
	if errs := p.Admin.Validate(); len(errs) != 0 {
		t.Errorf("the default does not validate: %v", errs)
	}
}

// A network address without a token is refused, naming the key and the
// fix; with a token it is a warning; the token comes from a secret, and
// the flag and the environment set the address.
func TestAdmin_NonLoopbackNeedsToken(t *testing.T) {
	_, fs, _ := load(t, minimal+"admin:\n  listen: 0.0.0.0:9180\n", nil, Flags{})
	out := fmtFindings(fs)
	if !fs.HasErrors() || !strings.Contains(out, "rampart.yaml:6: error: admin.listen:") ||
		!strings.Contains(out, "not a loopback address") || !strings.Contains(out, "admin.token_secret") {
		t.Errorf("findings:\n%s", out)
	}

	env := map[string]string{"ADMIN_TOKEN": adminToken}
	p, fs, _ := load(t, minimal+"admin:\n  listen: 0.0.0.0:9180\n  token_secret: ADMIN_TOKEN\n", env, Flags{})
	if p == nil {
		t.Fatalf("errors: %s", fmtFindings(fs))
	}
	if string(p.Admin.Token) != adminToken || p.Admin.Listen != "0.0.0.0:9180" {
		t.Errorf("plan: %+v", p.Admin)
	}
	if len(fs) != 1 || fs[0].Severity != Warning || fs[0].Key != "admin.listen" || !strings.Contains(fs[0].Message, "reachable from the network") {
		t.Errorf("want one warning on admin.listen, got:\n%s", fmtFindings(fs))
	}

	// The flag overrides the file and is named in the finding.
	flag := "[::]:9180"
	_, fs, _ = load(t, minimal, nil, Flags{AdminListen: &flag})
	if out := fmtFindings(fs); !strings.Contains(out, "flag --admin-listen: error: admin.listen:") {
		t.Errorf("flag findings:\n%s", out)
	}
	// So does the environment.
	p, fs, _ = load(t, minimal, map[string]string{"RAMPART_ADMIN_LISTEN": "off"}, Flags{})
	if p == nil || !p.Admin.Disabled() || len(fs) != 0 {
		t.Errorf("RAMPART_ADMIN_LISTEN=off: %+v %s", p, fmtFindings(fs))
	}
}

func TestAdmin_TokenSecretChecked(t *testing.T) {
	// Missing.
	_, fs, _ := load(t, minimal+"admin:\n  token_secret: ADMIN_TOKEN\n", nil, Flags{})
	if out := fmtFindings(fs); !fs.HasErrors() || !strings.Contains(out, "admin.token_secret: secret ADMIN_TOKEN is configured but not set anywhere") {
		t.Errorf("missing:\n%s", out)
	}
	// Weak or a placeholder: refused, never printed.
	for _, v := range []string{"changeme", "${ADMIN_TOKEN}", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		_, fs, _ := load(t, minimal+"admin:\n  listen: 0.0.0.0:9180\n  token_secret: ADMIN_TOKEN\n", map[string]string{"ADMIN_TOKEN": v}, Flags{})
		out := fmtFindings(fs)
		if !fs.HasErrors() || !strings.Contains(out, "admin.token_secret") || strings.Contains(out, v) {
			t.Errorf("%q:\n%s", v, out)
		}
	}
	// From a file ($CREDENTIALS_DIRECTORY), like secret_key.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ADMIN_TOKEN"), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, fs, _ := load(t, minimal+"admin:\n  token_secret: ADMIN_TOKEN\n", map[string]string{"CREDENTIALS_DIRECTORY": dir}, Flags{})
	if p == nil || string(p.Admin.Token) != adminToken {
		t.Fatalf("credential: %s", fmtFindings(fs))
	}
	// Off: the secret is not needed, and naming one is reported.
	p, fs, _ = load(t, minimal+"admin:\n  listen: \"off\"\n  token_secret: ADMIN_TOKEN\n", nil, Flags{})
	if p == nil || !p.Admin.Disabled() || len(fs) != 1 || fs[0].Severity != Warning || fs[0].Key != "admin.token_secret" {
		t.Errorf("off with a token secret: %s", fmtFindings(fs))
	}
}

// The admin listener is never on a public port.
func TestAdmin_NotOnAPublicPort(t *testing.T) {
	for _, tc := range []struct{ yaml string }{
		{"listen:\n  https: 127.0.0.1:8443\nadmin:\n  listen: 127.0.0.1:8443\n"},
		{"listen:\n  https: \":9180\"\n"},
		{"listen:\n  http: 127.0.0.1:9180\n"},
	} {
		_, fs, _ := load(t, minimal+tc.yaml, nil, Flags{})
		if out := fmtFindings(fs); !strings.Contains(out, "admin.listen") || !strings.Contains(out, "never served on a public port") {
			t.Errorf("%s:\n%s", tc.yaml, out)
		}
	}
	_, fs, _ := load(t, minimal+"listen:\n  https: 127.0.0.1:8443\nadmin:\n  listen: 127.0.0.1:8444\n", nil, Flags{})
	if fs.HasErrors() {
		t.Errorf("distinct ports refused: %s", fmtFindings(fs))
	}
	if !sharesPort("", ":9180") || sharesPort("127.0.0.1:9180", "127.0.0.2:9180") || sharesPort("127.0.0.1:9180", "") {
		t.Error("sharesPort")
	}
}

// The metrics' routes are the prefixes of the plan's rules, valid for
// metrics.RouteByPrefix.
func TestPlan_RoutePrefixes(t *testing.T) {
	p, fs, _ := load(t, minimal+`ratelimit:
  zones: {api: {rate: 10r/s}}
  rules:
    - {prefix: /api/, limits: [{zone: api}]}
    - {prefix: /login, limits: [{zone: api}]}
headers:
  routes:
    - {prefix: /embed/, referrer_policy: no-referrer}
    - {prefix: /api/, referrer_policy: no-referrer}
`, nil, Flags{})
	if p == nil {
		t.Fatal(fmtFindings(fs))
	}
	got := p.RoutePrefixes()
	if strings.Join(got, " ") != "/api/ /login /embed/" {
		t.Errorf("prefixes %q", got)
	}
	if _, err := metrics.RouteByPrefix(got); err != nil {
		t.Error(err)
	}
}
