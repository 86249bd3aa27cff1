package check

import (
	"errors"
	"strings"
)

// CSPPolicy is one parsed Content-Security-Policy policy. Directive names
// and source expressions are lower-cased, as the MDN HTTP Observatory does
// (nonce values lose their case, which no check here depends on).
type CSPPolicy struct {
	// Directives maps a directive name to its source list. A "-src"
	// directive with an empty list holds "'none'", which is what an empty
	// source list means.
	Directives map[string][]string
	// Order lists the directive names as they appeared.
	Order []string
	// Duplicates lists repeated report-uri / report-to directives, which
	// the Observatory tolerates; any other repeated directive is an error.
	Duplicates []string
}

// Has reports whether the policy sets directive d.
func (p CSPPolicy) Has(d string) bool { _, ok := p.Directives[d]; return ok }

// cspShortest is the Observatory's lower bound for a policy's length: the
// shortest useful policy is "img-src" minus one character.
const cspShortest = len("img-src") - 1

// ParseCSP parses the values of every Content-Security-Policy header line.
// A value may hold several policies separated by commas (CSP3 §2.2.1: a
// header sent twice and combined is two policies, both enforced).
//
// It fails, as the MDN HTTP Observatory does, when a policy is empty or too
// short, or repeats a directive other than report-uri / report-to: a browser
// silently ignores the repetition, which almost always hides a mistake (two
// script-src lines, the second of which the author thinks is in force).
func ParseCSP(values []string) ([]CSPPolicy, error) {
	var out []CSPPolicy
	for _, v := range values {
		for _, pol := range strings.Split(v, ",") {
			pol = strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(pol))
			if len(pol) < cspShortest {
				return nil, errors.New("empty or truncated policy")
			}
			p := CSPPolicy{Directives: map[string][]string{}}
			for _, d := range strings.Split(pol, ";") {
				fields := strings.Fields(d)
				if len(fields) == 0 {
					continue
				}
				name := strings.ToLower(fields[0])
				if _, dup := p.Directives[name]; dup {
					if name == "report-uri" || name == "report-to" {
						p.Duplicates = append(p.Duplicates, name)
						continue
					}
					return nil, errors.New("directive " + truncate(name, 40) + " repeated")
				}
				srcs := make([]string, 0, len(fields)-1)
				for _, s := range fields[1:] {
					srcs = append(srcs, strings.ToLower(s))
				}
				if len(srcs) == 0 && strings.HasSuffix(name, "-src") {
					srcs = append(srcs, "'none'")
				}
				p.Directives[name] = srcs
				p.Order = append(p.Order, name)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// mergeCSP combines several enforced policies into one view of what is
// allowed. Every policy is enforced, so a source is allowed only when each
// policy that sets the directive allows it. The Observatory keeps the first
// policy's directives as they are and intersects later ones into them; a
// directive that only a later policy sets becomes 'none'. The Observatory
// also matches path prefixes when intersecting; this is exact matching.
func mergeCSP(ps []CSPPolicy) map[string]set {
	m := map[string]set{}
	for i, p := range ps {
		for _, d := range p.Order {
			cur := newSet(p.Directives[d]...)
			if i == 0 {
				m[d] = cur
				continue
			}
			prev, ok := m[d]
			next := set{}
			if ok {
				for s := range prev {
					if cur[s] {
						next[s] = true
					}
				}
			}
			if len(next) == 0 {
				next["'none'"] = true
			}
			m[d] = next
		}
	}
	return m
}

type set map[string]bool

func newSet(xs ...string) set {
	s := make(set, len(xs))
	for _, x := range xs {
		s[x] = true
	}
	return s
}

func (s set) any(f func(string) bool) bool {
	for x := range s {
		if f(x) {
			return true
		}
	}
	return false
}

var (
	cspBroad = newSet("ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*")
	// cspUnsafeInline and cspBroad together are the Observatory's
	// DANGEROUSLY_BROAD_AND_UNSAFE_INLINE.
	cspUnsafeInline = newSet("'unsafe-inline'", "data:")
)

func cspBroadOrInline(s string) bool { return cspBroad[s] || cspUnsafeInline[s] }

func hasNonceOrHash(s set) bool {
	return s.any(func(x string) bool {
		for _, p := range []string{"'sha256-", "'sha384-", "'sha512-", "'nonce-"} {
			if strings.HasPrefix(x, p) {
				return true
			}
		}
		return false
	})
}

// cspOutcome is the Observatory's content-security-policy test applied to
// parsed header values, plus the policy facts rampart reports on.
type cspOutcome struct {
	result          string
	merged          map[string]set
	frameAncestors  bool // a frame-ancestors directive that excludes broad sources
	hasFrameAnc     bool
	unsafeInline    bool
	unsafeEval      bool
	insecureScheme  bool
	strictDynamicNo bool // 'strict-dynamic' without nonce or hash
	parseErr        error
}

// observatoryCSP follows mdn/mdn-http-observatory src/analyzer/tests/csp.js:
// the first matching outcome, in that file's order, is the result.
func observatoryCSP(values, reportOnly []string, https bool) cspOutcome {
	var o cspOutcome
	if len(values) == 0 {
		if len(reportOnly) > 0 {
			o.result = "csp-not-implemented-but-reporting-enabled"
		} else {
			o.result = "csp-not-implemented"
		}
		return o
	}
	ps, err := ParseCSP(values)
	if err != nil {
		o.result, o.parseErr = "csp-header-invalid", err
		return o
	}
	csp := mergeCSP(ps)
	o.merged = csp
	dupReport := false
	for _, p := range ps {
		if len(p.Duplicates) > 0 {
			dupReport = true
		}
	}
	// Fallbacks: a missing directive falls back to default-src, then to *.
	// As in the Observatory, the fallback shares the default-src set, so
	// removing 'unsafe-inline' below affects both.
	get := func(d string, fallback bool) set {
		if s, ok := csp[d]; ok {
			return s
		}
		if fallback {
			if s, ok := csp["default-src"]; ok {
				return s
			}
		}
		return newSet("*")
	}
	frameAnc, hasFA := csp["frame-ancestors"]
	if !hasFA {
		frameAnc = newSet("*")
	}
	objectSrc := get("object-src", true)
	scriptSrc := get("script-src", true)
	styleSrc := get("style-src", true)

	// 'unsafe-inline' is ignored by browsers when a nonce or hash is present.
	for _, s := range []set{scriptSrc, styleSrc} {
		if hasNonceOrHash(s) {
			delete(s, "'unsafe-inline'")
		}
	}
	set1 := func(r string) {
		if o.result == "" {
			o.result = r
		}
	}
	if scriptSrc["'strict-dynamic'"] {
		if hasNonceOrHash(scriptSrc) {
			for s := range scriptSrc {
				broad := false
				for b := range cspBroad {
					if strings.HasPrefix(s, b) {
						broad = true
					}
				}
				if broad || s == "'self'" || s == "'unsafe-inline'" {
					delete(scriptSrc, s)
				}
			}
		} else {
			o.strictDynamicNo = true
			set1("csp-header-invalid")
		}
	}
	var active []string
	for d, s := range csp {
		if d == "img-src" || d == "media-src" || d == "script-src" {
			continue
		}
		for x := range s {
			active = append(active, x)
		}
	}
	for x := range scriptSrc {
		active = append(active, x)
	}
	var passive []string
	for _, d := range []string{"img-src", "media-src"} {
		s, ok := csp[d]
		if !ok {
			s = csp["default-src"]
		}
		for x := range s {
			passive = append(passive, x)
		}
	}
	insecure := func(xs []string) bool {
		for _, x := range xs {
			if strings.HasPrefix(x, "http:") || strings.HasPrefix(x, "ftp:") {
				return true
			}
		}
		return false
	}

	if scriptSrc.any(cspBroadOrInline) || objectSrc.any(func(s string) bool { return cspBroad[s] }) {
		set1("csp-implemented-with-unsafe-inline")
		o.unsafeInline = true
	}
	if https && insecure(active) {
		set1("csp-implemented-with-insecure-scheme")
		o.insecureScheme = true
	}
	if scriptSrc["'unsafe-eval'"] || styleSrc["'unsafe-eval'"] {
		set1("csp-implemented-with-unsafe-eval")
		o.unsafeEval = true
	}
	if https && insecure(passive) {
		set1("csp-implemented-with-insecure-scheme-in-passive-content-only")
	}
	if styleSrc.any(cspBroadOrInline) {
		set1("csp-implemented-with-unsafe-inline-in-style-src-only")
	}
	if ds, ok := csp["default-src"]; ok && ds["'none'"] && len(ds) == 1 {
		set1("csp-implemented-with-no-unsafe-default-src-none")
	} else {
		set1("csp-implemented-with-no-unsafe")
	}
	o.hasFrameAnc = hasFA
	o.frameAncestors = hasFA && !frameAnc.any(func(s string) bool { return cspBroad[s] })
	switch o.result {
	case "csp-implemented-with-no-unsafe", "csp-implemented-with-no-unsafe-default-src-none",
		"csp-implemented-with-unsafe-inline-in-style-src-only",
		"csp-implemented-with-insecure-scheme-in-passive-content-only":
		if dupReport {
			o.result = "csp-implemented-but-duplicate-directives"
		}
	}
	return o
}
