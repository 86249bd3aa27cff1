package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// nftCheck runs nft -c -f on path (a check: nothing is applied).
func nftCheck(t *testing.T, path string) (string, error) {
	t.Helper()
	nft := testenv.LookPath(t, "nft", "apt-get install nftables")
	out, err := exec.Command(nft, "-c", "-f", path).CombinedOutput()
	if err != nil && strings.Contains(string(out), "Operation not permitted") {
		testenv.Missing(t, "permission for nft -c (CAP_NET_ADMIN)", "run the tests as root")
	}
	return string(out), err
}

// The nftables ruleset parses (nft -c: checked by the kernel, never
// applied), and a broken copy does not: the check is real.
func TestNFT_RulesetParses(t *testing.T) {
	if out, err := nftCheck(t, "firewall/rampart.nft"); err != nil {
		t.Fatalf("nft -c -f firewall/rampart.nft: %v\n%s", err, out)
	}
	b, _ := os.ReadFile("firewall/rampart.nft")
	bad := filepath.Join(t.TempDir(), "bad.nft")
	os.WriteFile(bad, []byte(strings.Replace(string(b), "policy drop;", "policy dorp;", 1)), 0o644)
	if out, err := nftCheck(t, bad); err == nil {
		t.Errorf("a misspelt policy passed nft -c:\n%s", out)
	}
}

// The ruleset matches the listeners: default drop, 80 and 443 accepted
// after the per-client flood rules, the admin port dropped before any
// accept could reach it.
func TestNFT_RulesetMatchesTheListeners(t *testing.T) {
	b, err := os.ReadFile("firewall/rampart.nft")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	idx := func(sub string) int {
		i := strings.Index(s, sub)
		if i < 0 {
			t.Errorf("rampart.nft lacks %q", sub)
		}
		return i
	}
	drop := idx("policy drop;")
	admin := idx("tcp dport 9180 counter drop")
	flood4 := idx("tcp dport { 80, 443 } ct state new update @flood_v4")
	flood6 := idx("tcp dport { 80, 443 } ct state new update @flood_v6")
	accept := idx("tcp dport { 80, 443 } ct state new accept")
	if !(drop < admin && admin < accept && flood4 < accept && flood6 < accept) {
		t.Errorf("order: policy %d, admin drop %d, flood %d/%d, accept %d", drop, admin, flood4, flood6, accept)
	}
	if strings.Contains(s, "hook output") || strings.Contains(s, "flush ruleset") {
		t.Error("the ruleset must touch only inbound traffic in its own table")
	}
}

// ufw.sh, run against a stand-in ufw that records its arguments, issues
// the rules for the listeners and nothing that opens the admin port.
func TestUFW_Rules(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "apt-get install dash")
	dir := t.TempDir()
	record := filepath.Join(dir, "calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + record + "\n"
	if err := os.WriteFile(filepath.Join(dir, "ufw"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "firewall/ufw.sh")
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ufw.sh: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(record)
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"default deny incoming",
		"default allow outgoing",
		"limit 22/tcp comment ssh",
		"allow 443/tcp comment rampart https",
		"allow 80/tcp comment rampart http redirect and acme",
		"deny 9180/tcp comment rampart admin: loopback only",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("ufw calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}
