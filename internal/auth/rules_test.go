package auth

import (
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/field"
)

func mustRules(t *testing.T, rules ...Rule) *ruleSet {
	t.Helper()
	var errs field.Errors
	validateRules(&errs, "Rules", rules)
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	rs, err := compileRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestRules_MostSpecificWins(t *testing.T) {
	rs := mustRules(t,
		Rule{Prefix: "/", Require: "public"},
		Rule{Prefix: "/app", Require: "authenticated"},
		Rule{Prefix: "/app/admin", Require: "role:admin"},
		Rule{Prefix: "/app/admin/health", Methods: []string{"GET"}, Require: "public"},
		Rule{Prefix: "/api", Require: "authenticated"},
		Rule{Prefix: "/api", Methods: []string{"GET"}, Require: "public"},
	)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/", "public"},
		{"GET", "/about", "public"},
		{"GET", "/app", "authenticated"},
		{"POST", "/app/x", "authenticated"},
		{"GET", "/app/admin/users", "role:admin"},
		{"GET", "/APP/Admin/users", "role:admin"}, // segment-wise, case ignored
		{"GET", "/app/administrator", "authenticated"},
		{"GET", "/app/admin/health", "public"},
		{"HEAD", "/app/admin/health", "public"}, // GET covers HEAD
		{"POST", "/app/admin/health", "role:admin"},
		{"GET", "/api/items", "public"},
		{"POST", "/api/items", "authenticated"},
	} {
		if got := rs.decide(c.method, c.path).String(); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}

// With no rule, everything needs a session: the zero rule set protects.
func TestRules_ZeroProtectsEverything(t *testing.T) {
	rs := mustRules(t)
	if got := rs.decide("GET", "/anything").String(); got != "authenticated" {
		t.Errorf("no rules: %s", got)
	}
}

func TestRules_Invalid(t *testing.T) {
	for _, c := range []struct {
		rules []Rule
		path  string
		msg   string
	}{
		{[]Rule{{Prefix: "admin", Require: "public"}}, "Rules[0].Prefix", "absolute path"},
		{[]Rule{{Prefix: "/a/../b", Require: "public"}}, "Rules[0].Prefix", "not a plain path"},
		{[]Rule{{Prefix: "/a", Require: "everyone"}}, "Rules[0].Require", "not a requirement"},
		{[]Rule{{Prefix: "/a", Require: "role:"}}, "Rules[0].Require", "no valid role"},
		{[]Rule{{Prefix: "/a", Require: "role:a b"}}, "Rules[0].Require", "no valid role"},
		{[]Rule{{Prefix: "/a", Methods: []string{"get"}, Require: "public"}}, "Rules[0].Methods[0]", "not a method"},
		{[]Rule{{Prefix: "/a", Require: "public"}, {Prefix: "/A/", Require: "authenticated"}}, "Rules[1]", "both decide"},
		{[]Rule{{Prefix: "/a", Methods: []string{"GET"}, Require: "public"}, {Prefix: "/a", Methods: []string{"POST", "GET"}, Require: "authenticated"}}, "Rules[1]", "both decide GET"},
	} {
		var errs field.Errors
		validateRules(&errs, "Rules", c.rules)
		if len(errs) == 0 || errs[0].Path != c.path || !strings.Contains(errs[0].Error(), c.msg) {
			t.Errorf("%+v: %v, want %s: ...%s...", c.rules, errs, c.path, c.msg)
		}
	}
}
