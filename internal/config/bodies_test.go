package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad_BodyBufferingDefaults(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	// Unset, the proxy's own defaults apply (64k, 32m, 1g, $TMPDIR, not
	// streamed): the plan holds nothing of its own.
	if o := p.Proxy; o.BodyMemoryBytes != 0 || o.BodyMemoryBudget != 0 || o.BodyTempBudget != 0 || o.BodyTempDir != "" || o.InsecureStreamRequestBodies {
		t.Errorf("buffering defaults: %+v", o)
	}
}

func TestLoad_BodyBuffering(t *testing.T) {
	dir := t.TempDir()
	p, fs, _ := load(t, minimal+"limits: {body_memory_bytes: 16k, body_memory_budget: 8m, body_temp_budget: 2g, body_temp_dir: "+dir+"}\n", nil, Flags{})
	if p == nil || len(fs) != 0 {
		t.Fatalf("findings:\n%v", fs)
	}
	if o := p.Proxy; o.BodyMemoryBytes != 16<<10 || o.BodyMemoryBudget != 8<<20 || o.BodyTempBudget != 2<<30 || o.BodyTempDir != dir {
		t.Errorf("plan: %+v", o)
	}
	p, _, _ = load(t, minimal, map[string]string{"RAMPART_LIMITS_BODY_TEMP_DIR": dir}, Flags{})
	if p == nil || p.Proxy.BodyTempDir != dir {
		t.Errorf("RAMPART_LIMITS_BODY_TEMP_DIR not applied")
	}
}

func TestLoad_BodyBufferingErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct{ yaml, want string }{
		{"limits: {body_memory_bytes: 0}\n", "limits.body_memory_bytes: must be > 0"},
		{"limits: {body_memory_budget: 0}\n", "limits.body_memory_budget: must be > 0"},
		{"limits: {body_temp_budget: 0}\n", "limits.body_temp_budget: must be > 0"},
		{"limits: {body_temp_dir: /nonexistent/rampart}\n", `limits.body_temp_dir: "/nonexistent/rampart" does not exist`},
		{"limits: {body_temp_dir: " + file + "}\n", "is not a directory"},
		{"  insecure_stream_request_body_paths: [/ok, upload]\n", `upstream.insecure_stream_request_body_paths[1]: "upload" must be an absolute path`},
	} {
		p, fs, _ := load(t, minimal+tc.yaml, nil, Flags{})
		if p != nil || !strings.Contains(fs.Error(), tc.want) || !strings.Contains(fs.Error(), "rampart.yaml:5") {
			t.Errorf("%s: findings\n%v", tc.yaml, fs)
		}
	}
}

// A streaming escape hatch and a temporary directory others can write to
// are valid, and reported.
func TestLoad_BodyBufferingWarnings(t *testing.T) {
	shared := t.TempDir()
	os.Chmod(shared, 0o777)
	p, fs, _ := load(t, minimal+"  insecure_stream_request_bodies: true\n  insecure_stream_request_body_paths: [/upload]\nlimits: {body_temp_dir: "+shared+", body_memory_budget: 1k, body_temp_budget: 1m}\n", nil, Flags{})
	if p == nil || !p.Proxy.InsecureStreamRequestBodies {
		t.Fatalf("findings:\n%v", fs)
	}
	got := ""
	for _, f := range fs {
		got += f.String() + "\n"
	}
	if got := p.Proxy.InsecureStreamRequestBodyPaths; len(got) != 1 || got[0] != "/upload" {
		t.Errorf("paths %q", got)
	}
	for _, w := range []string{"warning: upstream.insecure_stream_request_bodies: request bodies are streamed",
		`warning: upstream.insecure_stream_request_body_paths[0]: request bodies under "/upload" are streamed`,
		"warning: limits.body_temp_dir: " + `"` + shared + `" is writable by other users`,
		"warning: limits.body_memory_budget: 1024 bytes is less than the memory part of one body",
		"warning: limits.body_temp_budget: 1048576 bytes is less than the largest body allowed"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	// A body limit above 1/16 of the temporary file budget gives one
	// client more than its usual share.
	_, fs, _ = load(t, minimal+"limits: {max_body_bytes: 100m}\n", nil, Flags{})
	if len(fs) != 1 || !strings.Contains(fs[0].String(), "warning: limits.max_body_bytes: one client may hold the largest body (104857600 bytes) of the 1073741824 bytes") ||
		!strings.Contains(fs[0].String(), "1677721600") {
		t.Errorf("max_body_bytes over the client share:\n%v", fs)
	}
	sticky := t.TempDir()
	os.Chmod(sticky, 0o777|os.ModeSticky)
	if _, fs, _ := load(t, minimal+"limits: {body_temp_dir: "+sticky+"}\n", nil, Flags{}); len(fs) != 0 {
		t.Errorf("a sticky shared directory like /tmp is reported:\n%v", fs)
	}
}
