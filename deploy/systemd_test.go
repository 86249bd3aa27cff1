package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/testenv"
)

var units = []string{"rampart.service", "rampart.socket", "rampart-http.socket"}

// directives returns the key=value lines of a unit file, comments and
// section headers dropped, keyed by "Section.Key" (values of repeated
// keys joined by "\n").
func directives(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	section := ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s: not a directive: %q", name, line)
				continue
			}
			key := section + "." + k
			if prev, dup := out[key]; dup {
				v = prev + "\n" + v
			}
			out[key] = v
		}
	}
	return out
}

// The hardening the deployment promises is in the unit, with the values
// promised.
func TestSystemd_HardeningDirectives(t *testing.T) {
	d := directives(t, "rampart.service")
	for key, want := range map[string]string{
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallFilter":        "@system-service",
		"SystemCallArchitectures": "native",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"StateDirectory":          "rampart",
		"LogsDirectory":           "rampart",
		"User":                    "rampart",
		"UMask":                   "0077",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"LoadCredential":          "RAMPART_SECRET_KEY:/etc/rampart/secret_key",
	} {
		if got := d["Service."+key]; got != want {
			t.Errorf("rampart.service: %s=%q, want %q", key, got, want)
		}
	}
	// Socket-activated: no capability is granted, only bounded.
	if v, ok := d["Service.AmbientCapabilities"]; ok {
		t.Errorf("AmbientCapabilities=%s: the sockets come from systemd, rampart needs no capability", v)
	}
	if !strings.Contains(d["Unit.Requires"], "rampart.socket") || !strings.Contains(d["Unit.Requires"], "rampart-http.socket") {
		t.Errorf("Requires=%q: the service must start with its sockets", d["Unit.Requires"])
	}
}

// The credential's name is the one rampart looks up for secret_key.
func TestSystemd_CredentialNameIsTheSecretKeyName(t *testing.T) {
	b, err := os.ReadFile("../internal/config/compile.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`defaultSecretName\s*=\s*"([A-Z_]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("defaultSecretName not found in internal/config/compile.go")
	}
	cred := directives(t, "rampart.service")["Service.LoadCredential"]
	if name, _, _ := strings.Cut(cred, ":"); name != string(m[1]) {
		t.Errorf("LoadCredential names %q; rampart reads $CREDENTIALS_DIRECTORY/%s", name, m[1])
	}
}

// Each socket carries the name serve looks for (pickActivated).
func TestSystemd_SocketNames(t *testing.T) {
	for name, want := range map[string][2]string{"rampart.socket": {"443", "https"}, "rampart-http.socket": {"80", "http"}} {
		d := directives(t, name)
		if d["Socket.ListenStream"] != want[0] || d["Socket.FileDescriptorName"] != want[1] || d["Socket.Service"] != "rampart.service" {
			t.Errorf("%s: ListenStream=%q FileDescriptorName=%q Service=%q, want %s, %s, rampart.service",
				name, d["Socket.ListenStream"], d["Socket.FileDescriptorName"], d["Socket.Service"], want[0], want[1])
		}
		if _, ok := d["Socket.Accept"]; ok {
			t.Errorf("%s: Accept= would pass connections, which rampart refuses", name)
		}
	}
}

// systemd-analyze verify accepts the units: no unknown key, no bad value,
// the binary found (a copy of the test binary stands at ExecStart's
// path). systemd-analyze security rates the sandbox.
func TestSystemd_AnalyzeVerify(t *testing.T) {
	sa := testenv.LookPath(t, "systemd-analyze", "apt-get install systemd")
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rampart")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/rampart", bin)
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Unknown keys are warnings with exit status 0: any line about our
	// units fails the test.
	for line := range strings.Lines(string(out)) {
		for _, u := range units {
			if strings.Contains(line, u) {
				t.Errorf("systemd-analyze verify: %s", strings.TrimSpace(line))
				break
			}
		}
	}

	sec, err := exec.Command(sa, "security", "--offline=yes", paths[0]).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline unavailable (%v): exposure not rated", err)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for rampart\.service: ([0-9.]+)`).FindSubmatch(sec)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", sec)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f (0 safest, 10 unsandboxed)", level)
	if level > 2.0 {
		t.Errorf("exposure %.1f: the sandbox got weaker (it rated 1.7 when written)", level)
	}
}

// The sandbox is attacked: a misspelled directive is exactly what verify
// must catch, or the test above proves nothing.
func TestSystemd_VerifyCatchesAMisspelledDirective(t *testing.T) {
	sa := testenv.LookPath(t, "systemd-analyze", "apt-get install systemd")
	dir := t.TempDir()
	b, _ := os.ReadFile("systemd/rampart.service")
	s := strings.ReplaceAll(string(b), "/usr/local/bin/rampart", "/bin/true")
	s = strings.Replace(s, "NoNewPrivileges=yes", "NoNewPrivilege=yes", 1)
	p := filepath.Join(dir, "rampart.service")
	os.WriteFile(p, []byte(s), 0o644)
	out, _ := exec.Command(sa, "verify", p).CombinedOutput()
	if !strings.Contains(string(out), "NoNewPrivilege") {
		t.Errorf("verify did not report the misspelling:\n%s", out)
	}
}
