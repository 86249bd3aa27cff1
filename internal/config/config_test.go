package config

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/logfile"
)

var update = flag.Bool("update", false, "rewrite golden files")

// load writes yaml to a temp rampart.yaml and loads it with env as the whole
// environment.
func load(t *testing.T, yaml string, env map[string]string, flags Flags) (*Plan, Findings, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p, fs := Load(Source{Path: path, Flags: flags, LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	return p, fs, dir
}

const minimal = `
hosts: [example.com]
upstream:
  url: http://127.0.0.1:5000
`

func TestLoad_MinimalIsSecureDefaults(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil {
		t.Fatalf("unexpected errors:\n%s", fs.Error())
	}
	if len(fs) != 0 {
		t.Errorf("want no findings, got:\n%v", fs)
	}
	if p.TLSMode() != "acme" {
		t.Errorf("public host without certificate files: want automatic ACME, got %v", p.TLSMode())
	}
	// The plan leaves every library setting the file does not name at
	// zero: the library's own default, secure by construction.
	srv, err := listen.NewServer(p.HTTPS, http.NotFoundHandler(), nil, p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if h := srv.HTTP; h.ReadHeaderTimeout == 0 || h.IdleTimeout == 0 || h.MaxHeaderBytes != listen.DefaultMaxHeaderBytes {
		t.Errorf("slowloris timeouts must default on: %+v", h)
	}
	if p.Listen.ReadHeaderTimeout != 0 || p.Listen.MaxConnsPerClient != 0 || p.Proxy.SendUpstreamHost || p.Proxy.MaxBodyBytes != 0 || p.AccessFile != (logfile.Options{}) {
		t.Errorf("library defaults overridden by the plan: %+v %+v %+v", p.Listen, p.Proxy, p.AccessFile)
	}
	if len(p.ClientIP.TrustedProxies) != 0 || p.ClientIP.Header != "" {
		t.Errorf("no proxy must be trusted by default: %+v", p.ClientIP)
	}
}

// Each row is a mistake; the finding must name the line, the key and a fix.
func TestLoad_ErrorsNameFileLineKeyAndFix(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "hosts: [example.com]\nupstream:\n  url: http://127.0.0.1:5000\n  urll: x\n",
			[]string{"rampart.yaml:4", `upstream.urll: unknown key "urll"`, "valid keys here:", "url"}},
		{"bad duration", minimal + "listen:\n  read_header_timeout: 10 seconds\n",
			[]string{"rampart.yaml:6", "listen.read_header_timeout", `"10 seconds" is not a duration`, `hint: write a duration`}},
		{"slowloris timeout disabled", minimal + "listen:\n  read_header_timeout: 0s\n",
			[]string{"rampart.yaml:6", "listen.read_header_timeout: must be > 0", "slowloris"}},
		{"connection cap negative", minimal + "listen:\n  max_conns_per_client: -1\n",
			[]string{"rampart.yaml:6", "listen.max_conns_per_client: -1 is out of range", "hint: use 1 to 100000"}},
		{"header limit too small", minimal + "listen:\n  max_header_bytes: 1k\n",
			[]string{"rampart.yaml:6", "listen.max_header_bytes: 1024 bytes is too small"}},
		{"connection cap beyond any descriptor limit", minimal + "listen:\n  max_conns_per_client: 100001\n",
			[]string{"rampart.yaml:6", "listen.max_conns_per_client: 100001 is out of range"}},
		{"missing upstream", "hosts: [example.com]\n",
			[]string{"upstream.url: is required", "--upstream"}},
		{"upstream with credentials", "hosts: [example.com]\nupstream: {url: 'http://u:p@127.0.0.1:5000'}\n",
			[]string{"rampart.yaml:2", "upstream.url: holds credentials"}},
		{"trust every proxy", minimal + "trusted_proxies: [0.0.0.0/0]\n",
			[]string{"rampart.yaml:5", "trusted_proxies[0]", "trusts every address"}},
		{"host with scheme", "hosts: ['https://example.com']\nupstream: {url: 'http://127.0.0.1:5000'}\n",
			[]string{"rampart.yaml:1", "hosts[0]", "has a scheme"}},
		{"wildcard host", "hosts: ['*.example.com']\nupstream: {url: 'http://127.0.0.1:5000'}\n",
			[]string{"hosts[0]", "wildcard"}},
		{"no certificate for local name", "hosts: [app.test]\nupstream: {url: 'http://127.0.0.1:5000'}\n",
			[]string{"error: tls: no certificate source", "insecure_dev_certificate"}},
		{"half a key pair", minimal + "tls:\n  cert_file: /nonexistent.pem\n",
			[]string{"tls.key_file: is required"}},
		{"bad size", minimal + "limits:\n  max_body_bytes: lots\n",
			[]string{"rampart.yaml:6", "limits.max_body_bytes", `"lots" is not a size`}},
		{"wrong type", "hosts: example.com\nupstream: {url: 'http://127.0.0.1:5000'}\n",
			[]string{"rampart.yaml:1", "hosts: expected a list of host names, got a single string", "hint: write a list: hosts: [example.com"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, fs, _ := load(t, c.yaml, nil, Flags{})
			if p != nil {
				t.Fatalf("want errors, got a plan; findings: %v", fs)
			}
			got := fs.Error()
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("finding lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestLoad_CollectsAllErrors(t *testing.T) {
	_, fs, _ := load(t, "hosts: ['a b']\nupstream: {url: 'ftp://x'}\nlisten: {read_header_timeout: x, idle_timeout: y}\n", nil, Flags{})
	if n := len(fs.Errors()); n < 4 {
		t.Errorf("want every error reported at once, got %d:\n%s", n, fs.Error())
	}
}

func TestLoad_Warnings(t *testing.T) {
	dir := t.TempDir()
	_, fs, _ := load(t, minimal+"upstream:\n  url: http://10.0.0.5:5000\n", nil, Flags{})
	_ = dir
	// Duplicate key upstream is a YAML error; check warnings on a clean file.
	_, fs, _ = load(t, "hosts: [example.com]\nupstream: {url: 'http://10.0.0.5:5000'}\nlog:\n  access: {path: "+filepath.Join(os.TempDir(), "a.log")+", max_size_mb: 1, max_backups: 2, keep_query_params: [token]}\n", nil, Flags{})
	got := ""
	for _, f := range fs {
		got += f.String() + "\n"
	}
	for _, w := range []string{"warning: upstream.url: traffic to 10.0.0.5:5000 crosses the network unencrypted",
		"log.access.max_size_mb: keeps only 3 MB", `keep_query_params[0]: "token" looks like it may carry a secret`} {
		if !strings.Contains(got, w) {
			t.Errorf("missing warning %q in:\n%s", w, got)
		}
	}
}

func TestLoad_EnvAndFlagsOverrideFile(t *testing.T) {
	env := map[string]string{"RAMPART_UPSTREAM_URL": "http://127.0.0.1:6000", "RAMPART_LISTEN_HTTP": "off",
		"RAMPART_LOG_ACCESS_MAX_BACKUPS": "20", "RAMPART_UPSTREAM_PRESERVE_HOST": "false"}
	addr := "127.0.0.1:9443"
	p, fs, _ := load(t, minimal, env, Flags{Listen: &addr, Hosts: []string{"Example.ORG"}})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if p.Proxy.Upstream.String() != "http://127.0.0.1:6000" || p.HTTP != "" || p.HTTPS != addr ||
		p.AccessFile.MaxBackups != 20 || !p.Proxy.SendUpstreamHost || p.Hosts[0] != "example.org" {
		t.Errorf("overrides not applied: %q %q %+v %+v %v", p.HTTPS, p.HTTP, p.AccessFile, p.Proxy, p.Hosts)
	}
	_, fs, _ = load(t, minimal, map[string]string{"RAMPART_LISTEN_IDLE_TIMEOUT": "soon"}, Flags{})
	if !strings.Contains(fs.Error(), "env RAMPART_LISTEN_IDLE_TIMEOUT: error: listen.idle_timeout") {
		t.Errorf("env error must name the variable: %s", fs.Error())
	}
}

func TestLoad_DotEnvNeverOverridesEnvironment(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rampart.yaml"), []byte(minimal), 0o600)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("RAMPART_LISTEN_HTTPS=127.0.0.1:1111\nRAMPART_LISTEN_HTTP=127.0.0.1:2222\n"), 0o644)
	p, fs := Load(Source{Path: filepath.Join(dir, "rampart.yaml"), LookupEnv: func(k string) (string, bool) {
		if k == "RAMPART_LISTEN_HTTPS" {
			return "127.0.0.1:3333", true
		}
		return "", false
	}})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if p.HTTPS != "127.0.0.1:3333" || p.HTTP != "127.0.0.1:2222" {
		t.Errorf("got %q %q", p.HTTPS, p.HTTP)
	}
	if !strings.Contains(fs[0].String(), "chmod 600") {
		t.Errorf("world-readable .env must be reported: %v", fs)
	}
}

// A missing, short, example or low-entropy secret is an error, and the
// finding never contains the value.
func TestSecret_WeakValuesRejected(t *testing.T) {
	strong := "q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6Fg0Hu3Io8Pz="
	cases := map[string]string{
		"short":         "tooshort-9f8e7d",
		"example":       "your-secret-key-your-secret-key-!!",
		"low entropy":   strings.Repeat("ab", 20),
		"all same char": strings.Repeat("x", 64),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			_, fs, _ := load(t, minimal, map[string]string{"RAMPART_SECRET_KEY": v}, Flags{})
			got := fs.Error()
			if !strings.Contains(got, "secret_key: secret RAMPART_SECRET_KEY") || !strings.Contains(got, "env RAMPART_SECRET_KEY") {
				t.Errorf("want a secret error, got %q", got)
			}
			if strings.Contains(got, v) {
				t.Errorf("finding leaks the secret value: %s", got)
			}
		})
	}
	p, fs, _ := load(t, minimal, map[string]string{"RAMPART_SECRET_KEY": strong}, Flags{})
	if p == nil || string(p.SecretKey) != strong {
		t.Fatalf("strong secret refused: %v", fs)
	}
	// A configured secret name that is set nowhere is an error, not nil.
	_, fs, _ = load(t, minimal+"secret_key: APP_SECRET\n", nil, Flags{})
	if !strings.Contains(fs.Error(), "secret APP_SECRET is configured but not set") {
		t.Errorf("missing secret accepted: %v", fs)
	}
}

func TestSecret_FileAndCredentialsDirectory(t *testing.T) {
	dir := t.TempDir()
	strong := "Zr4Xw8Qe2Tn6Yu0Io5Pa9Sd3Fg7Hj1Kl4Mz8Nx2Cv6B="
	os.WriteFile(filepath.Join(dir, "s"), []byte(strong+"\n"), 0o600)
	p, fs, _ := load(t, minimal, map[string]string{"RAMPART_SECRET_KEY_FILE": filepath.Join(dir, "s")}, Flags{})
	if p == nil || string(p.SecretKey) != strong {
		t.Fatalf("NAME_FILE: %v", fs)
	}
	os.WriteFile(filepath.Join(dir, "RAMPART_SECRET_KEY"), []byte(strong), 0o600)
	p, fs, _ = load(t, minimal, map[string]string{"CREDENTIALS_DIRECTORY": dir}, Flags{})
	if p == nil || string(p.SecretKey) != strong {
		t.Fatalf("CREDENTIALS_DIRECTORY: %v", fs)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "32k": 32 << 10, "10m": 10 << 20, "10MiB": 10 << 20, "1g": 1 << 30, "2KB": 2048} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%q: got %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "1t", "k", "99999999999999999999g"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The full report of each bad file in testdata, as `rampart config check`
// prints it: bad.yaml (one mistake per line), types.yaml (values of the
// wrong shape, one per schema type), tabs.yaml (tab indentation).
func TestLoad_GoldenReport(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 3 {
		t.Fatalf("golden inputs missing: %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, fs, dir := load(t, string(in), nil, Flags{})
			var b strings.Builder
			fs.Write(&b)
			got := strings.ReplaceAll(b.String(), filepath.Join(dir, "rampart.yaml"), "rampart.yaml")
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, _ := os.ReadFile(golden)
			if got != string(want) {
				t.Errorf("report differs from %s (run with -update):\n%s", golden, got)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(minimal)
	f.Add("hosts: [a]\nlisten: {https: ':1', read_header_timeout: 1s}\nlimits: {max_body_bytes: 1k}\n")
	f.Add("tls: {acme: {email: x}}\nlog: {access: {keep_query_params: [a]}}\n")
	f.Add("hosts: example.com\nupstream: http://127.0.0.1:5000\nlisten: [a]\nratelimit: {zones: [a], rules: {a: b}}\n")
	f.Add("upstream:\n\turl: x\n")
	f.Add("a: &a [*a, *a]\nhosts: *a\n")
	f.Add("headers: {csp: {directives: {script-src: {a: b}}}, modes: [a]}\nlimits: {max_body_bytes: [1]}\n")
	f.Fuzz(func(t *testing.T, yaml string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "rampart.yaml")
		os.WriteFile(path, []byte(yaml), 0o600)
		p, fs := Load(Source{Path: path, LookupEnv: func(string) (string, bool) { return "", false }})
		if p == nil && !fs.HasErrors() {
			t.Fatal("no plan and no error")
		}
		if p != nil && fs.HasErrors() {
			t.Fatal("plan despite errors")
		}
		for _, f := range fs {
			if f.Where == "" || f.Message == "" {
				t.Fatalf("a finding without a place or a message: %+v", f)
			}
			if strings.Contains(f.Message, "!!") || strings.Contains(f.Message, "config.") {
				t.Fatalf("a finding in Go's words: %s", f)
			}
		}
	})
}

func TestLoad_HeadersAndRateLimitErrorsNameTheirLine(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unquoted self", minimal + "headers:\n  csp:\n    directives:\n      script-src: self\n",
			[]string{"rampart.yaml:8", "headers.csp.directives.script-src", "'self'"}},
		{"preload without includeSubDomains", minimal + "headers:\n  hsts:\n    preload: true\n    include_subdomains: false\n",
			[]string{"headers.hsts", "preload"}},
		{"bad rate", minimal + "ratelimit:\n  zones:\n    api:\n      rate: 10/s\n  rules:\n    - prefix: /api/\n      limits: [{zone: api, burst: 20, nodelay: true}]\n",
			[]string{"rampart.yaml:8", "ratelimit.zones.api.rate"}},
		{"unknown zone", minimal + "ratelimit:\n  rules:\n    - prefix: /api/\n      limits: [{zone: nope, burst: 20}]\n",
			[]string{"ratelimit.rules[0]", "nope"}},
		{"unknown header key", minimal + "headers:\n  frame_option: DENY\n",
			[]string{"rampart.yaml:6", `unknown key "frame_option"`, "frame_options"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, fs, _ := load(t, c.yaml, nil, Flags{})
			if p != nil {
				t.Fatalf("want errors, got a plan; findings: %v", fs)
			}
			got := fs.Error()
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("finding lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestLoad_DefaultRateLimitAndHeaders(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if len(p.RateLimit.Rules) != 1 || p.RateLimit.Rules[0].Prefix != "/" {
		t.Errorf("no default flood guard: %+v", p.RateLimit)
	}
	p, fs, _ = load(t, minimal+"ratelimit: {rules: []}\nheaders: {frame_options: DENY}\n", map[string]string{"RAMPART_HEADERS_REFERRER_POLICY": "no-referrer"}, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if len(p.RateLimit.Rules) != 0 {
		t.Errorf("explicit empty rules must limit nothing: %+v", p.RateLimit)
	}
	if p.Headers.FrameOptions != "DENY" || p.Headers.ReferrerPolicy != "no-referrer" {
		t.Errorf("headers: %+v", p.Headers.Headers)
	}
}

func TestLoad_UpstreamTLS(t *testing.T) {
	_, fs, _ := load(t, "hosts: [example.com]\nupstream:\n  url: https://app.internal:8443\n  tls: {insecure_skip_verify: true}\n", nil, Flags{})
	if got := fs.Error() + fmtFindings(fs); !strings.Contains(got, "rampart.yaml:4: warning: upstream.tls.insecure_skip_verify") {
		t.Errorf("skipping verification must be reported: %s", got)
	}
	_, fs, _ = load(t, "hosts: [example.com]\nupstream:\n  url: https://app.internal:8443\n  tls: {ca_file: /nonexistent}\n", nil, Flags{})
	if !strings.Contains(fs.Error(), "upstream.tls.ca_file: cannot load CA certificates") {
		t.Errorf("bad CA file accepted: %v", fs)
	}
}

func fmtFindings(fs Findings) string {
	var b strings.Builder
	fs.Write(&b)
	return b.String()
}

func TestLoad_RateLimitBackend(t *testing.T) {
	rl := func(zone string) string {
		return minimal + "ratelimit:\n  zones:\n    api:\n" + zone + "  rules: [{prefix: /api/, limits: [{zone: api, burst: 20}]}]\n"
	}
	_, fs, _ := load(t, rl("      rate: 10r/s\n      backend: redis://:hunter2@127.0.0.1:6379/0\n"), nil, Flags{})
	if got := fs.Error(); !strings.Contains(got, "ratelimit.zones.api.backend: holds a password") || strings.Contains(got, "hunter2") {
		t.Errorf("password in URL: %s", got)
	}
	_, fs, _ = load(t, rl("      rate: 10r/s\n      backend: redis://127.0.0.1:6379/0\n      password_secret: REDIS_PASSWORD\n"), nil, Flags{})
	if !strings.Contains(fs.Error(), "secret REDIS_PASSWORD is configured but not set") {
		t.Errorf("missing password secret: %v", fs)
	}
	p, fs, _ := load(t, rl("      rate: 10r/s\n      backend: redis://10.0.0.9:6379/0\n      on_backend_error: fail_open\n"), nil, Flags{})
	if p == nil || p.RateLimitBackends["api"].URL != "redis://10.0.0.9:6379/0" {
		t.Fatalf("backend not planned: %v", fs)
	}
	got := fmtFindings(fs)
	for _, w := range []string{"crosses the network unencrypted", "fail_open stops limiting"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing warning %q: %s", w, got)
		}
	}
}

func TestLoad_ComponentWarnings(t *testing.T) {
	_, fs, _ := load(t, minimal+"client_ip_header: X-Real-IP\n", nil, Flags{})
	if got := fmtFindings(fs); !strings.Contains(got, "rampart.yaml:5: warning: client_ip_header: has no effect without trusted proxies") {
		t.Errorf("clientip warning not surfaced: %s", got)
	}
}

func TestLoad_TLSMinVersionAndListenWarnings(t *testing.T) {
	_, fs, _ := load(t, minimal+"tls:\n  min_version: \"1.0\"\n", nil, Flags{})
	if !strings.Contains(fs.Error(), `rampart.yaml:6: error: tls.min_version: "1.0" is not allowed`) {
		t.Errorf("TLS 1.0 accepted: %v", fs)
	}
	p, fs, _ := load(t, minimal+"tls: {min_version: \"1.3\"}\nlisten: {read_header_timeout: 5m}\n", nil, Flags{})
	if p == nil || p.TLS.MinVersion != 0x0304 {
		t.Fatalf("min_version 1.3: %v", fs)
	}
	if got := fmtFindings(fs); !strings.Contains(got, "rampart.yaml:6: warning: listen.read_header_timeout: above 1m") {
		t.Errorf("listen warning not surfaced: %s", got)
	}
}

// The seed's app.config['SECRET_KEY'] = os.environ.get('SECRET_KEY')
// silently accepts None. Listed in require_secrets, a missing or weak
// SECRET_KEY stops rampart from starting.
func TestLoad_RequireSecrets(t *testing.T) {
	y := minimal + "require_secrets: [SECRET_KEY]\n"
	_, fs, _ := load(t, y, nil, Flags{})
	if !strings.Contains(fs.Error(), "rampart.yaml:5: error: require_secrets[0]: secret SECRET_KEY is required but not set") {
		t.Errorf("missing SECRET_KEY accepted: %v", fs)
	}
	_, fs, _ = load(t, y, map[string]string{"SECRET_KEY": "dev"}, Flags{})
	if !strings.Contains(fs.Error(), "env SECRET_KEY: error: require_secrets[0]: secret SECRET_KEY is shorter than 32 bytes") {
		t.Errorf("weak SECRET_KEY accepted: %v", fs)
	}
	p, fs, _ := load(t, y, map[string]string{"SECRET_KEY": "Jq3vZ8pL1xW6nR0tY4cB7mK2sD9fG5hA="}, Flags{})
	if p == nil {
		t.Errorf("strong SECRET_KEY refused: %v", fs)
	}
}

// A certificate that does not cover a configured host, or expires within
// two weeks, is reported before any browser sees it.
func TestLoad_CertificateCoverageAndExpiry(t *testing.T) {
	dir := t.TempDir()
	pair, err := testcert.Write(dir, 5*24*time.Hour, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf("hosts: [example.com, www.example.com]\nupstream: {url: 'http://127.0.0.1:5000'}\ntls: {cert_file: %q, key_file: %q}\n", pair.CertFile, pair.KeyFile)
	p, fs, _ := load(t, y, nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	got := fmtFindings(fs)
	for _, w := range []string{`does not cover host "www.example.com"`, "the certificate expires on"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if strings.Contains(got, `cover host "example.com"`) {
		t.Errorf("covered host reported: %s", got)
	}
}

func TestLoad_MaxConnsPerClientSet(t *testing.T) {
	p, fs, _ := load(t, minimal+"listen: {max_conns_per_client: 12}\n", nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if p.Listen.MaxConnsPerClient != 12 {
		t.Errorf("max_conns_per_client: got %d, want 12", p.Listen.MaxConnsPerClient)
	}
	p, fs, _ = load(t, minimal+"listen: {max_conns_per_client: 0}\n", nil, Flags{})
	// 0 is the listener's own default (256), not a plan value.
	if p == nil || p.Listen.MaxConnsPerClient != 0 {
		t.Errorf("max_conns_per_client 0 must mean the default: %v %v", p, fs)
	}
}

// The lane is on unless listen.http1_lane is false, from the file or the
// environment.
func TestLoad_HTTP1Lane(t *testing.T) {
	for _, tc := range []struct {
		yaml   string
		env    map[string]string
		noLane bool
	}{
		{minimal, nil, false},
		{minimal + "listen: {http1_lane: true}\n", nil, false},
		{minimal + "listen: {http1_lane: false}\n", nil, true},
		{minimal, map[string]string{"RAMPART_LISTEN_HTTP1_LANE": "false"}, true},
	} {
		p, fs, _ := load(t, tc.yaml, tc.env, Flags{})
		if p == nil {
			t.Fatal(fs.Error())
		}
		if p.Listen.NoLane != tc.noLane {
			t.Errorf("%q %v: NoLane %v, want %v", tc.yaml, tc.env, p.Listen.NoLane, tc.noLane)
		}
	}
}

// rampart's HTTP/2 server answers unless listen.http2_server is "go";
// any other value is an error naming the key.
func TestLoad_HTTP2Server(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		env  map[string]string
		goH2 bool
	}{
		{minimal, nil, false},
		{minimal + "listen: {http2_server: rampart}\n", nil, false},
		{minimal + "listen: {http2_server: go}\n", nil, true},
		{minimal, map[string]string{"RAMPART_LISTEN_HTTP2_SERVER": "go"}, true},
	} {
		p, fs, _ := load(t, tc.yaml, tc.env, Flags{})
		if p == nil {
			t.Fatal(fs.Error())
		}
		if p.Listen.GoHTTP2 != tc.goH2 {
			t.Errorf("%q %v: GoHTTP2 %v, want %v", tc.yaml, tc.env, p.Listen.GoHTTP2, tc.goH2)
		}
	}
	p, fs, _ := load(t, minimal+"listen: {http2_server: nginx}\n", nil, Flags{})
	if p != nil || !strings.Contains(fs.Error(), "listen.http2_server") || !strings.Contains(fs.Error(), `"go"`) {
		t.Errorf("a bad value must be an error naming the key and the fix: %v", fs.Error())
	}
}

func TestLoad_SecurityTxt(t *testing.T) {
	exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	p, fs, _ := load(t, minimal+`
security_txt:
  contact: [mailto:security@example.com, "https://example.com/report"]
  expires: `+exp.Format(time.RFC3339)+`
  preferred_languages: [en, fr]
  policy: [https://example.com/policy]
`, nil, Flags{})
	if p == nil || len(fs) != 0 {
		t.Fatalf("findings:\n%s", fs.Error())
	}
	if !p.SecurityTxtEnabled || !p.SecurityTxt.Expires.Equal(exp) || len(p.SecurityTxt.Contact) != 2 || p.SecurityTxt.Policy[0] != "https://example.com/policy" {
		t.Errorf("plan: %v %+v", p.SecurityTxtEnabled, p.SecurityTxt)
	}
	if p, _, _ := load(t, minimal, nil, Flags{}); p.SecurityTxtEnabled {
		t.Error("enabled without the section")
	}
}

// Each mistake is refused (or reported) at its own key and line.
func TestLoad_SecurityTxtFindings(t *testing.T) {
	future := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for name, tc := range map[string]struct {
		section, key string
		sev          Severity
		contains     string
	}{
		"no contact":   {"  expires: " + future, "security_txt.contact", Error, "at least one contact"},
		"no expires":   {"  contact: [mailto:a@example.com]", "security_txt.expires", Error, "is required"},
		"expired":      {"  contact: [mailto:a@example.com]\n  expires: 2020-01-01T00:00:00Z", "security_txt.expires", Error, "is past"},
		"not RFC 3339": {"  contact: [mailto:a@example.com]\n  expires: 31/01/2099", "security_txt.expires", Error, "RFC 3339"},
		"over a year": {"  contact: [mailto:a@example.com]\n  expires: " + time.Now().AddDate(2, 0, 0).UTC().Format(time.RFC3339),
			"security_txt.expires", Warning, "more than a year"},
		"http contact": {"  contact: [mailto:a@example.com, \"http://example.com/r\"]\n  expires: " + future, "security_txt.contact[1]", Error, "http:"},
		"injection": {"  contact: [\"mailto:a@example.com\\r\\nContact: https://evil.example\"]\n  expires: " + future,
			"security_txt.contact[0]", Error, "control character"},
		"bad hiring": {"  contact: [mailto:a@example.com]\n  expires: " + future + "\n  hiring: [ftp://example.com/jobs]", "security_txt.hiring[0]", Error, "ftp"},
	} {
		t.Run(name, func(t *testing.T) {
			_, fs, _ := load(t, minimal+"security_txt:\n"+tc.section+"\n", nil, Flags{})
			found := false
			for _, f := range fs {
				found = found || f.Key == tc.key && f.Severity == tc.sev && strings.Contains(f.Message, tc.contains) && strings.Contains(f.Where, "rampart.yaml:")
			}
			if !found || len(fs) != 1 {
				t.Errorf("want one %s at %s containing %q, got:\n%s", tc.sev, tc.key, tc.contains, fs.Error())
			}
		})
	}
}

// A signed security.txt is read from its file and served as it is; the
// keys that would build a file must then be absent, and every fault is
// named at the key that holds it.
func TestLoad_SecurityTxtSignedFile(t *testing.T) {
	dir := t.TempDir()
	exp := time.Now().Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	signed := "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nContact: mailto:security@example.com\nExpires: " + exp +
		"\n-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQ==\n-----END PGP SIGNATURE-----\n"
	good := filepath.Join(dir, "security.txt")
	os.WriteFile(good, []byte(signed), 0o644)
	unsigned := filepath.Join(dir, "unsigned.txt")
	os.WriteFile(unsigned, []byte("Contact: mailto:security@example.com\nExpires: "+exp+"\n"), 0o644)

	p, fs, _ := load(t, minimal+"security_txt:\n  signed_file: "+good+"\n", nil, Flags{})
	if p == nil || len(fs) != 0 {
		t.Fatalf("findings:\n%s", fs.Error())
	}
	if !p.SecurityTxtEnabled || string(p.SecurityTxt.Signed) != signed {
		t.Errorf("plan: %v %q", p.SecurityTxtEnabled, p.SecurityTxt.Signed)
	}
	for name, tc := range map[string]struct{ section, key, contains string }{
		"unreadable":     {"  signed_file: " + filepath.Join(dir, "missing.txt"), "security_txt.signed_file", "cannot read"},
		"not signed":     {"  signed_file: " + unsigned, "security_txt.signed_file", "not an OpenPGP cleartext-signed message"},
		"contact beside": {"  signed_file: " + good + "\n  contact: [mailto:a@example.com]", "security_txt.contact", "beside a signed file"},
		"expires beside": {"  signed_file: " + good + "\n  expires: " + exp, "security_txt.expires", "beside a signed file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, fs, _ := load(t, minimal+"security_txt:\n"+tc.section+"\n", nil, Flags{})
			found := false
			for _, f := range fs {
				found = found || f.Key == tc.key && f.Severity == Error && strings.Contains(f.Message, tc.contains) && strings.Contains(f.Where, "rampart.yaml:")
			}
			if !found || len(fs) != 1 {
				t.Errorf("want one error at %s containing %q, got:\n%s", tc.key, tc.contains, fs.Error())
			}
		})
	}
}

// The access log is buffered by default when it is a file, and not on
// standard output; log.access.buffer and flush set it either way, within
// bounds that name the key and its line.
func TestLoad_AccessLogBuffer(t *testing.T) {
	file := filepath.Join(t.TempDir(), "access.log")
	for _, c := range []struct {
		name, log string
		size      int
		flush     time.Duration
	}{
		{"FileDefault", "{path: " + file + "}", 64 << 10, 0},
		{"StdoutDefault", "{path: '-'}", 0, 0},
		{"FileUnbuffered", "{path: " + file + ", buffer: 0}", 0, 0},
		{"StdoutBuffered", "{buffer: 16k, flush: 1s}", 16 << 10, time.Second},
		{"FileSet", "{path: " + file + ", buffer: 1m, flush: 10s}", 1 << 20, 10 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, fs, _ := load(t, minimal+"log:\n  access: "+c.log+"\n", nil, Flags{})
			if p == nil || len(fs) != 0 {
				t.Fatalf("findings:\n%v", fs)
			}
			if p.AccessFile.BufferSize != c.size || p.AccessFile.FlushInterval != c.flush {
				t.Errorf("buffer %d, flush %v; want %d, %v", p.AccessFile.BufferSize, p.AccessFile.FlushInterval, c.size, c.flush)
			}
			if p.SecurityLog.BufferSize != 0 {
				t.Errorf("the security log is buffered: %d", p.SecurityLog.BufferSize)
			}
		})
	}
	for _, c := range []struct{ log, want string }{
		{"{path: " + file + ", buffer: 2m}", "rampart.yaml:6: error: log.access.buffer: must be at most 1048576 bytes"},
		{"{path: " + file + ",\n    flush: 1m}", "rampart.yaml:7: error: log.access.flush: 1m0s is over the limit of 10s"},
	} {
		p, fs, _ := load(t, minimal+"log:\n  access: "+c.log+"\n", nil, Flags{})
		if p != nil || !strings.Contains(fs.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.log, fs.Error(), c.want)
		}
	}
	if _, fs, _ := load(t, minimal+"log:\n  access: {flush: 1s}\n", nil, Flags{}); len(fs) != 1 || !strings.Contains(fs[0].String(), "rampart.yaml:6: warning: log.access.flush: has no effect without a buffer") {
		t.Errorf("flush without a buffer on stdout: %v", fs)
	}
}
