package secheaders

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/secheaders/csp"
)

// Middleware is a compiled, immutable Policy. It is safe for concurrent use.
type Middleware struct {
	base      *headerSet
	routes    []route // longest prefix first
	nonce     nonceConfig
	report    string // collector path, "" when off
	collector *Collector
	cookies   []cookieRule // nil when hardening is off
	warnings  []string
}

type route struct {
	prefix reqpath.Prefix
	set    *headerSet
}

// headerSet is every header value of one route, computed once.
type headerSet struct {
	pol   csp.Policy // before nonce and report directives, for checks
	fixed []fixedHeader
	hsts  fixedHeader // applied on TLS requests only
	csp   cspHeader
}

// fixedHeader is one precomputed header. val is shared by all responses; it
// has len == cap so an Add by a later handler reallocates instead of writing
// into it.
type fixedHeader struct {
	name string
	val  []string // nil: the policy does not send this header
	del  bool     // remove the application's header (Off)
	dict bool     // a dictionary: members of the application's value are kept
	mode Mode
}

type cspHeader struct {
	name     string   // Content-Security-Policy or ...-Report-Only; "" when disabled
	static   []string // the whole value when there is no nonce
	segments []string // value split where the nonce goes
	mode     Mode
}

type nonceConfig struct {
	enabled bool
	header  string // canonical request header name
	inject  bool
}

const (
	defaultNonceHeader = "X-Csp-Nonce"
	defaultReportPath  = "/.well-known/rampart/csp-report"
	reportGroup        = "rampart-csp"
	noncePlaceholder   = "\x00"
	defaultHSTSMaxAge  = 2 * 365 * 24 * time.Hour
	preloadMinAge      = 365 * 24 * time.Hour
)

var (
	hCSP   = http.CanonicalHeaderKey("Content-Security-Policy")
	hCSPRO = http.CanonicalHeaderKey("Content-Security-Policy-Report-Only")
	hHSTS  = http.CanonicalHeaderKey("Strict-Transport-Security")
	hXFO   = http.CanonicalHeaderKey("X-Frame-Options")
	hRE    = http.CanonicalHeaderKey("Reporting-Endpoints")
)

// defaultCSP is the seed's policy completed with the directives default-src
// does not cover well.
var defaultCSP = []csp.Directive{
	{Name: "default-src", Values: []string{"'self'"}},
	{Name: "script-src", Values: []string{"'self'"}},
	{Name: "style-src", Values: []string{"'self'"}},
	{Name: "object-src", Values: []string{"'none'"}},
	{Name: "base-uri", Values: []string{"'self'"}},
	{Name: "frame-ancestors", Values: []string{"'self'"}},
	{Name: "form-action", Values: []string{"'self'"}},
}

// configErrors collects every error of a configuration, each prefixed by the
// YAML key path of the field it is about.
type configErrors struct {
	errs  []error
	warns []string
}

func (c *configErrors) errf(field, format string, a ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
}

func (c *configErrors) warnf(field, format string, a ...any) {
	c.warns = append(c.warns, fmt.Sprintf("%s: %s", field, fmt.Sprintf(format, a...)))
}

// New validates p and compiles it. The error lists every problem found,
// each naming its field by its YAML key ("hsts.preload: ...",
// "csp.directives.script-src: ...", "routes[1].prefix: ..."). Settings that
// are valid but weaken the policy are returned by Warnings.
func New(p Policy) (*Middleware, error) {
	var ce configErrors
	m := &Middleware{}

	modes := compileModes(p.Modes, &ce)

	// CSP of the policy.
	basePol := baseCSP(p.CSP, &ce)
	m.nonce, m.report = compileNonceReport(p.CSP, &ce)
	if p.CSP.ReportOnly && !p.CSP.InsecureDisable {
		ce.warnf("csp.report_only", "the policy is reported, not enforced")
	}
	if p.CSP.InsecureDisable {
		ce.warnf("csp.insecure_disable", "no Content-Security-Policy is sent")
	}
	if p.CSP.Nonce.InjectHTML {
		ce.warnf("csp.nonce.inject_html", "nonces every <script> of HTML responses, including ones injected by an attacker into the page")
	}

	baseHeaders := resolveHeaders(Headers{}, p.Headers)
	checkHeaders("", p.Headers, &ce)

	var err error
	m.base, err = compileSet(p, basePol, baseHeaders, p.CSP.ReportOnly, modes, "csp.directives", m, &ce)
	if err != nil {
		return nil, err
	}

	seen := map[string]bool{}
	for i, r := range p.Routes {
		field := fmt.Sprintf("routes[%d]", i)
		prefix, err := reqpath.ParsePrefix(r.Prefix)
		if err != nil {
			ce.errf(field+".prefix", "%v; write an absolute path such as /admin/", err)
			continue
		}
		if seen[prefix.String()] {
			ce.errf(field+".prefix", "%q is listed twice (prefixes ignore case and a trailing slash)", r.Prefix)
			continue
		}
		seen[prefix.String()] = true
		pol := basePol.Clone()
		if r.CSPReplace {
			pol = csp.Policy{}
		}
		mergeDirectives(&pol, r.CSP, field+".csp", &ce)
		checkHeaders(field+".", r.Headers, &ce)
		hs := resolveHeaders(baseHeaders, r.Headers)
		reportOnly := p.CSP.ReportOnly
		if r.CSPReportOnly != nil {
			reportOnly = *r.CSPReportOnly
			if reportOnly && !p.CSP.InsecureDisable {
				ce.warnf(field+".csp_report_only", "the policy of this route is reported, not enforced")
			}
		}
		set, err := compileSet(p, pol, hs, reportOnly, modes, field+".csp", m, &ce)
		if err != nil {
			return nil, err
		}
		m.routes = append(m.routes, route{prefix: prefix, set: set})
	}
	slices.SortFunc(m.routes, func(a, b route) int { return b.prefix.Len() - a.prefix.Len() })

	compileHSTS(p.HSTS, modes, m, &ce)

	if !p.InsecureNoCookieHardening {
		m.cookies = compileCookies(p.Cookies, &ce)
	} else {
		ce.warnf("insecure_no_cookie_hardening", "application cookies are sent without Secure/HttpOnly/SameSite hardening")
	}
	if m.report != "" {
		m.collector = NewCollector(p.CSP.Report.Collector)
	}
	if len(ce.errs) > 0 {
		return nil, errors.Join(ce.errs...)
	}
	m.warnings = ce.warns
	return m, nil
}

// Warnings returns the settings of the policy that are valid but weaken it,
// each prefixed by its YAML key, for `rampart config check`.
func (m *Middleware) Warnings() []string { return slices.Clone(m.warnings) }

// modalHeaders are the headers a mode can be given for: those the policy
// sets or removes. A mode for any other name would do nothing, and is
// most likely a misspelling of one of these that leaves it at override.
var modalHeaders = []string{
	"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Permissions-Policy",
	"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Cross-Origin-Embedder-Policy",
	"Origin-Agent-Cluster", "X-Permitted-Cross-Domain-Policies", "X-Dns-Prefetch-Control",
	"X-Powered-By", "X-Xss-Protection", hHSTS, hCSP, hCSPRO,
}

func compileModes(in map[string]Mode, ce *configErrors) map[string]Mode {
	out := make(map[string]Mode, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		mode := in[name]
		key := http.CanonicalHeaderKey(strings.TrimSpace(name))
		field := "modes." + name
		if !slices.Contains(modalHeaders, key) {
			ce.errf(field, "not a header the policy sets; modes apply to %s", strings.Join(modalHeaders, ", "))
			continue
		}
		switch Mode(strings.ToLower(string(mode))) {
		case ModeOverride, "":
			out[key] = ModeOverride
		case ModeKeep:
			out[key] = ModeKeep
			ce.warnf(field, "the application's value wins when it sends this header")
		case ModeMerge:
			if key != hCSP && key != hCSPRO {
				ce.errf(field, "merge applies to Content-Security-Policy only; use override or keep")
				continue
			}
			out[key] = ModeMerge
		default:
			ce.errf(field, "must be override, keep or merge, got %q", mode)
		}
	}
	return out
}

func modeOf(modes map[string]Mode, name string) Mode {
	if m, ok := modes[name]; ok {
		return m
	}
	return ModeOverride
}

func baseCSP(c CSP, ce *configErrors) csp.Policy {
	var pol csp.Policy
	if !c.Replace {
		pol = csp.Policy{Directives: slices.Clone(defaultCSP)}
		pol = pol.Clone()
	}
	mergeDirectives(&pol, c.Directives, "csp.directives", ce)
	return pol
}

// mergeDirectives sets each directive of in on pol, in sorted order so the
// header is the same from one start to the next.
func mergeDirectives(pol *csp.Policy, in map[string][]string, field string, ce *configErrors) {
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		text := strings.ToLower(strings.TrimSpace(name)) + " " + strings.Join(in[name], " ")
		parsed, err := csp.Parse(text)
		if err != nil || len(parsed.Directives) != 1 {
			ce.errf(field+"."+name, "not a valid directive: %v", errOr(err, "contains ';'"))
			continue
		}
		d := parsed.Directives[0]
		pol.Set(d.Name, d.Values...)
	}
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

func compileNonceReport(c CSP, ce *configErrors) (nonceConfig, string) {
	var n nonceConfig
	if c.Nonce.Enabled && !c.InsecureDisable {
		n.enabled = true
		n.inject = c.Nonce.InjectHTML
		n.header = defaultNonceHeader
		if c.Nonce.RequestHeader != "" {
			if !safe.Token(c.Nonce.RequestHeader) {
				ce.errf("csp.nonce.request_header", "%q is not a header name", c.Nonce.RequestHeader)
			}
			n.header = http.CanonicalHeaderKey(c.Nonce.RequestHeader)
		}
		for i, d := range c.Nonce.Directives {
			switch strings.ToLower(d) {
			case "script-src", "script-src-elem", "style-src", "style-src-elem", "default-src":
			default:
				ce.errf(fmt.Sprintf("csp.nonce.directives[%d]", i), "%q cannot carry a nonce; use script-src or style-src", d)
			}
		}
	} else if c.Nonce.InjectHTML {
		ce.errf("csp.nonce.inject_html", "needs csp.nonce.enabled")
	}
	report := ""
	if c.Report.Enabled && !c.InsecureDisable {
		report = defaultReportPath
		if c.Report.Path != "" {
			report = c.Report.Path
			if p, err := reqpath.Canonical(report); err != nil || p != report || report == "/" || strings.ContainsAny(report, "?#") {
				ce.errf("csp.report.path", "must be a plain absolute path such as %s, got %q", defaultReportPath, c.Report.Path)
			}
		}
	}
	return n, report
}

func nonceDirectives(c CSP) []string {
	if len(c.Nonce.Directives) == 0 {
		return []string{"script-src"}
	}
	out := make([]string, len(c.Nonce.Directives))
	for i, d := range c.Nonce.Directives {
		out[i] = strings.ToLower(d)
	}
	return out
}

// compileSet checks pol and precomputes every header value of one route.
func compileSet(p Policy, pol csp.Policy, h Headers, reportOnly bool, modes map[string]Mode, field string, m *Middleware, ce *configErrors) (*headerSet, error) {
	pol = pol.Clone() // Set below must not write into the caller's slices
	set := &headerSet{}
	var findings []csp.Finding
	if field == "csp.directives" || !pol.Equal(m.base.pol) {
		// A route that keeps the policy's CSP would only repeat its
		// findings.
		findings = csp.Check(pol)
	}
	set.pol = pol.Clone()
	for _, f := range findings {
		key := field
		if f.Directive != "" {
			key += "." + f.Directive
		}
		msg := f.Msg
		if f.Hint != "" {
			msg += " (hint: " + f.Hint + ")"
		}
		if f.Severity == csp.Error {
			ce.errf(key, "%s", msg)
		} else if !p.CSP.InsecureDisable {
			ce.warnf(key, "%s", msg)
		}
	}

	// X-Frame-Options follows frame-ancestors unless set explicitly.
	if h.FrameOptions == "" {
		h.FrameOptions = "SAMEORIGIN"
		// Only an enforced frame-ancestors can stand in for it: a
		// report-only policy blocks nothing.
		if fa, ok := pol.Get("frame-ancestors"); ok && !p.CSP.InsecureDisable && !reportOnly {
			switch {
			case len(fa) == 1 && fa[0] == "'self'":
			case len(fa) == 1 && fa[0] == "'none'":
				h.FrameOptions = "DENY"
			default:
				h.FrameOptions = Off
			}
		}
	}
	add := func(name, v string) {
		name = http.CanonicalHeaderKey(name)
		fh := fixedHeader{name: name, mode: modeOf(modes, name)}
		switch {
		case strings.EqualFold(v, Off):
			fh.del = true
		case v != "":
			fh.val = []string{v}
		default:
			return
		}
		set.fixed = append(set.fixed, fh)
	}
	// The enumerated values are accepted in any case (checkHeaders) but
	// sent in lower case: browsers compare Referrer-Policy and the
	// Cross-Origin-* tokens byte for byte, so "Same-Origin" would be
	// ignored and the header would protect nothing.
	enum := func(v string) string { return strings.ToLower(strings.TrimSpace(v)) }
	add("X-Content-Type-Options", "nosniff")
	add("X-Frame-Options", strings.ToUpper(strings.TrimSpace(h.FrameOptions)))
	add("Referrer-Policy", enum(h.ReferrerPolicy))
	add("Permissions-Policy", h.PermissionsPolicy)
	add("Cross-Origin-Opener-Policy", enum(h.CrossOriginOpenerPolicy))
	add("Cross-Origin-Resource-Policy", enum(h.CrossOriginResourcePolicy))
	add("Cross-Origin-Embedder-Policy", enum(h.CrossOriginEmbedderPolicy))
	add("Origin-Agent-Cluster", enum(h.OriginAgentCluster))
	add("X-Permitted-Cross-Domain-Policies", enum(h.PermittedCrossDomainPolicies))
	// "off" is this header's own value here, not Off: it is always sent.
	set.fixed = append(set.fixed, fixedHeader{name: "X-Dns-Prefetch-Control",
		val: []string{strings.ToLower(h.DNSPrefetchControl)}, mode: modeOf(modes, "X-Dns-Prefetch-Control")})
	add("X-Powered-By", Off)
	// X-XSS-Protection: 0 turns the legacy XSS auditor off where it still
	// exists. The seed's "1; mode=block" is harmful: the auditor's
	// selective blocking let attackers disable legitimate scripts and
	// detect page contents across origins (XS-Leaks), it was bypassable,
	// and Chrome, Edge and Safari removed it. OWASP and helmet send 0.
	add("X-XSS-Protection", "0")

	if p.CSP.InsecureDisable {
		return set, nil
	}
	if m.report != "" {
		pol.Set("report-uri", m.report)
		pol.Set("report-to", reportGroup)
		set.fixed = append(set.fixed, fixedHeader{name: hRE, val: []string{reportGroup + `="` + m.report + `"`}, dict: true, mode: ModeOverride})
	}
	set.csp.name = hCSP
	if reportOnly {
		set.csp.name = hCSPRO
	}
	set.csp.mode = modeOf(modes, set.csp.name)
	if m.nonce.enabled {
		withNonce := pol.Clone()
		src, _ := withNonce.Get("default-src")
		for _, d := range nonceDirectives(p.CSP) {
			if !withNonce.Has(d) {
				// A new directive would stop falling back to
				// default-src: start from its sources.
				withNonce.Set(d, src...)
			}
			vals, _ := withNonce.Get(d)
			vals = slices.DeleteFunc(slices.Clone(vals), func(s string) bool { return s == "'none'" })
			withNonce.Set(d, append(vals, "'nonce-"+noncePlaceholder+"'")...)
		}
		set.csp.segments = strings.Split(withNonce.String(), noncePlaceholder)
	} else {
		set.csp.static = []string{pol.String()}
	}
	return set, nil
}

func compileHSTS(h HSTS, modes map[string]Mode, m *Middleware, ce *configErrors) {
	if h.InsecureDisable {
		ce.warnf("hsts.insecure_disable", "no Strict-Transport-Security is sent; the first visit can be downgraded to HTTP")
		return
	}
	age := h.MaxAge
	if age < 0 {
		ce.errf("hsts.max_age", "must be >= 0, got %v", age)
		return
	}
	if age == 0 {
		age = defaultHSTSMaxAge
	}
	if h.Preload && (age < preloadMinAge || h.ExcludeSubDomains) {
		ce.errf("hsts.preload", "needs max_age >= 1 year (31536000s) and include_subdomains; preloading is enforced by browsers for months after removal")
		return
	}
	if age < preloadMinAge/2 {
		ce.warnf("hsts.max_age", "%v is short; browsers forget HTTPS-only after it", age)
	}
	v := "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
	if !h.ExcludeSubDomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	hsts := fixedHeader{name: hHSTS, val: []string{v}, mode: modeOf(modes, hHSTS)}
	for _, s := range append([]*headerSet{m.base}, routeSets(m.routes)...) {
		s.hsts = hsts
	}
}

func routeSets(rs []route) []*headerSet {
	out := make([]*headerSet, len(rs))
	for i, r := range rs {
		out[i] = r.set
	}
	return out
}

// resolveHeaders overlays the non-empty fields of over on base, then fills
// the defaults.
func resolveHeaders(base, over Headers) Headers {
	pick := func(b, o, def string) string {
		if o != "" {
			return o
		}
		if b != "" {
			return b
		}
		return def
	}
	return Headers{
		FrameOptions:                 pick(base.FrameOptions, over.FrameOptions, ""),
		ReferrerPolicy:               pick(base.ReferrerPolicy, over.ReferrerPolicy, "strict-origin-when-cross-origin"),
		PermissionsPolicy:            pick(base.PermissionsPolicy, over.PermissionsPolicy, DefaultPermissionsPolicy),
		CrossOriginOpenerPolicy:      pick(base.CrossOriginOpenerPolicy, over.CrossOriginOpenerPolicy, "same-origin"),
		CrossOriginResourcePolicy:    pick(base.CrossOriginResourcePolicy, over.CrossOriginResourcePolicy, "same-origin"),
		CrossOriginEmbedderPolicy:    pick(base.CrossOriginEmbedderPolicy, over.CrossOriginEmbedderPolicy, ""),
		OriginAgentCluster:           pick(base.OriginAgentCluster, over.OriginAgentCluster, ""),
		PermittedCrossDomainPolicies: pick(base.PermittedCrossDomainPolicies, over.PermittedCrossDomainPolicies, "none"),
		DNSPrefetchControl:           pick(base.DNSPrefetchControl, over.DNSPrefetchControl, "off"),
	}
}
