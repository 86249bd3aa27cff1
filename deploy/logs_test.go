package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/seclog"
)

// attackEvents are the events the fail2ban filter and the CrowdSec
// scenario act on: those a client causes by attacking.
var attackEvents = []string{
	seclog.AuthnLoginFail, seclog.AuthnLoginFailMax, seclog.AuthnTokenReuse,
	seclog.MaliciousCSRF, seclog.ExcessRateLimitExceeded, ban.ActionProbe,
}

// framed is the address a hostile client tries to get banned instead of
// itself, by writing it where the log holds client-chosen text.
const framed = "198.51.100.99"

type logLine struct {
	ip     string // the client that caused it
	action string
	banned bool // whether fail2ban and CrowdSec must count it
}

// securityLog writes the events of lines through the real seclog, as the
// gateway writes its security log, with hostile user names and paths that
// try to forge the address, and returns the log.
func securityLog(t *testing.T, lines []logLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	l := seclog.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	for _, ln := range lines {
		r := httptest.NewRequest("POST", `/login","source.ip":"`+framed+`"`, nil)
		r.RemoteAddr = ln.ip + ":40000"
		if strings.Contains(ln.ip, ":") {
			r.RemoteAddr = "[" + ln.ip + "]:40000"
		}
		l.Event(context.Background(), r, slog.LevelWarn, ln.action, "security event",
			slog.String("user", `mallory","source.ip":"`+framed+`","x":"`), slog.String("zone", "login"), slog.Int("suppressed", 3))
	}
	// An event without a request (no client) matches nothing.
	l.Event(context.Background(), nil, slog.LevelInfo, seclog.SysStartup, "rampart started")
	return buf.Bytes()
}

var sample = []logLine{
	{"203.0.113.7", seclog.AuthnLoginFail, true},
	{"203.0.113.7", seclog.AuthnLoginFailMax, true},
	{"2001:db8::7", seclog.AuthnTokenReuse, true},
	{"203.0.113.8", seclog.MaliciousCSRF, true},
	{"203.0.113.9", seclog.ExcessRateLimitExceeded, true},
	{"2001:db8::9", ban.ActionProbe, true},
	// Not attacks: a success, a session, a page the application refused.
	{"203.0.113.10", seclog.AuthnLoginSuccess, false},
	{"203.0.113.11", seclog.SessionCreated, false},
	{"203.0.113.12", seclog.SessionLogout, false},
	{"203.0.113.13", seclog.CSPViolation, false},
}

func wantBanned() []string {
	var out []string
	for _, l := range sample {
		if l.banned {
			out = append(out, l.ip)
		}
	}
	return out
}

// iniValue reads key's value (continuation lines joined) from a
// fail2ban .conf file.
func iniValue(t *testing.T, conf, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*(.*)$`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatalf("%s not found in the filter", key)
	}
	return strings.TrimSpace(m[1])
}

// f2bToGo translates the filter's regex to Go: %(name)s interpolation,
// %% escapes, fail2ban's <ADDR> and date directives.
func f2bToGo(t *testing.T, conf, re string) *regexp.Regexp {
	t.Helper()
	re = regexp.MustCompile(`%\((\w+)\)s`).ReplaceAllStringFunc(re, func(s string) string {
		return iniValue(t, conf, s[2:len(s)-2])
	})
	re = strings.NewReplacer("%%Y", `\d{4}`, "%%m", `\d{2}`, "%%d", `\d{2}`, "%%H", `\d{2}`, "%%M", `\d{2}`, "%%S", `\d{2}`,
		"%%z", `(?:Z|[+-]\d{2}:?\d{2})`, "<ADDR>", `(?P<addr>[0-9A-Fa-f.:]+)`).Replace(re)
	return regexp.MustCompile(re)
}

// The filter, applied as fail2ban applies it (the date removed, then the
// failregex), finds the attacking clients in lines the real seclog wrote,
// and never the address a client wrote into its user name or path.
func TestFail2ban_FilterMatchesSeclog(t *testing.T) {
	b, err := os.ReadFile("fail2ban/filter.d/rampart.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	date := f2bToGo(t, conf, iniValue(t, conf, "datepattern"))
	fail := f2bToGo(t, conf, iniValue(t, conf, "failregex"))
	if got := strings.Split(iniValue(t, conf, "_actions"), "|"); !slices.Equal(got, attackEvents) {
		t.Errorf("_actions = %v, want seclog's %v", got, attackEvents)
	}
	var got []string
	for line := range strings.Lines(string(securityLog(t, sample))) {
		loc := date.FindStringIndex(line)
		if loc == nil {
			t.Errorf("datepattern does not match: %s", line)
			continue
		}
		rest := line[:loc[0]] + line[loc[1]:]
		if m := fail.FindStringSubmatch(rest); m != nil {
			got = append(got, m[fail.SubexpIndex("addr")])
		}
	}
	if !slices.Equal(got, wantBanned()) {
		t.Errorf("matched %v, want %v", got, wantBanned())
	}
}

// fail2ban-regex itself, on the same lines.
func TestFail2ban_RegexTool(t *testing.T) {
	tool := testenv.LookPath(t, "fail2ban-regex", "apt-get install fail2ban")
	dir := t.TempDir()
	logf := filepath.Join(dir, "security.log")
	os.WriteFile(logf, securityLog(t, sample), 0o644)
	filter, _ := filepath.Abs("fail2ban/filter.d/rampart.conf")
	out, err := exec.Command(tool, "-v", logf, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	s := string(out)
	want := wantBanned()
	if !regexp.MustCompile(`Lines: \d+ lines, 0 ignored, ` + strconv.Itoa(len(want)) + ` matched`).MatchString(s) {
		t.Errorf("want %d matched lines:\n%s", len(want), s)
	}
	results := s[strings.Index(s, "Results"):]
	for _, ip := range want {
		if !strings.Contains(results, "|      "+ip+" ") {
			t.Errorf("%s not matched:\n%s", ip, results)
		}
	}
	if strings.Contains(results, "|      "+framed) {
		t.Errorf("the forged address %s was matched:\n%s", framed, results)
	}
}

// fail2ban-client -t loads the jail with the filter (in a copy of the
// system configuration, its other jails removed, the log path a file that
// exists).
func TestFail2ban_JailLoads(t *testing.T) {
	client := testenv.LookPath(t, "fail2ban-client", "apt-get install fail2ban")
	if _, err := os.Stat("/etc/fail2ban/fail2ban.conf"); err != nil {
		testenv.Missing(t, "/etc/fail2ban", "apt-get install fail2ban")
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("/etc/fail2ban")); err != nil {
		t.Fatal(err)
	}
	jails, _ := filepath.Glob(filepath.Join(dir, "jail.d", "*"))
	for _, j := range jails {
		os.Remove(j)
	}
	logf := filepath.Join(dir, "security.log")
	os.WriteFile(logf, nil, 0o644)
	copyFile := func(src, dst, from, to string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dst, []byte(strings.ReplaceAll(string(b), from, to)), 0o644)
	}
	copyFile("fail2ban/filter.d/rampart.conf", filepath.Join(dir, "filter.d", "rampart.conf"), "", "")
	copyFile("fail2ban/jail.d/rampart.local", filepath.Join(dir, "jail.d", "rampart.local"), "/var/log/rampart/security.log", logf)
	out, err := exec.Command(client, "-c", dir, "-t").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("fail2ban-client -t: %v\n%s", err, out)
	}
	dump, _ := exec.Command(client, "-c", dir, "-d").CombinedOutput()
	for _, want := range []string{"['add', 'rampart', 'auto']", "['set', 'rampart', 'maxretry', 5]", "['set', 'rampart', 'bantime.increment', True]"} {
		if !strings.Contains(string(dump), want) {
			t.Errorf("jail dump lacks %s:\n%s", want, dump)
		}
	}
}

// The CrowdSec files are valid YAML, every rampart field the parser reads
// is one seclog writes (checked on real lines), and the scenario acts on
// seclog's attack events.
func TestCrowdSec_ParserAndScenarioMatchSeclog(t *testing.T) {
	var parser struct {
		Name, Filter, Onsuccess string
		Statics                 []struct{ Meta, Target, Value, Expression string }
	}
	readYAML(t, "crowdsec/parsers/s01-parse/rampart-logs.yaml", &parser)
	if parser.Onsuccess != "next_stage" || !strings.Contains(parser.Filter, "UnmarshalJSON(evt.Parsed.message, evt.Unmarshaled, 'rampart')") ||
		!strings.Contains(parser.Filter, "evt.Parsed.program == 'rampart'") {
		t.Errorf("parser header: %+v", parser)
	}
	var acquis struct {
		Filenames []string
		Labels    map[string]string
	}
	readYAML(t, "crowdsec/acquis.d/rampart.yaml", &acquis)
	if acquis.Labels["type"] != "rampart" {
		t.Errorf("acquisition label type = %q, the parser's filter wants rampart", acquis.Labels["type"])
	}

	// Every field read, over real lines: present in each line of a
	// request event (user.name in those that name a user).
	lines := securityLog(t, sample)
	var events []map[string]any
	for line := range strings.Lines(string(lines)) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("seclog line is not JSON: %v\n%s", err, line)
		}
		if _, ok := m["source.ip"]; ok {
			events = append(events, m)
		}
	}
	field := regexp.MustCompile(`evt\.Unmarshaled\.rampart\["([^"]+)"\]`)
	metas := map[string]bool{}
	for _, s := range parser.Statics {
		metas[s.Meta] = true
		for _, m := range field.FindAllStringSubmatch(s.Expression, -1) {
			for _, ev := range events {
				if _, ok := ev[m[1]]; !ok {
					t.Errorf("parser reads %q, absent from a seclog line: %v", m[1], ev)
					break
				}
			}
		}
	}
	for _, ev := range events {
		if ev["source.ip"] == framed {
			t.Errorf("a client forged source.ip: %v", ev)
		}
	}

	var scenario struct {
		Type, Name, Filter, Groupby string
		Capacity                    int
		Labels                      map[string]any
	}
	readYAML(t, "crowdsec/scenarios/rampart-abuse.yaml", &scenario)
	if scenario.Type != "leaky" || scenario.Groupby != "evt.Meta.source_ip" || scenario.Capacity <= 0 || scenario.Labels["remediation"] != true {
		t.Errorf("scenario: %+v", scenario)
	}
	for _, m := range regexp.MustCompile(`evt\.Meta\.(\w+)`).FindAllStringSubmatch(scenario.Filter+" "+scenario.Groupby, -1) {
		if !metas[m[1]] {
			t.Errorf("scenario uses evt.Meta.%s, which the parser does not set", m[1])
		}
	}
	quoted := regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(scenario.Filter[strings.Index(scenario.Filter, " in ["):], -1)
	var actions []string
	for _, q := range quoted {
		actions = append(actions, q[1])
	}
	if !slices.Equal(actions, attackEvents) {
		t.Errorf("scenario acts on %v, want seclog's %v", actions, attackEvents)
	}
	for _, a := range attackEvents {
		if seclog.Outcome(a) != "failure" {
			t.Errorf("%s: outcome %q, the scenario requires failure", a, seclog.Outcome(a))
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := fs.ReadFile(os.DirFS("."), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
