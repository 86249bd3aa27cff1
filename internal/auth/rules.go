package auth

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
)

// Rule says who may send requests under a path prefix: the prefix is
// matched segment by segment on the canonical path (reqpath.Prefix, the
// matcher every rule of rampart uses), Methods (none: every method) narrow
// it, and Require is "public", "authenticated" or "role:NAME".
//
// For a request, the rule with the longest matching prefix wins; between
// two rules of the same prefix, one naming the request's method wins over
// one for every method; a rule naming GET covers HEAD. A path no rule matches requires a session: the
// zero rule set protects everything, and a public area is written as a
// rule.
type Rule struct {
	Prefix  string
	Methods []string
	Require string
}

// Requirement values.
const (
	RequirePublic        = "public"
	RequireAuthenticated = "authenticated"
	rolePrefix           = "role:"
)

type need struct {
	public bool
	role   string // "" is any session
}

func (n need) String() string {
	switch {
	case n.public:
		return RequirePublic
	case n.role != "":
		return rolePrefix + n.role
	}
	return RequireAuthenticated
}

func parseRequire(s string) (need, error) {
	switch {
	case s == RequirePublic:
		return need{public: true}, nil
	case s == RequireAuthenticated:
		return need{}, nil
	case strings.HasPrefix(s, rolePrefix):
		role := s[len(rolePrefix):]
		if !validRole(role) {
			return need{}, fmt.Errorf("%q names no valid role: a role is 1 to %d letters, digits, '-', '_' or '.'", s, maxRoleLen)
		}
		return need{role: role}, nil
	}
	return need{}, fmt.Errorf("%q is not a requirement", s)
}

// maxRoleLen is session's bound on a role, so a rule never names a role
// no token can carry.
const maxRoleLen = 32

func validRole(s string) bool {
	if s == "" || len(s) > maxRoleLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

type rule struct {
	prefix  reqpath.Prefix
	methods []string // nil: every method
	need    need
}

type ruleSet struct {
	rules []rule
}

const requireHint = `write public, authenticated or role:NAME`

// validateRules reports every problem of rules, each on its Go path under
// path.
func validateRules(errs *field.Errors, path string, rules []Rule) {
	type key struct {
		prefix string
		method string
	}
	seen := map[key]int{}
	for i, r := range rules {
		rp := field.Index(path, i)
		p, err := reqpath.ParsePrefix(r.Prefix)
		if err != nil {
			errs.Errorf(field.Join(rp, "Prefix"), "a prefix is a path such as /admin/", "%v", err)
			continue
		}
		if _, err := parseRequire(r.Require); err != nil {
			errs.Errorf(field.Join(rp, "Require"), requireHint, "%v", err)
		}
		methods := r.Methods
		if len(methods) == 0 {
			methods = []string{""}
		}
		for j, m := range methods {
			if m != "" && !safe.Method(m) {
				errs.Errorf(field.Index(field.Join(rp, "Methods"), j), "methods are written in capitals: GET, POST", "%q is not a method", m)
				continue
			}
			k := key{strings.ToLower(p.String()), m}
			if prev, dup := seen[k]; dup {
				what := "every method"
				if m != "" {
					what = m
				}
				errs.Errorf(rp, "merge the two rules, or remove one", "rules[%d] and rules[%d] both decide %s under %s: which wins would be a matter of order", prev, i, what, p)
				continue
			}
			seen[k] = i
		}
	}
}

// compileRules returns the rule set; rules were validated.
func compileRules(rules []Rule) (*ruleSet, error) {
	rs := &ruleSet{}
	for _, r := range rules {
		p, err := reqpath.ParsePrefix(r.Prefix)
		if err != nil {
			return nil, err
		}
		n, err := parseRequire(r.Require)
		if err != nil {
			return nil, err
		}
		var methods []string
		if len(r.Methods) > 0 {
			methods = slices.Clone(r.Methods)
		}
		rs.rules = append(rs.rules, rule{prefix: p, methods: methods, need: n})
	}
	return rs, nil
}

// decide returns what a request for the canonical path with method needs.
func (rs *ruleSet) decide(method, path string) need {
	best := -1
	bestMethod := false
	for i, r := range rs.rules {
		named := r.methods != nil
		if named && !slices.Contains(r.methods, method) &&
			!(method == http.MethodHead && slices.Contains(r.methods, http.MethodGet)) {
			continue
		}
		if !r.prefix.Match(path) {
			continue
		}
		if best < 0 {
			best, bestMethod = i, named
			continue
		}
		b := rs.rules[best].prefix.Len()
		if l := r.prefix.Len(); l > b || l == b && named && !bestMethod {
			best, bestMethod = i, named
		}
	}
	if best < 0 {
		return need{}
	}
	return rs.rules[best].need
}
