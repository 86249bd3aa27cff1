package secheaders

import (
	"path"
	"strings"
)

// CookieRule hardens the Set-Cookie headers of the application whose cookie
// name matches Name. Attributes are only ever added when missing, never
// changed or duplicated: an application that deliberately sends
// SameSite=None (a cross-site widget) keeps it.
type CookieRule struct {
	// Name is a path.Match pattern on the cookie name, case-insensitive
	// ("session", "*token*"). "" matches every cookie.
	Name string
	// HttpOnly adds HttpOnly, hiding the cookie from scripts (an XSS
	// cannot steal it). Default false, because cookies that scripts must
	// read (a CSRF double-submit token) exist; DefaultCookieRules sets it
	// for session-like names.
	HttpOnly bool
	// SameSite is added when missing: "lax" (default when empty),
	// "strict", "none", or Off to add none.
	SameSite string
	// InsecureNoSecure does not add Secure. By default Secure is added on
	// HTTPS responses (never on plain HTTP, where a Secure cookie would
	// not be stored), so the cookie never travels in cleartext.
	InsecureNoSecure bool
}

// DefaultCookieRules returns the rules that apply when Policy.Cookies is
// empty: every cookie gets Secure (over HTTPS) and SameSite=Lax; names that
// look like a session or an access token also get HttpOnly. CSRF tokens
// come first, without HttpOnly, because double-submit schemes read them
// from JavaScript. Each call returns a fresh slice: changing it changes
// nothing for anyone else.
func DefaultCookieRules() []CookieRule {
	return []CookieRule{
		{Name: "*csrf*"},
		{Name: "*xsrf*"},
		{Name: "*session*", HttpOnly: true},
		{Name: "*sess", HttpOnly: true},
		{Name: "*sessid*", HttpOnly: true},
		{Name: "sid", HttpOnly: true},
		{Name: "*_sid", HttpOnly: true},
		{Name: "*token*", HttpOnly: true},
		{Name: "*auth*", HttpOnly: true},
		{Name: "*jwt*", HttpOnly: true},
		{Name: "remember*", HttpOnly: true},
		{Name: "*"},
	}
}

type cookieRule struct {
	pattern  string
	httpOnly bool
	sameSite string // "" none to add, else "Lax", "Strict", "None"
	secure   bool
}

// compileCookies compiles rules (DefaultCookieRules when there are none),
// which Validate has checked.
func compileCookies(rules []CookieRule) []cookieRule {
	if len(rules) == 0 {
		rules = DefaultCookieRules()
	}
	out := make([]cookieRule, 0, len(rules))
	for _, r := range rules {
		if cr, err := compileCookieRule(r); err == nil {
			out = append(out, cr)
		}
	}
	return out
}

// compileCookieRule compiles r; the error is a malformed name pattern. A
// SameSite value that is not one of the four adds none (Validate refuses
// it).
func compileCookieRule(r CookieRule) (cookieRule, error) {
	pat := strings.ToLower(r.Name)
	if pat == "" {
		pat = "*"
	}
	if _, err := path.Match(pat, ""); err != nil {
		return cookieRule{}, err
	}
	cr := cookieRule{pattern: pat, httpOnly: r.HttpOnly, secure: !r.InsecureNoSecure}
	switch strings.ToLower(r.SameSite) {
	case "", "lax":
		cr.sameSite = "Lax"
	case "strict":
		cr.sameSite = "Strict"
	case "none":
		cr.sameSite = "None"
	}
	return cr, nil
}

func validSameSite(s string) bool {
	switch strings.ToLower(s) {
	case "", "lax", "strict", "none", Off:
		return true
	}
	return false
}

func matchCookie(rules []cookieRule, name string) *cookieRule {
	name = strings.ToLower(name)
	for i := range rules {
		if ok, _ := path.Match(rules[i].pattern, name); ok {
			return &rules[i]
		}
	}
	return nil
}

// hardenCookies rewrites each Set-Cookie value in place, appending the
// attributes its rule asks for and it lacks.
func hardenCookies(values []string, rules []cookieRule, tls bool) {
	for i, v := range values {
		values[i] = hardenCookie(v, rules, tls)
	}
}

func hardenCookie(v string, rules []cookieRule, tls bool) string {
	first, attrs, _ := strings.Cut(v, ";")
	name, value, ok := strings.Cut(first, "=")
	if !ok {
		// "Set-Cookie: token123" is stored by browsers as a cookie with
		// an empty name and that value (RFC 6265bis §5.6), so it is
		// hardened like any other; only an empty pair is dropped.
		name, value = "", name
	}
	name = strings.TrimSpace(name)
	if name == "" && strings.TrimSpace(value) == "" {
		return v // not a cookie the browser would store either
	}
	r := matchCookie(rules, name)
	if r == nil {
		return v
	}
	var hasSecure, hasHTTPOnly, hasSameSite bool
	for a := range strings.SplitSeq(attrs, ";") {
		an, _, _ := strings.Cut(a, "=")
		switch strings.ToLower(strings.TrimSpace(an)) {
		case "secure":
			hasSecure = true
		case "httponly":
			hasHTTPOnly = true
		case "samesite":
			hasSameSite = true
		}
	}
	out := strings.TrimRight(v, "; ")
	if r.secure && tls && !hasSecure {
		out += "; Secure"
	}
	if r.httpOnly && !hasHTTPOnly {
		out += "; HttpOnly"
	}
	if r.sameSite != "" && !hasSameSite {
		out += "; SameSite=" + r.sameSite
	}
	if len(out) == len(strings.TrimRight(v, "; ")) {
		return v
	}
	return out
}
