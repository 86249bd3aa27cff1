package check

import (
	"errors"
	"strings"

	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/secheaders/csp"
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
// header sent twice and combined is two policies, both enforced). The
// grammar is package csp's (csp.Policies, csp.Lex), the one rampart's own
// headers are written in; what follows is the Observatory's reading of it.
//
// It fails, as the MDN HTTP Observatory does, when a policy is empty or too
// short, or repeats a directive other than report-uri / report-to: a browser
// silently ignores the repetition, which almost always hides a mistake (two
// script-src lines, the second of which the author thinks is in force).
func ParseCSP(values []string) ([]CSPPolicy, error) {
	var out []CSPPolicy
	for _, v := range values {
		for pol := range csp.Policies(v) {
			p, err := observatoryPolicy(pol)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// observatoryPolicy reads one serialized policy as the Observatory's
// cspParser.js does: line breaks removed, sources lower-cased, an empty
// "-src" list read as 'none'.
func observatoryPolicy(pol string) (CSPPolicy, error) {
	pol = strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(pol))
	if len(pol) < cspShortest {
		return CSPPolicy{}, errors.New("empty or truncated policy")
	}
	p := CSPPolicy{Directives: map[string][]string{}}
	for _, d := range csp.Lex(pol).Directives {
		if _, dup := p.Directives[d.Name]; dup {
			if d.Name == "report-uri" || d.Name == "report-to" {
				p.Duplicates = append(p.Duplicates, d.Name)
				continue
			}
			return CSPPolicy{}, errors.New("directive " + safe.Clean(d.Name, 40) + " repeated")
		}
		srcs := make([]string, 0, len(d.Values))
		for _, s := range d.Values {
			srcs = append(srcs, strings.ToLower(s))
		}
		if len(srcs) == 0 && strings.HasSuffix(d.Name, "-src") {
			srcs = append(srcs, "'none'")
		}
		p.Directives[d.Name] = srcs
		p.Order = append(p.Order, d.Name)
	}
	return p, nil
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

func isBroad(s string) bool { return cspBroad[s] }

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
	if len(values) == 0 {
		if len(reportOnly) > 0 {
			return cspOutcome{result: "csp-not-implemented-but-reporting-enabled"}
		}
		return cspOutcome{result: "csp-not-implemented"}
	}
	ps, err := ParseCSP(values)
	if err != nil {
		return cspOutcome{result: "csp-header-invalid", parseErr: err}
	}
	o := cspOutcome{merged: mergeCSP(ps)}
	src := effectiveSources(o.merged)
	// The order matters: the Observatory judges the sources left once
	// the nonce, hash and 'strict-dynamic' rules have removed what
	// browsers ignore, and those removals reach default-src (shared).
	o.strictDynamicNo = !applyStrictDynamic(src.script)
	o.unsafeInline = src.script.any(cspBroadOrInline) || src.object.any(isBroad)
	o.insecureScheme = https && anyInsecure(activeSources(o.merged, src.script))
	o.unsafeEval = src.script["'unsafe-eval'"] || src.style["'unsafe-eval'"]
	passiveInsecure := https && anyInsecure(passiveSources(o.merged))

	switch {
	case o.strictDynamicNo:
		o.result = "csp-header-invalid"
	case o.unsafeInline:
		o.result = "csp-implemented-with-unsafe-inline"
	case o.insecureScheme:
		o.result = "csp-implemented-with-insecure-scheme"
	case o.unsafeEval:
		o.result = "csp-implemented-with-unsafe-eval"
	case passiveInsecure:
		o.result = "csp-implemented-with-insecure-scheme-in-passive-content-only"
	case src.style.any(cspBroadOrInline):
		o.result = "csp-implemented-with-unsafe-inline-in-style-src-only"
	case defaultSrcNone(o.merged):
		o.result = "csp-implemented-with-no-unsafe-default-src-none"
	default:
		o.result = "csp-implemented-with-no-unsafe"
	}

	frameAnc, hasFA := o.merged["frame-ancestors"]
	o.hasFrameAnc = hasFA
	o.frameAncestors = hasFA && !frameAnc.any(isBroad)
	// As in csp.js, a repeated report-uri / report-to replaces these four
	// results, and only these, with its own.
	switch o.result {
	case "csp-implemented-with-no-unsafe", "csp-implemented-with-no-unsafe-default-src-none",
		"csp-implemented-with-unsafe-inline-in-style-src-only",
		"csp-implemented-with-insecure-scheme-in-passive-content-only":
		if anyDuplicates(ps) {
			o.result = "csp-implemented-but-duplicate-directives"
		}
	}
	return o
}

// sources are the source sets the scoring judges, after the fallbacks: a
// missing directive falls back to default-src, then to *. As in the
// Observatory, a fallback shares the default-src set itself, so removing
// 'unsafe-inline' from script-src below removes it from default-src too.
type sources struct {
	script, style, object set
}

// effectiveSources applies the fallbacks to merged and the CSP2 rule that
// browsers ignore 'unsafe-inline' when a nonce or hash is present.
func effectiveSources(merged map[string]set) sources {
	get := func(d string) set {
		if s, ok := merged[d]; ok {
			return s
		}
		if s, ok := merged["default-src"]; ok {
			return s
		}
		return newSet("*")
	}
	src := sources{script: get("script-src"), style: get("style-src"), object: get("object-src")}
	for _, s := range []set{src.script, src.style} {
		if hasNonceOrHash(s) {
			delete(s, "'unsafe-inline'")
		}
	}
	return src
}

// applyStrictDynamic applies 'strict-dynamic' to script: with a nonce or
// hash, browsers ignore the host and scheme sources, 'self' and
// 'unsafe-inline', which are removed. Without one, it blocks every script
// or is ignored: applyStrictDynamic reports false.
func applyStrictDynamic(script set) bool {
	if !script["'strict-dynamic'"] {
		return true
	}
	if !hasNonceOrHash(script) {
		return false
	}
	for s := range script {
		broad := false
		for b := range cspBroad {
			if strings.HasPrefix(s, b) {
				broad = true
			}
		}
		if broad || s == "'self'" || s == "'unsafe-inline'" {
			delete(script, s)
		}
	}
	return true
}

// activeSources are the sources of every directive but img-src, media-src
// and script-src, and the effective script sources.
func activeSources(merged map[string]set, script set) []string {
	var active []string
	for d, s := range merged {
		if d == "img-src" || d == "media-src" || d == "script-src" {
			continue
		}
		for x := range s {
			active = append(active, x)
		}
	}
	for x := range script {
		active = append(active, x)
	}
	return active
}

// passiveSources are the sources of img-src and media-src, each falling
// back to default-src (not to *).
func passiveSources(merged map[string]set) []string {
	var passive []string
	for _, d := range []string{"img-src", "media-src"} {
		s, ok := merged[d]
		if !ok {
			s = merged["default-src"]
		}
		for x := range s {
			passive = append(passive, x)
		}
	}
	return passive
}

func anyInsecure(xs []string) bool {
	for _, x := range xs {
		if strings.HasPrefix(x, "http:") || strings.HasPrefix(x, "ftp:") {
			return true
		}
	}
	return false
}

func defaultSrcNone(merged map[string]set) bool {
	ds, ok := merged["default-src"]
	return ok && ds["'none'"] && len(ds) == 1
}

func anyDuplicates(ps []CSPPolicy) bool {
	for _, p := range ps {
		if len(p.Duplicates) > 0 {
			return true
		}
	}
	return false
}
