package proxy

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNew_Validation(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error, empty for no error
	}{
		{"zero", Options{}, []string{"Upstream: is required"}},
		{"ok", Options{Upstream: mustURL(t, "http://127.0.0.1:5000")}, nil},
		{"https", Options{Upstream: mustURL(t, "https://app.internal")}, nil},
		{"scheme", Options{Upstream: mustURL(t, "ftp://127.0.0.1")}, []string{`Upstream: scheme "ftp": must be http or https`}},
		{"unix", Options{Upstream: mustURL(t, "unix:///run/app.sock")}, []string{"Upstream: scheme"}},
		{"no host", Options{Upstream: mustURL(t, "http:///x")}, []string{"Upstream: has no host"}},
		{"host:port without scheme", Options{Upstream: mustURL(t, "localhost:5000")}, []string{"Upstream"}},
		{"userinfo", Options{Upstream: mustURL(t, "http://u:secret@127.0.0.1")}, []string{"Upstream: holds credentials"}},
		{"all at once", Options{
			Upstream:                       mustURL(t, "http://127.0.0.1"),
			DialTimeout:                    -1,
			ResponseHeaderTimeout:          -time.Second,
			MaxIdleConns:                   -1,
			MaxBodyBytes:                   -1,
			BodyMemoryBytes:                -1,
			BodyMemoryBudget:               -1,
			BodyTempDir:                    "/nonexistent/rampart-bodies",
			InsecureStreamRequestBodyPaths: []string{"/ok", "upload"},
			StripRequestHeaders:            []string{"X-Ok", "Bad Name", "X-Prefix-*", "*", "X-*-Mid", "Bad Prefix*"},
			RemoveResponseHeaders:          []string{"X:Colon", "X-Debug-*"},
		}, []string{
			"DialTimeout: must not be negative",
			"ResponseHeaderTimeout: must not be negative",
			"MaxIdleConns: must not be negative",
			"MaxBodyBytes: must not be negative",
			"BodyMemoryBytes: must not be negative",
			"BodyMemoryBudget: must not be negative",
			`BodyTempDir: "/nonexistent/rampart-bodies" does not exist`,
			`InsecureStreamRequestBodyPaths[1]: "upload" must be an absolute path`,
			`StripRequestHeaders[1]: "Bad Name" is not a valid header name`,
			`StripRequestHeaders[3]: "*" would match every header`,
			`StripRequestHeaders[4]: "X-*-Mid" has a '*' that is not at the end`,
			`StripRequestHeaders[5]: "Bad Prefix*" is not a valid header name`,
			`RemoveResponseHeaders[0]: "X:Colon" is not a valid header name`,
		}},
	}
	for _, tc := range tests {
		_, err := New(tc.o)
		if err != nil && (strings.Contains(err.Error(), "[2]") || strings.Contains(err.Error(), "X-Debug-*")) {
			t.Errorf("%s: a valid prefix pattern was refused: %v", tc.name, err)
		}
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}

// TestNew_UpstreamCopied: changing the caller's URL after New does not
// redirect a running proxy.
func TestNew_UpstreamCopied(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:5000")
	p, err := New(Options{Upstream: u})
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "evil.example"
	if p.upstream.Host != "127.0.0.1:5000" {
		t.Errorf("upstream changed to %q", p.upstream.Host)
	}
}

func TestNew_Defaults(t *testing.T) {
	p, err := New(Options{Upstream: mustURL(t, "http://127.0.0.1:5000")})
	if err != nil {
		t.Fatal(err)
	}
	tr := p.transport
	if tr.MaxIdleConns != DefaultMaxIdleConns || tr.MaxIdleConnsPerHost != DefaultMaxIdleConns ||
		tr.ResponseHeaderTimeout != DefaultResponseHeaderTimeout || tr.IdleConnTimeout != DefaultIdleConnTimeout ||
		tr.TLSHandshakeTimeout != DefaultTLSHandshakeTimeout || !tr.DisableCompression || tr.Proxy != nil {
		t.Errorf("transport defaults: %+v", tr)
	}
	if p.maxBody != DefaultMaxBodyBytes {
		t.Errorf("max body %d", p.maxBody)
	}
	if sp := p.spooler; p.streamBodies || sp.memMax != DefaultBodyMemoryBytes ||
		sp.mem.max != DefaultBodyMemoryBudget || sp.disk.max != DefaultBodyTempBudget || sp.dir != os.TempDir() || sp.maxBody != DefaultMaxBodyBytes {
		t.Errorf("buffering defaults: stream %v, %d in memory, budget %d, disk %d, dir %q", p.streamBodies, sp.memMax, sp.mem.max, sp.disk.max, sp.dir)
	}
	// One client may hold 1/16 of each budget: 2 MiB of memory, 64 MiB
	// of temporary files.
	if sp := p.spooler; sp.memShare != 2<<20 || sp.diskShare != 64<<20 {
		t.Errorf("client shares: %d memory, %d disk", sp.memShare, sp.diskShare)
	}
	if w := (&Options{Upstream: mustURL(t, "http://127.0.0.1:5000")}).Validate(); len(w) != 0 {
		t.Errorf("findings for a loopback upstream: %q", w)
	}
}

// TestNew_TempDirNotADirectory: a file named as the temporary directory is
// refused at start, not on the first large upload.
func TestNew_TempDirNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	_, err := New(Options{Upstream: mustURL(t, "http://127.0.0.1:5000"), BodyTempDir: f})
	if err == nil || !strings.Contains(err.Error(), "BodyTempDir: ") || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("error %v", err)
	}
}

func TestWarnings(t *testing.T) {
	shared := t.TempDir()
	os.Chmod(shared, 0o777) // world-writable, no sticky bit
	sticky := t.TempDir()
	os.Chmod(sticky, 0o777|os.ModeSticky)
	tests := []struct {
		o    Options
		want string
	}{
		{Options{Upstream: mustURL(t, "http://10.0.0.5:5000")}, "Upstream: traffic to 10.0.0.5:5000 crosses the network unencrypted"},
		{Options{Upstream: mustURL(t, "https://app.internal"), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, "certificate is not verified"},
		{Options{Upstream: mustURL(t, "http://localhost:5000")}, ""},
		{Options{Upstream: mustURL(t, "http://localhost:5000"), InsecureStreamRequestBodies: true}, "InsecureStreamRequestBodies: "},
		{Options{Upstream: mustURL(t, "http://localhost:5000"), BodyTempDir: shared}, "BodyTempDir: "},
		{Options{Upstream: mustURL(t, "http://localhost:5000"), InsecureStreamRequestBodyPaths: []string{"/upload"}}, `InsecureStreamRequestBodyPaths[0]: request bodies under "/upload" are streamed`},
		{Options{Upstream: mustURL(t, "http://localhost:5000"), BodyTempDir: sticky}, ""},
		{Options{Upstream: mustURL(t, "http://[::1]:5000")}, ""},
	}
	for _, tc := range tests {
		if _, err := New(tc.o); err != nil {
			t.Fatal(err)
		}
		var ws []string
		for _, e := range tc.o.Validate().Warnings() {
			ws = append(ws, e.Error())
		}
		w := strings.Join(ws, "\n")
		if tc.want == "" && w != "" || !strings.Contains(w, tc.want) {
			t.Errorf("%s: warnings %q, want %q", tc.o.Upstream, w, tc.want)
		}
	}
}
