package nginx_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/examples/seed/nginx"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func goldenParams() nginx.Params {
	return nginx.Params{
		Prefix:     "/tmp/seed-nginx",
		HTTPSAddr:  "127.0.0.1:8443",
		HTTPAddr:   "127.0.0.1:8080",
		Upstream:   "127.0.0.1:5000",
		ServerName: "app.test",
		CertFile:   "/tmp/seed-nginx/cert.pem",
		KeyFile:    "/tmp/seed-nginx/key.pem",
	}
}

func TestRender_Golden(t *testing.T) {
	keepalive := goldenParams()
	keepalive.UpstreamKeepalive = 64
	keepalive.AccessLog = true
	for name, p := range map[string]nginx.Params{
		"seed.golden.conf":      goldenParams(),
		"keepalive.golden.conf": keepalive,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := nginx.Render(p)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("Render differs from %s (run go test -update to accept):\n%s", golden, got)
			}
		})
	}
}

// TestRender_KeepsSeedDirectives checks that rendering substitutes addresses
// and paths only: every directive the seed wrote reaches nginx unchanged.
func TestRender_KeepsSeedDirectives(t *testing.T) {
	got, err := nginx.Render(goldenParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{
		`limit_req_zone $binary_remote_addr zone=api_limit:10m rate=10r/s;`,
		`ssl_protocols TLSv1.2 TLSv1.3;`,
		`ssl_ciphers "EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH";`,
		`add_header Strict-Transport-Security "max-age=63072000; includeSubDomains; preload";`,
		`add_header X-Content-Type-Options "nosniff";`,
		`add_header X-Frame-Options "SAMEORIGIN";`,
		`add_header X-XSS-Protection "1; mode=block";`,
		`proxy_set_header Host $host;`,
		`proxy_set_header X-Real-IP $remote_addr;`,
		`proxy_hide_header Server;`,
		`limit_req zone=api_limit burst=20 nodelay;`,
		`return 301 https://$host$request_uri;`,
	} {
		if !strings.Contains(string(got), d) {
			t.Errorf("rendered configuration lost the seed's %q", d)
		}
	}
	for _, gone := range []string{"/path/to/", "listen 443", "listen 80;", "example.com"} {
		if strings.Contains(string(got), gone) {
			t.Errorf("rendered configuration still contains %q", gone)
		}
	}
}

func TestRender_MissingFields(t *testing.T) {
	_, err := nginx.Render(nginx.Params{})
	if err == nil {
		t.Fatal("Render accepted empty Params")
	}
	for _, f := range []string{"Prefix", "HTTPSAddr", "HTTPAddr", "Upstream", "CertFile", "KeyFile"} {
		if !strings.Contains(err.Error(), f+": required") {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}

// TestRender_DirectiveInjection checks that a value cannot smuggle nginx
// syntax (a new directive, a block, a comment, a variable) into the file.
func TestRender_DirectiveInjection(t *testing.T) {
	for name, mutate := range map[string]func(*nginx.Params){
		"semicolon in server name": func(p *nginx.Params) { p.ServerName = "app.test; return 200" },
		"brace in cert path":       func(p *nginx.Params) { p.CertFile = "/tmp/x}location/{" },
		"newline in upstream":      func(p *nginx.Params) { p.Upstream = "127.0.0.1:5000\nproxy_pass http://evil" },
		"comment in address":       func(p *nginx.Params) { p.HTTPSAddr = "127.0.0.1:8443#" },
		"variable in key path":     func(p *nginx.Params) { p.KeyFile = "/tmp/$host.pem" },
		"quote in prefix":          func(p *nginx.Params) { p.Prefix = `/tmp/"x` },
		"relative prefix":          func(p *nginx.Params) { p.Prefix = "tmp" },
		"negative keepalive":       func(p *nginx.Params) { p.UpstreamKeepalive = -1 },
		"directive in buffer": func(p *nginx.Params) {
			p.AccessLog, p.AccessLogBuffer, p.AccessLogFlush = true, "64k; return 200", "1s"
		},
		"directive in flush":   func(p *nginx.Params) { p.AccessLog, p.AccessLogBuffer, p.AccessLogFlush = true, "64k", "1s if=$x" },
		"buffer without flush": func(p *nginx.Params) { p.AccessLog, p.AccessLogBuffer = true, "64k" },
		"buffer without log":   func(p *nginx.Params) { p.AccessLog, p.AccessLogBuffer, p.AccessLogFlush = false, "64k", "1s" },
	} {
		t.Run(name, func(t *testing.T) {
			p := goldenParams()
			mutate(&p)
			if conf, err := nginx.Render(p); err == nil {
				t.Errorf("Render accepted it:\n%s", conf)
			}
		})
	}
}
