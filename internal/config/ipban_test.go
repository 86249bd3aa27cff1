package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/ipfilter"
	"github.com/rampart-dev/rampart/users"
)

// With no ip_rules and no ban section, every client is served and the
// default jail is on.
func TestLoad_IPRulesAndBanDefaults(t *testing.T) {
	p, fs, _ := load(t, minimal, nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if len(p.IPFilter.Allow)+len(p.IPFilter.Deny)+len(p.IPFilter.Routes) != 0 {
		t.Errorf("IPFilter = %+v", p.IPFilter)
	}
	if !p.BanEnabled || p.BanRedis != nil || p.Ban.MaxRetry != 0 || len(p.BanProbe.Paths) != 0 {
		t.Errorf("ban: enabled %v, redis %v, %+v, %+v", p.BanEnabled, p.BanRedis, p.Ban, p.BanProbe)
	}
	if _, err := ipfilter.New(p.IPFilter); err != nil {
		t.Error(err)
	}
	b, err := ban.New(p.Ban)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

func TestLoad_IPRulesAndBan(t *testing.T) {
	p, fs, _ := load(t, minimal+`
trusted_proxies: [192.0.2.10]
ip_rules:
  allow: [10.0.0.0/8, "::ffff:192.0.2.0/120"]
  deny: [10.9.9.9]
  routes:
    - prefix: /admin
      allow: [10.1.0.0/16]
ban:
  max_retry: 5
  find_time: 5m
  ban_time: 30m
  ban_time_increment: 3
  max_ban_time: 48h
  actions: [authn_login_fail]
  ignore: [198.51.100.0/24]
  probe_paths: [/.env, /secret]
  probe_pass_through: true
  redis:
    url: redis://127.0.0.1:6379/1
    prefix: "bans:"
`, nil, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	want := ipfilter.Options{
		Allow:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")},
		Deny:   []netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")},
		Routes: []ipfilter.Route{{Prefix: "/admin", Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}},
	}
	if got, w := fmtOpts(p.IPFilter), fmtOpts(want); got != w {
		t.Errorf("IPFilter = %s, want %s", got, w)
	}
	o := p.Ban
	if o.MaxRetry != 5 || o.FindTime != 5*time.Minute || o.BanTime != 30*time.Minute || o.BanTimeIncrement != 3 || o.MaxBanTime != 48*time.Hour ||
		strings.Join(o.Actions, ",") != "authn_login_fail" {
		t.Errorf("Ban = %+v", o)
	}
	if len(o.Ignore) != 2 || o.Ignore[0].String() != "198.51.100.0/24" || o.Ignore[1].String() != "192.0.2.10/32" {
		t.Errorf("Ignore = %v (ban.ignore, then the trusted proxies)", o.Ignore)
	}
	if !p.BanProbe.PassThrough || strings.Join(p.BanProbe.Paths, ",") != "/.env,/secret" {
		t.Errorf("BanProbe = %+v", p.BanProbe)
	}
	if p.BanRedis == nil || p.BanRedis.URL != "redis://127.0.0.1:6379/1" || p.BanRedis.Prefix != "bans:" {
		t.Errorf("BanRedis = %+v", p.BanRedis)
	}
}

func fmtOpts(o ipfilter.Options) string {
	var b strings.Builder
	for _, l := range [][]netip.Prefix{o.Allow, o.Deny} {
		for _, p := range l {
			b.WriteString(p.String() + " ")
		}
		b.WriteString("| ")
	}
	for _, r := range o.Routes {
		b.WriteString(r.Prefix + ":")
		for _, p := range append(r.Allow, r.Deny...) {
			b.WriteString(p.String() + " ")
		}
	}
	return b.String()
}

// Without ban.redis, the bans follow auth.redis.
func TestLoad_BanRedisFromAuth(t *testing.T) {
	env := map[string]string{"RAMPART_SECRET_KEY": "Zr4Xw8Qe2Tn6Yu0Io5Pa9Sd3Fg7Hj1Kl4Mz8Nx2Cv6B="}
	dir := t.TempDir()
	users := writeUsersFile(t, dir)
	p, fs, _ := load(t, minimal+`
auth:
  users_file: `+users+`
  redis: {url: "redis://127.0.0.1:6379/0"}
`, env, Flags{})
	if p == nil {
		t.Fatal(fs.Error())
	}
	if p.BanRedis == nil || p.BanRedis.URL != "redis://127.0.0.1:6379/0" {
		t.Fatalf("BanRedis = %+v", p.BanRedis)
	}
}

func TestLoad_IPRulesAndBanFindings(t *testing.T) {
	_, fs, _ := load(t, minimal+`
ip_rules:
  allow: [10.0.0.0/33]
  deny: [example.com]
  routes:
    - prefix: admin
      deny: [10.0.0.1]
    - prefix: /x
ban:
  max_retry: -1
  find_time: 0s
  ban_time_increment: 0.5
  actions: [ban_added]
  ignore: [nope]
  probe_paths: [/]
`, nil, Flags{})
	for _, key := range []string{"ip_rules.allow[0]", "ip_rules.deny[0]", "ip_rules.routes[0].prefix", "ip_rules.routes[1]",
		"ban.max_retry", "ban.find_time", "ban.ban_time_increment", "ban.actions[0]", "ban.ignore[0]", "ban.probe_paths[0]"} {
		found := false
		for _, f := range fs {
			found = found || f.Key == key
		}
		if !found {
			t.Errorf("no finding at %s in:\n%s", key, fs.Error())
		}
	}
}

func writeUsersFile(t *testing.T, dir string) string {
	t.Helper()
	hash, err := users.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(path, []byte("users:\n  - name: alice\n    hash: '"+hash+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoad_BanOffIsReported: turning the auto-ban off is a choice config
// check reports, not a silent one.
func TestLoad_BanOffIsReported(t *testing.T) {
	p, fs, _ := load(t, minimal+"ban: {enabled: false}\n", nil, Flags{})
	if p == nil || p.BanEnabled {
		t.Fatalf("ban.enabled: false not applied: %s", fs.Error())
	}
	for _, f := range fs {
		if f.Key == "ban.enabled" && f.Severity == Warning {
			return
		}
	}
	t.Errorf("no warning at ban.enabled in:\n%v", fs)
}
