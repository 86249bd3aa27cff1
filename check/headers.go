package check

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/safe"
)

// combined returns a header's field lines joined with ", ", which is how
// RFC 9110 §5.3 combines a repeated field and how browsers and the MDN
// HTTP Observatory see it. A security header sent twice ("SAMEORIGIN,
// SAMEORIGIN", "max-age=…, max-age=…") is then invalid, and browsers do
// ignore it: that is the defect of an nginx add_header in front of an app
// that sets the same header.
func combined(h http.Header, name string) (string, bool) {
	vs := h.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ", "), true
}

func test(name, result string) TestResult {
	return TestResult{Name: name, Result: result, Modifier: Modifier(result)}
}

const sixMonths = 15552000 // the Observatory's "white lie" for six months

// hstsTest follows strict-transport-security.js. verified is whether the
// certificate chain is trusted. The preload list is not consulted (the
// audit works offline), so hsts-preloaded is never the result.
func hstsTest(h http.Header, verified bool) (TestResult, []Finding) {
	var fs []Finding
	v, ok := combined(h, "Strict-Transport-Security")
	var r string
	switch {
	case !verified:
		r = "hsts-invalid-cert"
		fs = append(fs, Finding{ID: "hsts-invalid-cert", Category: CategoryHeaders, Severity: Error,
			Title: "HSTS cannot take effect: browsers ignore it on an untrusted certificate",
			Fix:   "serve a certificate that chains to a public root (ACME / Let's Encrypt)"})
	case !ok:
		r = "hsts-not-implemented"
		fs = append(fs, Finding{ID: "hsts-missing", Category: CategoryHeaders, Severity: Error,
			Title: "no Strict-Transport-Security header: first visits and typed URLs can be downgraded to HTTP",
			Fix:   "send Strict-Transport-Security: max-age=63072000; includeSubDomains"})
	default:
		hs, err := ParseHSTS(v)
		switch {
		case err != nil:
			r = "hsts-header-invalid"
			fs = append(fs, Finding{ID: "hsts-invalid", Category: CategoryHeaders, Severity: Error,
				Title: "Strict-Transport-Security is invalid and ignored by browsers: " + err.Error(), Evidence: safe.Clean(v, 200),
				Fix: "send the header exactly once (set it in the gateway or in the app, not both) with one max-age"})
		case hs.MaxAge < sixMonths:
			r = "hsts-implemented-max-age-less-than-six-months"
			fs = append(fs, Finding{ID: "hsts-short", Category: CategoryHeaders, Severity: Warning,
				Title: fmt.Sprintf("HSTS max-age is %d s, less than six months", hs.MaxAge), Evidence: v,
				Fix: "raise max-age to 63072000 (two years) once HTTPS is known to work everywhere"})
		default:
			r = "hsts-implemented-max-age-at-least-six-months"
			if hs.Preload && !hs.PreloadEligible() {
				fs = append(fs, Finding{ID: "hsts-preload-ineligible", Category: CategoryHeaders, Severity: Warning,
					Title: "HSTS asks for preload but does not meet hstspreload.org rules (max-age ≥ 31536000 and includeSubDomains)", Evidence: v,
					Fix: "add includeSubDomains and max-age=63072000, or drop preload"})
			} else if !hs.IncludeSubDomains {
				fs = append(fs, Finding{ID: "hsts-no-subdomains", Category: CategoryHeaders, Severity: Info,
					Title: "HSTS does not cover subdomains", Evidence: v,
					Fix: "add includeSubDomains when every subdomain serves HTTPS"})
			}
		}
	}
	t := test("strict-transport-security", r)
	t.Pass = r == "hsts-implemented-max-age-at-least-six-months"
	return t, fs
}

// corsTest follows cors.js on the response to a request that carried
// Origin: https://evil.example.
func corsTest(h http.Header, origin string) (TestResult, []Finding) {
	acao, _ := combined(h, "Access-Control-Allow-Origin")
	acac, _ := combined(h, "Access-Control-Allow-Credentials")
	acac = strings.TrimSpace(strings.ToLower(acac))
	r := "cross-origin-resource-sharing-not-implemented"
	var fs []Finding
	switch {
	case acao == "":
	case strings.TrimSpace(strings.ToLower(acao)) == "*":
		r = "cross-origin-resource-sharing-implemented-with-public-access"
	case acao == origin && acac == "true":
		r = "cross-origin-resource-sharing-implemented-with-universal-access"
		fs = append(fs, Finding{ID: "cors-reflects-origin-with-credentials", Category: CategoryHeaders, Severity: Error,
			Title:    "CORS reflects any Origin with credentials: any site can read authenticated responses",
			Evidence: "Access-Control-Allow-Origin: " + safe.Clean(acao, 100) + "; Access-Control-Allow-Credentials: true",
			Fix:      "allow a fixed list of origins, or send Access-Control-Allow-Origin: * without credentials"})
	case acao == origin:
		r = "cross-origin-resource-sharing-implemented-with-restricted-access"
		fs = append(fs, Finding{ID: "cors-reflects-origin", Category: CategoryHeaders, Severity: Warning,
			Title:    "CORS reflects any Origin (without credentials)",
			Evidence: "Access-Control-Allow-Origin: " + safe.Clean(acao, 100),
			Fix:      "allow a fixed list of origins"})
	default:
		r = "cross-origin-resource-sharing-implemented-with-restricted-access"
	}
	t := test("cross-origin-resource-sharing", r)
	t.Pass = r != "cross-origin-resource-sharing-implemented-with-universal-access"
	return t, fs
}

// referrerTest follows referrer-policy.js: the last recognised token wins.
func referrerTest(h http.Header) (TestResult, []Finding) {
	good := newSet("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
	bad := newSet("origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade")
	v, ok := combined(h, "Referrer-Policy")
	if !ok {
		t := test("referrer-policy", "referrer-policy-not-implemented")
		t.Pass = true
		return t, []Finding{{ID: "referrer-policy-missing", Category: CategoryHeaders, Severity: Info,
			Title: "no Referrer-Policy header (browsers default to strict-origin-when-cross-origin)",
			Fix:   "send Referrer-Policy: strict-origin-when-cross-origin"}}
	}
	policy := ""
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if good[p] || bad[p] {
			policy = p
		}
	}
	switch {
	case good[policy]:
		t := test("referrer-policy", "referrer-policy-private")
		t.Pass = true
		return t, nil
	case bad[policy]:
		return test("referrer-policy", "referrer-policy-unsafe"), []Finding{{ID: "referrer-policy-unsafe",
			Category: CategoryHeaders, Severity: Warning, Title: "Referrer-Policy leaks full URLs to other sites", Evidence: v,
			Fix: "send Referrer-Policy: strict-origin-when-cross-origin"}}
	}
	return test("referrer-policy", "referrer-policy-header-invalid"), []Finding{{ID: "referrer-policy-invalid",
		Category: CategoryHeaders, Severity: Warning, Title: "Referrer-Policy not recognised", Evidence: safe.Clean(v, 200),
		Fix: "send Referrer-Policy: strict-origin-when-cross-origin"}}
}

// xctoTest follows x-content-type-options.js (first value only, as there).
func xctoTest(h http.Header) (TestResult, []Finding) {
	v, ok := combined(h, "X-Content-Type-Options")
	switch {
	case !ok:
		return test("x-content-type-options", "x-content-type-options-not-implemented"), []Finding{{ID: "nosniff-missing",
			Category: CategoryHeaders, Severity: Warning, Title: "no X-Content-Type-Options: browsers may sniff uploads as HTML or script",
			Fix: "send X-Content-Type-Options: nosniff"}}
	case strings.ToLower(strings.TrimSpace(v)) == "nosniff":
		t := test("x-content-type-options", "x-content-type-options-nosniff")
		t.Pass = true
		return t, nil
	}
	return test("x-content-type-options", "x-content-type-options-header-invalid"), []Finding{{ID: "nosniff-invalid",
		Category: CategoryHeaders, Severity: Warning, Title: "X-Content-Type-Options is not exactly nosniff", Evidence: safe.Clean(v, 200),
		Fix: "send X-Content-Type-Options: nosniff once"}}
}

// xfoTest follows x-frame-options.js; a CSP frame-ancestors directive
// replaces it.
func xfoTest(h http.Header, csp cspOutcome) (TestResult, []Finding) {
	v, ok := combined(h, "X-Frame-Options")
	x := strings.ToLower(strings.TrimSpace(v))
	r := "x-frame-options-not-implemented"
	switch {
	case !ok:
	case x == "deny" || x == "sameorigin":
		r = "x-frame-options-sameorigin-or-deny"
	case strings.HasPrefix(x, "allow-from"):
		r = "x-frame-options-allow-from-origin"
	default:
		r = "x-frame-options-header-invalid"
	}
	if csp.hasFrameAnc {
		r = "x-frame-options-implemented-via-csp"
	}
	var fs []Finding
	switch r {
	case "x-frame-options-not-implemented":
		fs = append(fs, Finding{ID: "clickjacking-unprotected", Category: CategoryHeaders, Severity: Error,
			Title: "neither X-Frame-Options nor CSP frame-ancestors: pages can be framed (clickjacking)",
			Fix:   "add frame-ancestors 'none' (or 'self') to the CSP, and X-Frame-Options: DENY for old browsers"})
	case "x-frame-options-header-invalid":
		fs = append(fs, Finding{ID: "xfo-invalid", Category: CategoryHeaders, Severity: Error,
			Title: "X-Frame-Options is invalid (sent twice?) and no frame-ancestors backs it up", Evidence: safe.Clean(v, 200),
			Fix: "send X-Frame-Options once, and add frame-ancestors to the CSP"})
	case "x-frame-options-allow-from-origin":
		fs = append(fs, Finding{ID: "xfo-allow-from", Category: CategoryHeaders, Severity: Warning,
			Title: "X-Frame-Options ALLOW-FROM is ignored by current browsers", Evidence: v,
			Fix: "use CSP frame-ancestors with the allowed origin"})
	}
	t := test("x-frame-options", r)
	t.Pass = r != "x-frame-options-not-implemented" && r != "x-frame-options-header-invalid"
	return t, fs
}

// corpTest follows cross-origin-resource-policy.js.
func corpTest(h http.Header) (TestResult, []Finding) {
	raw, _ := combined(h, "Cross-Origin-Resource-Policy")
	invalid := func(v string) (string, []Finding) {
		return "corp-header-invalid", []Finding{{ID: "corp-invalid", Category: CategoryHeaders, Severity: Warning,
			Title: "Cross-Origin-Resource-Policy not recognised", Evidence: safe.Clean(v, 100),
			Fix: "send Cross-Origin-Resource-Policy: same-origin"}}
	}
	r := "corp-not-implemented"
	var fs []Finding
	switch v := strings.ToLower(strings.TrimSpace(raw)); {
	case len(raw) > 256:
		// Not read further: invalid, whatever it holds.
		r, fs = invalid(v)
	case v == "":
		fs = append(fs, Finding{ID: "corp-missing", Category: CategoryHeaders, Severity: Info,
			Title: "no Cross-Origin-Resource-Policy: other sites can embed these responses",
			Fix:   "send Cross-Origin-Resource-Policy: same-origin (or same-site)"})
	case v == "same-site":
		r = "corp-implemented-with-same-site"
	case v == "same-origin":
		r = "corp-implemented-with-same-origin"
	case v == "cross-origin":
		r = "corp-implemented-with-cross-origin"
	default:
		r, fs = invalid(v)
	}
	t := test("cross-origin-resource-policy", r)
	t.Pass = r != "corp-header-invalid"
	return t, fs
}

// securityHeaders are those whose repetition is a defect: browsers combine
// the lines and then ignore or misread the result.
var securityHeaders = []string{
	"Strict-Transport-Security", "Content-Security-Policy", "X-Frame-Options",
	"X-Content-Type-Options", "Referrer-Policy", "X-XSS-Protection",
	"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy",
	"Cross-Origin-Embedder-Policy", "Permissions-Policy", "Server",
}

// versionBanner matches a product token with a version: nginx/1.22.1,
// Werkzeug/2.2.2, Python/3.11, PHP/8.1.2, Apache/2.4.57.
var versionBanner = regexp.MustCompile(`[A-Za-z][A-Za-z0-9._-]*/[0-9][0-9A-Za-z.\-]*`)

// otherHeaderFindings covers what the Observatory does not score.
func otherHeaderFindings(h http.Header) []Finding {
	var fs []Finding
	for _, name := range securityHeaders {
		if n := len(h.Values(name)); n > 1 {
			fs = append(fs, Finding{ID: "header-duplicated", Category: CategoryHeaders, Severity: Warning,
				Title:    fmt.Sprintf("%s sent %d times: browsers combine the copies and may ignore them", name, n),
				Evidence: safe.Clean(strings.Join(h.Values(name), " | "), 200),
				Fix:      "set security headers in one place (the gateway), and remove them from the app or from the web server"})
		}
	}
	if v, ok := combined(h, "X-XSS-Protection"); ok && strings.TrimSpace(v) != "0" {
		fs = append(fs, Finding{ID: "x-xss-protection-enabled", Category: CategoryHeaders, Severity: Warning,
			Title:    "X-XSS-Protection enables a deprecated filter that itself enabled XS-Leaks and XSS",
			Evidence: "X-XSS-Protection: " + safe.Clean(v, 100),
			Fix:      "send X-XSS-Protection: 0 (or nothing) and rely on the CSP"})
	}
	for _, name := range []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"} {
		for _, v := range h.Values(name) {
			versioned := versionBanner.MatchString(v)
			if name != "Server" || versioned {
				title := name + " discloses the software"
				if versioned {
					title += " and its version"
				}
				fs = append(fs, Finding{ID: "version-banner", Category: CategoryHeaders, Severity: Warning,
					Title:    title,
					Evidence: name + ": " + safe.Clean(v, 100),
					Fix:      "remove the header (nginx: server_tokens off and proxy_hide_header; rampart strips it)"})
			}
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get("Cross-Origin-Opener-Policy"))); v {
	case "same-origin", "same-origin-allow-popups", "noopener-allow-popups":
	case "":
		fs = append(fs, Finding{ID: "coop-missing", Category: CategoryHeaders, Severity: Info,
			Title: "no Cross-Origin-Opener-Policy: a window this site opens, or that opens it, keeps a handle on it",
			Fix:   "send Cross-Origin-Opener-Policy: same-origin"})
	default:
		fs = append(fs, Finding{ID: "coop-weak", Category: CategoryHeaders, Severity: Info,
			Title: "Cross-Origin-Opener-Policy does not isolate the window", Evidence: safe.Clean(v, 100),
			Fix: "send Cross-Origin-Opener-Policy: same-origin"})
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get("Cross-Origin-Embedder-Policy"))); v {
	case "require-corp", "credentialless":
	case "":
		fs = append(fs, Finding{ID: "coep-missing", Category: CategoryHeaders, Severity: Info,
			Title: "no Cross-Origin-Embedder-Policy: the page is not cross-origin isolated (needed only for SharedArrayBuffer and precise timers)",
			Fix:   "send Cross-Origin-Embedder-Policy: require-corp once every embedded resource allows it"})
	case "unsafe-none":
	default:
		fs = append(fs, Finding{ID: "coep-invalid", Category: CategoryHeaders, Severity: Warning,
			Title: "Cross-Origin-Embedder-Policy not recognised", Evidence: safe.Clean(v, 100),
			Fix: "send require-corp, credentialless or nothing"})
	}
	return fs
}

// cspFindings is rampart's own reading of the policy, more detailed than
// the Observatory's single result.
func cspFindings(h http.Header, o cspOutcome) []Finding {
	var fs []Finding
	add := func(id string, sev Severity, title, fix string) {
		fs = append(fs, Finding{ID: id, Category: CategoryHeaders, Severity: sev, Title: title, Fix: fix})
	}
	switch o.result {
	case "csp-not-implemented":
		add("csp-missing", Error, "no Content-Security-Policy: an injected script runs with the page's rights",
			"send a CSP such as default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
		return fs
	case "csp-not-implemented-but-reporting-enabled":
		add("csp-report-only", Warning, "CSP is report-only: nothing is enforced",
			"once reports are clean, send the same policy as Content-Security-Policy")
		return fs
	case "csp-header-invalid":
		if o.parseErr != nil {
			add("csp-invalid", Error, "CSP cannot be parsed: "+o.parseErr.Error(), "fix the policy syntax; send each directive once")
			return fs
		}
	}
	if len(fs) == 0 && o.merged == nil {
		return fs
	}
	m := o.merged
	script, hasScript := m["script-src"]
	if !hasScript {
		script = m["default-src"]
	}
	if o.strictDynamicNo {
		add("csp-strict-dynamic-without-nonce", Error, "'strict-dynamic' without a nonce or hash blocks every script or is ignored",
			"add a per-response nonce or script hashes")
	}
	if _, ok := m["default-src"]; !ok {
		add("csp-default-src-missing", Warning, "CSP has no default-src: every directive not listed allows everything",
			"start from default-src 'self' (or 'none') and open what the page needs")
	}
	if script != nil {
		// unsafe-inline was removed by the scoring when a nonce/hash is present.
		if script["'unsafe-inline'"] {
			add("csp-script-unsafe-inline", Error, "script-src allows 'unsafe-inline' without a nonce or hash: injected inline scripts run",
				"use a per-response nonce ('nonce-…') or hashes, and remove 'unsafe-inline'")
		}
		var broad []string
		for s := range script {
			if cspBroad[s] || s == "data:" || strings.HasPrefix(s, "http:") {
				broad = append(broad, s)
			}
		}
		if len(broad) > 0 {
			slices.Sort(broad)
			add("csp-script-broad", Error, "script-src allows "+strings.Join(broad, " ")+": scripts can be loaded from anywhere an attacker controls",
				"list exact HTTPS origins, or use nonces with 'strict-dynamic'")
		}
	}
	if o.unsafeEval {
		add("csp-unsafe-eval", Warning, "CSP allows 'unsafe-eval': eval() and new Function() run injected strings",
			"remove eval-style code, then 'unsafe-eval'")
	}
	if o.insecureScheme {
		add("csp-insecure-scheme", Warning, "CSP allows resources over plain http:", "allow https: origins only")
	}
	if obj, ok := m["object-src"]; ok {
		if obj.any(func(s string) bool { return cspBroad[s] }) {
			add("csp-object-src-broad", Error, "object-src allows broad sources (plugins can run script)", "set object-src 'none'")
		}
	} else if ds, ok := m["default-src"]; !ok || !ds["'none'"] {
		add("csp-object-src-missing", Warning, "CSP has no object-src 'none': <object>/<embed> fall back to default-src",
			"add object-src 'none'")
	}
	if _, ok := m["base-uri"]; !ok {
		add("csp-base-uri-missing", Warning, "CSP has no base-uri: an injected <base> tag can redirect relative script URLs",
			"add base-uri 'self' (or 'none')")
	}
	if !o.hasFrameAnc {
		sev := Info
		if h.Get("X-Frame-Options") == "" {
			sev = Warning
		}
		add("csp-frame-ancestors-missing", sev, "CSP has no frame-ancestors (X-Frame-Options alone is the legacy control)",
			"add frame-ancestors 'none' (or 'self')")
	} else if !o.frameAncestors {
		add("csp-frame-ancestors-broad", Error, "frame-ancestors allows broad sources: any site can frame the pages",
			"set frame-ancestors 'none' or 'self'")
	}
	return fs
}
