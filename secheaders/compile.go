package secheaders

import (
	"cmp"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/reqpath"
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
}

type route struct {
	prefix reqpath.Prefix
	set    *headerSet
}

// headerSet is every header value of one route, computed once.
type headerSet struct {
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
// does not cover well; a fresh copy on each call.
func defaultCSP() []csp.Directive {
	return []csp.Directive{
		{Name: "default-src", Values: []string{"'self'"}},
		{Name: "script-src", Values: []string{"'self'"}},
		{Name: "style-src", Values: []string{"'self'"}},
		{Name: "object-src", Values: []string{"'none'"}},
		{Name: "base-uri", Values: []string{"'self'"}},
		{Name: "frame-ancestors", Values: []string{"'self'"}},
		{Name: "form-action", Values: []string{"'self'"}},
	}
}

// New validates p (Validate) and compiles it. The error is the Validate
// findings that are errors (a field.Errors: errors.As recovers each with
// its field path, message and hint); a policy with warnings only is
// accepted, and Validate is where they are read.
func New(p Policy) (*Middleware, error) {
	if err := p.Validate().Err(); err != nil {
		return nil, err
	}
	return compile(p), nil
}

// compile builds the middleware of a policy Validate accepted: it checks
// nothing and cannot fail.
func compile(p Policy) *Middleware {
	c := newCompiler(p)
	m := &Middleware{nonce: c.nonce, report: c.report}

	base := basePolicy(p.CSP, nil)
	baseHeaders := resolveHeaders(Headers{}, p.Headers)
	m.base = c.headerSet(base, baseHeaders, p.CSP.ReportOnly)
	for _, r := range p.Routes {
		prefix, err := reqpath.ParsePrefix(r.Prefix)
		if err != nil {
			continue // refused by Validate
		}
		reportOnly := p.CSP.ReportOnly
		if r.CSPReportOnly != nil {
			reportOnly = *r.CSPReportOnly
		}
		set := c.headerSet(routePolicy(base, r, nil), resolveHeaders(baseHeaders, r.Headers), reportOnly)
		m.routes = append(m.routes, route{prefix: prefix, set: set})
	}
	slices.SortFunc(m.routes, func(a, b route) int { return b.prefix.Len() - a.prefix.Len() })

	// HSTS is per host, not per route: every set sends the same.
	if hsts, ok := c.hsts(p.HSTS); ok {
		m.base.hsts = hsts
		for _, r := range m.routes {
			r.set.hsts = hsts
		}
	}
	if !p.InsecureNoCookieHardening {
		m.cookies = compileCookies(p.Cookies)
	}
	if m.report != "" {
		m.collector = NewCollector(p.CSP.Report.Collector)
	}
	return m
}

// compiler holds what the header sets of one policy share.
type compiler struct {
	modes           map[string]Mode // by canonical header name
	nonce           nonceConfig
	nonceDirectives []string // lower case
	report          string   // collector path, "" when off
	cspOff          bool
}

func newCompiler(p Policy) *compiler {
	c := &compiler{modes: compileModes(p.Modes), cspOff: p.CSP.InsecureDisable}
	if n := p.CSP.Nonce; n.Enabled && !c.cspOff {
		c.nonce = nonceConfig{enabled: true, inject: n.InjectHTML, header: defaultNonceHeader}
		if n.RequestHeader != "" {
			c.nonce.header = http.CanonicalHeaderKey(n.RequestHeader)
		}
		c.nonceDirectives = []string{"script-src"}
		if len(n.Directives) > 0 {
			c.nonceDirectives = make([]string, len(n.Directives))
			for i, d := range n.Directives {
				c.nonceDirectives[i] = strings.ToLower(d)
			}
		}
	}
	if r := p.CSP.Report; r.Enabled && !c.cspOff {
		c.report = cmp.Or(r.Path, defaultReportPath)
	}
	return c
}

// compileModes keys the modes by canonical header name. Two spellings of
// one name are taken in sorted order, the last winning, so the result is
// the same from one start to the next.
func compileModes(in map[string]Mode) map[string]Mode {
	out := make(map[string]Mode, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		out[http.CanonicalHeaderKey(strings.TrimSpace(name))] = cmp.Or(Mode(strings.ToLower(string(in[name]))), ModeOverride)
	}
	return out
}

func (c *compiler) modeOf(name string) Mode {
	if m, ok := c.modes[name]; ok {
		return m
	}
	return ModeOverride
}

// basePolicy is the policy's CSP: the default directives (unless Replace)
// with Directives merged over them. bad, when not nil, is told of each
// directive that does not parse, which is left out.
func basePolicy(c CSP, bad func(name string, err error)) csp.Policy {
	var pol csp.Policy
	if !c.Replace {
		pol = csp.Policy{Directives: defaultCSP()}
	}
	mergeDirectives(&pol, c.Directives, bad)
	return pol
}

// routePolicy is the CSP of route r: the policy's (base) or, with
// CSPReplace, nothing, with r.CSP merged over it.
func routePolicy(base csp.Policy, r Route, bad func(name string, err error)) csp.Policy {
	pol := base.Clone()
	if r.CSPReplace {
		pol = csp.Policy{}
	}
	mergeDirectives(&pol, r.CSP, bad)
	return pol
}

// mergeDirectives sets each directive of in on pol, in sorted order so the
// header is the same from one start to the next. A directive that does not
// parse is left out and passed to bad, when bad is not nil.
func mergeDirectives(pol *csp.Policy, in map[string][]string, bad func(name string, err error)) {
	for _, name := range slices.Sorted(maps.Keys(in)) {
		d, err := parseDirective(name, in[name])
		if err != nil {
			if bad != nil {
				bad(name, err)
			}
			continue
		}
		pol.Set(d.Name, d.Values...)
	}
}

// parseDirective parses one directive of a Directives map: its name and
// its values, each of which may hold several sources.
func parseDirective(name string, values []string) (csp.Directive, error) {
	parsed, err := csp.Parse(strings.ToLower(strings.TrimSpace(name)) + " " + strings.Join(values, " "))
	if err != nil {
		return csp.Directive{}, err
	}
	if len(parsed.Directives) != 1 {
		return csp.Directive{}, errors.New("contains ';'")
	}
	return parsed.Directives[0], nil
}

// headerSet precomputes every header value of one route (HSTS aside): pol
// is its CSP, h its single-value headers with the defaults filled in.
func (c *compiler) headerSet(pol csp.Policy, h Headers, reportOnly bool) *headerSet {
	set := &headerSet{fixed: c.fixedHeaders(h, c.frameOptions(h.FrameOptions, pol, reportOnly))}
	if c.cspOff {
		return set
	}
	if c.report != "" {
		set.fixed = append(set.fixed, fixedHeader{name: hRE, val: []string{reportGroup + `="` + c.report + `"`}, dict: true, mode: ModeOverride})
	}
	set.csp = c.cspHeader(pol, reportOnly)
	return set
}

// frameOptions is the X-Frame-Options value: v when set explicitly, else
// what the CSP's frame-ancestors says in the only two words the header
// knows, SAMEORIGIN when there is no enforced frame-ancestors, Off when
// frame-ancestors allows a list (X-Frame-Options cannot say it, and
// browsers that know frame-ancestors ignore it).
func (c *compiler) frameOptions(v string, pol csp.Policy, reportOnly bool) string {
	if v != "" {
		return v
	}
	// Only an enforced frame-ancestors can stand in for it: a report-only
	// policy blocks nothing.
	fa, ok := pol.Get("frame-ancestors")
	switch {
	case !ok || c.cspOff || reportOnly:
		return "SAMEORIGIN"
	case len(fa) == 1 && fa[0] == "'self'":
		return "SAMEORIGIN"
	case len(fa) == 1 && fa[0] == "'none'":
		return "DENY"
	}
	return Off
}

// fixedHeaders are the single-value headers of a set, in the order sent.
func (c *compiler) fixedHeaders(h Headers, frameOptions string) []fixedHeader {
	var out []fixedHeader
	add := func(name, v string) {
		name = http.CanonicalHeaderKey(name)
		fh := fixedHeader{name: name, mode: c.modeOf(name)}
		switch {
		case strings.EqualFold(v, Off):
			fh.del = true
		case v != "":
			fh.val = []string{v}
		default:
			return
		}
		out = append(out, fh)
	}
	// The enumerated values are accepted in any case (Validate) but sent
	// in lower case: browsers compare Referrer-Policy and the
	// Cross-Origin-* tokens byte for byte, so "Same-Origin" would be
	// ignored and the header would protect nothing.
	enum := func(v string) string { return strings.ToLower(strings.TrimSpace(v)) }
	add("X-Content-Type-Options", "nosniff")
	add("X-Frame-Options", strings.ToUpper(strings.TrimSpace(frameOptions)))
	add("Referrer-Policy", enum(h.ReferrerPolicy))
	add("Permissions-Policy", h.PermissionsPolicy)
	add("Cross-Origin-Opener-Policy", enum(h.CrossOriginOpenerPolicy))
	add("Cross-Origin-Resource-Policy", enum(h.CrossOriginResourcePolicy))
	add("Cross-Origin-Embedder-Policy", enum(h.CrossOriginEmbedderPolicy))
	add("Origin-Agent-Cluster", enum(h.OriginAgentCluster))
	add("X-Permitted-Cross-Domain-Policies", enum(h.PermittedCrossDomainPolicies))
	// "off" is this header's own value here, not Off: it is always sent.
	out = append(out, fixedHeader{name: "X-Dns-Prefetch-Control",
		val: []string{strings.ToLower(h.DNSPrefetchControl)}, mode: c.modeOf("X-Dns-Prefetch-Control")})
	add("X-Powered-By", Off)
	// X-XSS-Protection: 0 turns the legacy XSS auditor off where it still
	// exists. The seed's "1; mode=block" is harmful: the auditor's
	// selective blocking let attackers disable legitimate scripts and
	// detect page contents across origins (XS-Leaks), it was bypassable,
	// and Chrome, Edge and Safari removed it. OWASP and helmet send 0.
	add("X-XSS-Protection", "0")
	return out
}

// cspHeader is the CSP header of a set: pol with the report directives
// and, with nonces, split where each response's nonce goes.
func (c *compiler) cspHeader(pol csp.Policy, reportOnly bool) cspHeader {
	pol = pol.Clone() // Set below must not write into the caller's slices
	if c.report != "" {
		pol.Set("report-uri", c.report)
		pol.Set("report-to", reportGroup)
	}
	h := cspHeader{name: hCSP}
	if reportOnly {
		h.name = hCSPRO
	}
	h.mode = c.modeOf(h.name)
	if !c.nonce.enabled {
		h.static = []string{pol.String()}
		return h
	}
	src, _ := pol.Get("default-src")
	for _, d := range c.nonceDirectives {
		if !pol.Has(d) {
			// A new directive would stop falling back to default-src:
			// start from its sources.
			pol.Set(d, src...)
		}
		vals, _ := pol.Get(d)
		vals = slices.DeleteFunc(slices.Clone(vals), func(s string) bool { return s == "'none'" })
		pol.Set(d, append(vals, "'nonce-"+noncePlaceholder+"'")...)
	}
	h.segments = strings.Split(pol.String(), noncePlaceholder)
	return h
}

// hsts is the Strict-Transport-Security header; false when it is off.
func (c *compiler) hsts(h HSTS) (fixedHeader, bool) {
	if h.InsecureDisable {
		return fixedHeader{}, false
	}
	v := "max-age=" + strconv.FormatInt(int64(hstsMaxAge(h)/time.Second), 10)
	if !h.ExcludeSubDomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return fixedHeader{name: hHSTS, val: []string{v}, mode: c.modeOf(hHSTS)}, true
}

// hstsMaxAge is the max-age h sends: MaxAge, or the default for zero.
func hstsMaxAge(h HSTS) time.Duration {
	if h.MaxAge == 0 {
		return defaultHSTSMaxAge
	}
	return h.MaxAge
}

// resolveHeaders overlays the non-empty fields of over on base, then fills
// the defaults.
func resolveHeaders(base, over Headers) Headers {
	pick := func(b, o, def string) string { return cmp.Or(o, b, def) }
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
