package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/users"
)

// examples/seed/rampart.yaml is the seed guide as configuration; it must
// stay valid, and say what the seed says.
func TestSeedExampleIsValid(t *testing.T) {
	dir := t.TempDir()
	pair, err := testcert.Write(dir, 90*24*time.Hour, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := pair.CertFile, pair.KeyFile
	usersFile := filepath.Join(dir, "users.yaml")
	hash, err := users.Hash("a password for the seed example")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(usersFile, []byte("users:\n  - {name: alice, hash: '"+hash+"'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"RAMPART_AUTH_USERS_FILE":   usersFile,
		"RAMPART_TLS_CERT_FILE":     certFile,
		"RAMPART_TLS_KEY_FILE":      keyFile,
		"RAMPART_LOG_ACCESS_PATH":   filepath.Join(dir, "access.log"),
		"RAMPART_LOG_SECURITY_PATH": filepath.Join(dir, "security.log"),
		"RAMPART_STATE_DIR":         filepath.Join(dir, "state"),
		"RAMPART_SECRET_KEY":        "k7Rz2Qw9Xv4Lp8Mn3Bt6Yc1Hs5Gd0Fa=",
		"SECRET_KEY":                "Pz5Lq8Wx2Nv7Rt1Ym4Kc9Bs3Hd6Fg0J=",
	}
	p, fs := Load(Source{Path: "../../examples/seed/rampart.yaml", LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if p == nil {
		t.Fatalf("the seed example is invalid:\n%s", fs.Error())
	}
	if len(fs) != 0 {
		t.Errorf("findings: %s", fmtFindings(fs))
	}
	r := p.RateLimit
	if len(r.Rules) != 1 || r.Rules[0].Prefix != "/api/" || r.Rules[0].Limits[0].Burst != 20 || !r.Rules[0].Limits[0].NoDelay ||
		r.Zones["api_limit"].Rate.String() != "10r/s" || r.Zones["api_limit"].Size != 10<<20 {
		t.Errorf("seed limit_req not reproduced: %+v", r)
	}
	if !p.AuthEnabled || p.Auth.Session.AccessTTL != time.Hour || len(p.CSRF.TokenPrefixes) != 1 {
		t.Errorf("seed JWT cookies and CSRFProtect not reproduced: %+v %+v", p.Auth, p.CSRF)
	}
	if !p.Headers.HSTS.Preload || p.Proxy.Upstream.String() != "http://127.0.0.1:5000" || p.Proxy.SendUpstreamHost {
		t.Errorf("plan: %+v", p)
	}
}
