package secheaders

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/secheaders/csp"
)

// Validate reports every mistake in p (errors: New refuses the policy) and
// every setting that is valid but weakens it (warnings), each on the Go
// path of its field: "HSTS.Preload", "CSP.Directives[script-src]",
// "Routes[1].Prefix", "Cookies[0].SameSite", "Modes[X-Frame-Options]".
// The CSP checker's findings (package csp) are among them, on the
// directive they are about.
//
// New runs exactly these checks, so a policy Validate finds no error in
// is one New accepts, and `rampart config check` and `rampart serve`
// cannot disagree.
func (p Policy) Validate() field.Errors {
	var errs field.Errors
	validateModes(p.Modes, &errs)

	base := basePolicy(p.CSP, badDirectives(&errs, "CSP.Directives"))
	validateNonce(p.CSP, &errs)
	validateReport(p.CSP.Report, p.CSP.InsecureDisable, &errs)
	if p.CSP.ReportOnly && !p.CSP.InsecureDisable {
		errs.Warnf("CSP.ReportOnly", "", "the policy is reported, not enforced")
	}
	if p.CSP.InsecureDisable {
		errs.Warnf("CSP.InsecureDisable", "", "no Content-Security-Policy is sent")
	}
	if p.CSP.Nonce.InjectHTML {
		errs.Warnf("CSP.Nonce.InjectHTML", "", "nonces every <script> of HTML responses, including ones injected by an attacker into the page")
	}

	validateHeaders("", p.Headers, &errs)
	checkCSP(base, "CSP.Directives", p.CSP.InsecureDisable, &errs)

	seen := map[string]bool{}
	for i, r := range p.Routes {
		at := field.Index("Routes", i)
		prefix, err := reqpath.ParsePrefix(r.Prefix)
		if err != nil {
			errs.Errorf(at+".Prefix", "write an absolute path such as /admin/", "%v", err)
			continue
		}
		if seen[prefix.String()] {
			errs.Errorf(at+".Prefix", "", "%q is listed twice (prefixes ignore case and a trailing slash)", r.Prefix)
			continue
		}
		seen[prefix.String()] = true
		pol := routePolicy(base, r, badDirectives(&errs, at+".CSP"))
		validateHeaders(at+".", r.Headers, &errs)
		if r.CSPReportOnly != nil && *r.CSPReportOnly && !p.CSP.InsecureDisable {
			errs.Warnf(at+".CSPReportOnly", "", "the policy of this route is reported, not enforced")
		}
		// A route that keeps the policy's CSP would only repeat its
		// findings.
		if !pol.Equal(base) {
			checkCSP(pol, at+".CSP", p.CSP.InsecureDisable, &errs)
		}
	}

	validateHSTS(p.HSTS, &errs)
	if p.InsecureNoCookieHardening {
		errs.Warnf("InsecureNoCookieHardening", "", "application cookies are sent without Secure/HttpOnly/SameSite hardening")
	} else {
		validateCookies(p.Cookies, &errs)
	}
	return errs
}

// badDirectives returns the report function of mergeDirectives for the
// map at path: each directive that does not parse is an error on its key.
func badDirectives(errs *field.Errors, at string) func(name string, err error) {
	return func(name string, err error) {
		errs.Errorf(field.Key(at, name), "", "not a valid directive: %v", err)
	}
}

// checkCSP runs the CSP checker on pol and records its findings on the
// directives of the map at path. With the CSP disabled, nothing is sent,
// so only errors (a policy that does not mean what was written) remain.
func checkCSP(pol csp.Policy, at string, disabled bool, errs *field.Errors) {
	for _, f := range csp.Check(pol) {
		e := field.Error{Path: at, Message: f.Message, Hint: f.Hint, Warning: f.Severity != csp.Error}
		if f.Directive != "" {
			e.Path = field.Key(at, f.Directive)
		}
		if e.Warning && disabled {
			continue
		}
		*errs = append(*errs, e)
	}
}

// modalHeaders are the headers a mode can be given for: those the policy
// sets or removes. A mode for any other name would do nothing, and is
// most likely a misspelling of one of these that leaves it at override.
var modalHeaders = []string{
	"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Permissions-Policy",
	"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Cross-Origin-Embedder-Policy",
	"Origin-Agent-Cluster", "X-Permitted-Cross-Domain-Policies", "X-Dns-Prefetch-Control",
	"X-Powered-By", "X-Xss-Protection", hHSTS, hCSP, hCSPRO,
}

func validateModes(modes map[string]Mode, errs *field.Errors) {
	for _, name := range slices.Sorted(maps.Keys(modes)) {
		at := field.Key("Modes", name)
		key := http.CanonicalHeaderKey(strings.TrimSpace(name))
		if !slices.Contains(modalHeaders, key) {
			errs.Errorf(at, "", "not a header the policy sets; modes apply to %s", strings.Join(modalHeaders, ", "))
			continue
		}
		switch mode := modes[name]; Mode(strings.ToLower(string(mode))) {
		case ModeOverride, "":
		case ModeKeep:
			errs.Warnf(at, "", "the application's value wins when it sends this header")
		case ModeMerge:
			if key != hCSP && key != hCSPRO {
				errs.Errorf(at, "use override or keep", "merge applies to Content-Security-Policy only")
			}
		default:
			errs.Errorf(at, "", "must be override, keep or merge, got %q", mode)
		}
	}
}

func validateNonce(c CSP, errs *field.Errors) {
	n := c.Nonce
	if !n.Enabled || c.InsecureDisable {
		if n.InjectHTML {
			errs.Errorf("CSP.Nonce.InjectHTML", "enable nonces, or leave this off", "has no nonce to inject: nonces are not enabled")
		}
		return
	}
	if n.RequestHeader != "" && !safe.Token(n.RequestHeader) {
		errs.Errorf("CSP.Nonce.RequestHeader", "", "%q is not a header name", n.RequestHeader)
	}
	for i, d := range n.Directives {
		if !nonceDirective(d) {
			errs.Errorf(field.Index("CSP.Nonce.Directives", i), "use script-src or style-src", "%q cannot carry a nonce", d)
		}
	}
}

// nonceDirective reports whether a nonce can be added to directive d.
func nonceDirective(d string) bool {
	switch strings.ToLower(d) {
	case "script-src", "script-src-elem", "style-src", "style-src-elem", "default-src":
		return true
	}
	return false
}

func validateReport(r ReportOptions, disabled bool, errs *field.Errors) {
	if !r.Enabled || disabled || r.Path == "" {
		return
	}
	if p, err := reqpath.Canonical(r.Path); err != nil || p != r.Path || r.Path == "/" || strings.ContainsAny(r.Path, "?#") {
		errs.Errorf("CSP.Report.Path", "", "must be a plain absolute path such as %s, got %q", defaultReportPath, r.Path)
	}
}

func validateHSTS(h HSTS, errs *field.Errors) {
	if h.InsecureDisable {
		errs.Warnf("HSTS.InsecureDisable", "", "no Strict-Transport-Security is sent; the first visit can be downgraded to HTTP")
		return
	}
	if h.MaxAge < 0 {
		errs.Errorf("HSTS.MaxAge", "leave it unset for two years", "must be >= 0, got %v", h.MaxAge)
		return
	}
	age := hstsMaxAge(h)
	if h.Preload && (age < preloadMinAge || h.ExcludeSubDomains) {
		errs.Errorf("HSTS.Preload", "preload only once HTTPS works everywhere under the domain: browsers keep enforcing it for months after removal",
			"needs max-age >= 1 year (31536000s) and includeSubDomains")
		return
	}
	if age < preloadMinAge/2 {
		errs.Warnf("HSTS.MaxAge", "", "%v is short; browsers forget HTTPS-only after it", age)
	}
}

// allowed values of the enumerated headers (lower case).
var (
	frameOptionsValues = []string{"deny", "sameorigin"}
	referrerValues     = []string{"no-referrer", "no-referrer-when-downgrade", "origin",
		"origin-when-cross-origin", "same-origin", "strict-origin",
		"strict-origin-when-cross-origin", "unsafe-url"}
	coopValues  = []string{"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}
	corpValues  = []string{"same-origin", "same-site", "cross-origin"}
	coepValues  = []string{"require-corp", "credentialless", "unsafe-none"}
	oacValues   = []string{"?1", "?0"}
	xpcdpValues = []string{"none", "master-only", "by-content-type", "by-ftp-filename", "all"}
	dnsValues   = []string{"on", "off"}
)

// validateHeaders validates the single-value headers of a Policy or a
// Route; prefix is "" or "Routes[i].".
func validateHeaders(prefix string, h Headers, errs *field.Errors) {
	enum := func(name, v string, allowed []string) {
		if v == "" || strings.EqualFold(v, Off) || slices.Contains(allowed, strings.ToLower(strings.TrimSpace(v))) {
			return
		}
		errs.Errorf(prefix+name, "", "must be one of %s or off, got %q", strings.Join(allowed, ", "), v)
	}
	if strings.HasPrefix(strings.ToLower(h.FrameOptions), "allow-from") {
		errs.Errorf(prefix+"FrameOptions", "allow framing with the CSP's frame-ancestors, and turn X-Frame-Options off",
			"ALLOW-FROM is ignored by current browsers")
	} else {
		enum("FrameOptions", h.FrameOptions, frameOptionsValues)
	}
	if h.ReferrerPolicy != "" && !strings.EqualFold(h.ReferrerPolicy, Off) {
		// A comma-separated list is allowed: browsers use the last value
		// they know, so older ones can be given a fallback.
		for v := range strings.SplitSeq(h.ReferrerPolicy, ",") {
			enum("ReferrerPolicy", strings.TrimSpace(v), referrerValues)
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "unsafe-url", "no-referrer-when-downgrade":
				errs.Warnf(prefix+"ReferrerPolicy", "", "%s sends full URLs (paths, query tokens) to other sites", v)
			}
		}
	}
	enum("CrossOriginOpenerPolicy", h.CrossOriginOpenerPolicy, coopValues)
	enum("CrossOriginResourcePolicy", h.CrossOriginResourcePolicy, corpValues)
	enum("CrossOriginEmbedderPolicy", h.CrossOriginEmbedderPolicy, coepValues)
	enum("OriginAgentCluster", h.OriginAgentCluster, oacValues)
	enum("PermittedCrossDomainPolicies", h.PermittedCrossDomainPolicies, xpcdpValues)
	enum("DNSPrefetchControl", h.DNSPrefetchControl, dnsValues)
	validatePermissions(prefix, h.PermissionsPolicy, errs)
	if strings.EqualFold(h.CrossOriginResourcePolicy, "cross-origin") {
		errs.Warnf(prefix+"CrossOriginResourcePolicy", "", "any site can embed these responses")
	}
	if strings.EqualFold(h.CrossOriginOpenerPolicy, "unsafe-none") {
		errs.Warnf(prefix+"CrossOriginOpenerPolicy", "", "cross-origin windows keep a handle on this page")
	}
}

func validatePermissions(prefix, v string, errs *field.Errors) {
	if v == "" || strings.EqualFold(v, Off) {
		return
	}
	if !validFieldValue(v) {
		errs.Errorf(prefix+"PermissionsPolicy", "", "contains control characters")
		return
	}
	for item := range strings.SplitSeq(v, ",") {
		feat, allow, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || feat == "" || allow == "" {
			errs.Errorf(prefix+"PermissionsPolicy", "write feature=allowlist items such as camera=(), fullscreen=(self)",
				"%q is not feature=allowlist", strings.TrimSpace(item))
		}
	}
}

// validFieldValue rejects control characters, which could split a header.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// sessionNames are probed against the cookie rules to warn about session
// cookies configured without protection.
var sessionNames = []string{"session", "sessionid", "sid", "phpsessid", "jsessionid",
	"access_token_cookie", "refresh_token_cookie", "auth", "jwt", "remember_token"}

// validateCookies checks the rules, then probes them with common session
// cookie names: a rule that leaves one without HttpOnly, Secure or a
// SameSite that blocks cross-site sends is a warning.
func validateCookies(rules []CookieRule, errs *field.Errors) {
	var compiled []cookieRule
	for i, r := range rules {
		at := field.Index("Cookies", i)
		cr, err := compileCookieRule(r)
		if err != nil {
			errs.Errorf(at+".Name", "", "bad pattern %q: %v", r.Name, err)
			continue
		}
		if !validSameSite(r.SameSite) {
			errs.Errorf(at+".SameSite", "", "must be lax, strict, none or off, got %q", r.SameSite)
		}
		compiled = append(compiled, cr)
	}
	if len(rules) == 0 {
		compiled = compileCookies(nil)
	}
	for _, name := range sessionNames {
		r := matchCookie(compiled, name)
		if r == nil {
			errs.Warnf("Cookies", "", "a session cookie named %q would match no rule and not be hardened", name)
			continue
		}
		var miss []string
		if !r.httpOnly {
			miss = append(miss, "HttpOnly")
		}
		if !r.secure {
			miss = append(miss, "Secure (the rule turns it off)")
		}
		if r.sameSite == "" || r.sameSite == "None" {
			miss = append(miss, "SameSite=Lax or Strict")
		}
		if len(miss) > 0 {
			errs.Warnf("Cookies", "", "session cookies such as %q get no %s (rule %q)", name, strings.Join(miss, ", "), r.pattern)
		}
	}
}
