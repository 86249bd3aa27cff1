package check

import (
	"net/http"
	"strings"
	"testing"
)

func TestGrade(t *testing.T) {
	for _, c := range []struct {
		score int
		grade string
	}{
		{145, "A+"}, {100, "A+"}, {99, "A"}, {90, "A"}, {89, "A-"}, {85, "A-"}, {84, "B+"}, {80, "B+"},
		{79, "B"}, {70, "B"}, {69, "B-"}, {65, "B-"}, {64, "C+"}, {60, "C+"}, {59, "C"}, {50, "C"},
		{49, "C-"}, {45, "C-"}, {44, "D+"}, {40, "D+"}, {39, "D"}, {30, "D"}, {29, "D-"}, {25, "D-"},
		{24, "F"}, {0, "F"},
	} {
		if g := Grade(c.score); g != c.grade {
			t.Errorf("Grade(%d) = %s, want %s", c.score, g, c.grade)
		}
	}
	if GradeRank("A+") <= GradeRank("A") || GradeRank("F") != 0 || ValidGrade("E") {
		t.Error("grade ranks out of order")
	}
}

func TestScore_BonusOnlyAtA(t *testing.T) {
	tr := func(rs ...string) []TestResult {
		var out []TestResult
		for _, r := range rs {
			out = append(out, test("x", r))
		}
		return out
	}
	// 100 - 10 = 90: an A, so the +10 CORP bonus counts.
	if s := Score(tr("hsts-implemented-max-age-less-than-six-months", "corp-implemented-with-same-origin")); s != 100 {
		t.Errorf("score %d, want 100", s)
	}
	// 100 - 20 = 80: below 90, bonuses are dropped.
	if s := Score(tr("hsts-not-implemented", "corp-implemented-with-same-origin", "referrer-policy-private")); s != 80 {
		t.Errorf("score %d, want 80", s)
	}
	// Never below zero.
	if s := Score(tr("cross-origin-resource-sharing-implemented-with-universal-access", "sri-not-implemented-and-external-scripts-not-loaded-securely", "cookies-session-without-secure-flag")); s != 0 {
		t.Errorf("score %d, want 0", s)
	}
}

func TestParseHSTS(t *testing.T) {
	for _, c := range []struct {
		in       string
		ok       bool
		want     HSTS
		eligible bool
	}{
		{"max-age=63072000; includeSubDomains; preload", true, HSTS{63072000, true, true}, true},
		{`max-age="31536000"; INCLUDESUBDOMAINS; preload`, true, HSTS{31536000, true, true}, true},
		{"max-age=15552000", true, HSTS{MaxAge: 15552000}, false},
		{"max-age=0", true, HSTS{}, false},
		{"max-age=300; includeSubDomains; preload", true, HSTS{300, true, true}, false},
		{"max-age=99999999999999999999999", true, HSTS{MaxAge: 1<<63 - 1}, false},
		{"", false, HSTS{}, false},
		{"includeSubDomains", false, HSTS{}, false},
		{"max-age=", false, HSTS{}, false},
		{"max-age=10abc", false, HSTS{}, false},
		{"max-age=-1", false, HSTS{}, false},
		{"max-age=1; max-age=2", false, HSTS{}, false},
		{"max-age=1; includeSubDomains=yes", false, HSTS{}, false},
	} {
		got, err := ParseHSTS(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseHSTS(%q) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if got.PreloadEligible() != c.eligible {
			t.Errorf("ParseHSTS(%q).PreloadEligible() = %v", c.in, !c.eligible)
		}
	}
}

// TestHSTS_DuplicatedHeader: nginx add_header plus Talisman send HSTS
// twice; the browser sees one combined value and ignores it.
func TestHSTS_DuplicatedHeader(t *testing.T) {
	h := http.Header{}
	h.Add("Strict-Transport-Security", "max-age=31556926; includeSubDomains")
	h.Add("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload")
	tr, fs := hstsTest(h, true)
	if tr.Result != "hsts-header-invalid" || len(fs) == 0 || fs[0].Severity != Error {
		t.Errorf("got %+v %+v", tr, fs)
	}
}

func TestObservatoryCSP(t *testing.T) {
	for _, c := range []struct {
		csp  string
		want string
	}{
		{"", "csp-not-implemented"},
		{"default-src 'none'; img-src 'self'", "csp-implemented-with-no-unsafe-default-src-none"},
		{"default-src 'self'", "csp-implemented-with-no-unsafe"},
		{"default-src 'self'; script-src 'self' 'unsafe-inline'", "csp-implemented-with-unsafe-inline"},
		{"default-src 'self'; script-src 'self' 'unsafe-inline' 'nonce-abc'", "csp-implemented-with-no-unsafe"},
		{"default-src 'self'; script-src 'nonce-abc' 'strict-dynamic' https: 'unsafe-inline'", "csp-implemented-with-no-unsafe"},
		{"default-src 'self'; script-src 'strict-dynamic'", "csp-header-invalid"},
		{"default-src 'self'; script-src data:", "csp-implemented-with-unsafe-inline"},
		{"default-src 'self'; script-src *", "csp-implemented-with-unsafe-inline"},
		{"script-src 'self'", "csp-implemented-with-unsafe-inline"}, // object-src falls back to *
		{"default-src 'self'; object-src https:", "csp-implemented-with-unsafe-inline"},
		{"default-src 'self'; script-src 'self' 'unsafe-eval'", "csp-implemented-with-unsafe-eval"},
		{"default-src 'self'; connect-src http://api.example", "csp-implemented-with-insecure-scheme"},
		{"default-src 'self'; img-src http://img.example", "csp-implemented-with-insecure-scheme-in-passive-content-only"},
		{"default-src 'self'; style-src 'self' 'unsafe-inline'", "csp-implemented-with-unsafe-inline-in-style-src-only"},
		{"default-src 'self'; script-src 'self'; script-src 'unsafe-inline'", "csp-header-invalid"},
		{"default-src 'self'; report-uri /a; report-uri /b", "csp-implemented-but-duplicate-directives"},
		{"x", "csp-header-invalid"},
		// Two policies: both enforced, the intersection applies.
		{"default-src 'self' 'unsafe-inline', default-src 'self'", "csp-implemented-with-no-unsafe"},
	} {
		var vals []string
		if c.csp != "" {
			vals = []string{c.csp}
		}
		if got := observatoryCSP(vals, nil, true).result; got != c.want {
			t.Errorf("%q: %s, want %s", c.csp, got, c.want)
		}
	}
	if got := observatoryCSP(nil, []string{"default-src 'self'"}, true).result; got != "csp-not-implemented-but-reporting-enabled" {
		t.Errorf("report-only: %s", got)
	}
}

// TestCSP_InjectedScriptAllowed lists the policies under which an injected
// <script> runs, and checks each is reported as an error.
func TestCSP_InjectedScriptAllowed(t *testing.T) {
	for _, p := range []string{
		"default-src 'self'; script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
		"default-src 'self'; script-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
		"default-src 'self'; script-src https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
		"default-src 'self'; script-src http://cdn.example; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
	} {
		h := http.Header{"Content-Security-Policy": {p}}
		o := observatoryCSP(h.Values("Content-Security-Policy"), nil, true)
		found := false
		for _, f := range cspFindings(h, o) {
			if f.Severity == Error && strings.HasPrefix(f.ID, "csp-script-") {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no script-src error; findings %+v", p, cspFindings(h, o))
		}
	}
}

// TestCSP_BaseTagInjection: without base-uri an injected <base href>
// rewrites every relative script URL.
func TestCSP_BaseTagInjection(t *testing.T) {
	h := http.Header{"Content-Security-Policy": {"default-src 'self'; object-src 'none'; frame-ancestors 'none'"}}
	fs := cspFindings(h, observatoryCSP(h.Values("Content-Security-Policy"), nil, true))
	if !hasID(fs, "csp-base-uri-missing") {
		t.Errorf("missing base-uri not reported: %+v", fs)
	}
}

func hasID(fs []Finding, id string) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

func TestObservatoryCookies(t *testing.T) {
	for _, c := range []struct {
		lines []string
		hsts  bool
		want  string
	}{
		{nil, true, "cookies-not-found"},
		{[]string{"a=1; Secure; SameSite=Lax"}, true, "cookies-secure-with-httponly-sessions-and-samesite"},
		{[]string{"a=1; Secure"}, true, "cookies-secure-with-httponly-sessions"},
		{[]string{"a=1"}, true, "cookies-without-secure-flag-but-protected-by-hsts"},
		{[]string{"a=1"}, false, "cookies-without-secure-flag"},
		{[]string{"sessionid=1; Secure"}, true, "cookies-session-without-httponly-flag"},
		{[]string{"sessionid=1; HttpOnly"}, false, "cookies-session-without-secure-flag"},
		{[]string{"sessionid=1; HttpOnly"}, true, "cookies-session-without-secure-flag-but-protected-by-hsts"},
		{[]string{"csrftoken=1; Secure"}, true, "cookies-anticsrf-without-samesite-flag"},
		{[]string{"a=1; Secure; SameSite=Bogus"}, true, "cookies-samesite-flag-invalid"},
		{[]string{"a=1; SameSite=None"}, true, "cookies-samesite-flag-invalid"},
		{[]string{"heroku-session-affinity=1"}, false, "cookies-not-found"},
	} {
		if got := observatoryCookies(c.lines, c.hsts); got != c.want {
			t.Errorf("%q hsts=%v: %s, want %s", c.lines, c.hsts, got, c.want)
		}
	}
}

// TestCookie_PrefixSpoofing: __Host- and __Secure- cookies that break the
// prefix rules are dropped by browsers; an app relying on them is exposed.
func TestCookie_PrefixSpoofing(t *testing.T) {
	fs := cookieFindings([]string{
		"__Host-sid=1; Secure; HttpOnly; Path=/; Domain=example.com; SameSite=Lax",
		"__Secure-sid=1; HttpOnly; SameSite=Lax",
		"__Host-ok=1; Secure; HttpOnly; Path=/; SameSite=Strict",
	})
	if !hasID(fs, "cookie-host-prefix-invalid") || !hasID(fs, "cookie-secure-prefix-invalid") {
		t.Errorf("prefix violations not reported: %+v", fs)
	}
	for _, f := range fs {
		if strings.Contains(f.Title, "__Host-ok") {
			t.Errorf("valid __Host- cookie reported: %+v", f)
		}
	}
}

// TestCookie_SessionStealableByScript: a session or JWT cookie without
// HttpOnly is readable by any injected script; a CSRF token is meant to be.
func TestCookie_SessionStealableByScript(t *testing.T) {
	fs := cookieFindings([]string{"access_token_cookie=x; Secure; SameSite=Strict", "csrf_access_token=y; Secure; SameSite=Strict"})
	n := 0
	for _, f := range fs {
		if f.ID == "cookie-no-httponly" {
			n++
			if !strings.Contains(f.Title, "access_token_cookie") {
				t.Errorf("wrong cookie flagged: %s", f.Title)
			}
		}
	}
	if n != 1 {
		t.Errorf("want exactly the JWT cookie flagged, got %+v", fs)
	}
}

func TestParseSetCookie(t *testing.T) {
	c, ok := ParseSetCookie(" id = a=b ; secure;HTTPONLY; samesite = Strict; Domain=.x.com; Path=/p")
	if !ok || c.Name != "id" || !c.Secure || !c.HttpOnly || c.SameSite != "Strict" || c.Domain != ".x.com" || c.Path != "/p" {
		t.Errorf("got %+v %v", c, ok)
	}
	for _, bad := range []string{"", "noequals", "=value"} {
		if _, ok := ParseSetCookie(bad); ok {
			t.Errorf("ParseSetCookie(%q) ok", bad)
		}
	}
}

// TestHeaders_NodeStyleCombination: repeated XFO / nosniff lines combine
// into invalid values, as the Observatory and browsers read them.
func TestHeaders_NodeStyleCombination(t *testing.T) {
	h := http.Header{}
	h.Add("X-Frame-Options", "SAMEORIGIN")
	h.Add("X-Frame-Options", "SAMEORIGIN")
	h.Add("X-Content-Type-Options", "nosniff")
	h.Add("X-Content-Type-Options", "nosniff")
	if tr, _ := xfoTest(h, cspOutcome{}); tr.Result != "x-frame-options-header-invalid" {
		t.Errorf("xfo %s", tr.Result)
	}
	if tr, _ := xctoTest(h); tr.Result != "x-content-type-options-header-invalid" {
		t.Errorf("xcto %s", tr.Result)
	}
	if !hasID(otherHeaderFindings(h), "header-duplicated") {
		t.Error("duplicates not reported")
	}
}

func TestReferrerPolicy_LastValidWins(t *testing.T) {
	for in, want := range map[string]string{
		"no-referrer, unsafe-url":                     "referrer-policy-unsafe",
		"unsafe-url, strict-origin-when-cross-origin": "referrer-policy-private",
		"bogus":                                  "referrer-policy-header-invalid",
		"strict-origin-when-cross-origin, bogus": "referrer-policy-private",
	} {
		if tr, _ := referrerTest(http.Header{"Referrer-Policy": {in}}); tr.Result != want {
			t.Errorf("%q: %s, want %s", in, tr.Result, want)
		}
	}
}

func TestXXSSProtection(t *testing.T) {
	for v, bad := range map[string]bool{"0": false, "1": true, "1; mode=block": true, "1; report=/r": true} {
		fs := otherHeaderFindings(http.Header{"X-Xss-Protection": {v}})
		if hasID(fs, "x-xss-protection-enabled") != bad {
			t.Errorf("X-XSS-Protection: %s reported=%v", v, !bad)
		}
	}
}

func TestVersionBanner(t *testing.T) {
	for v, want := range map[string]bool{"nginx/1.22.1": true, "Werkzeug/2.2.2 Python/3.11": true, "nginx": false, "rampart": false} {
		if got := hasID(otherHeaderFindings(http.Header{"Server": {v}}), "version-banner"); got != want {
			t.Errorf("Server: %s → %v", v, got)
		}
	}
}

func TestSRI(t *testing.T) {
	page := mustURL("https://www.example.com/")
	for _, c := range []struct {
		body, want string
	}{
		{"<p>no scripts</p>", "sri-not-implemented-but-no-scripts-loaded"},
		{"<script>inline()</script>", "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"},
		{`<script src="/a.js"></script>`, "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"},
		{`<script src="/a.js" integrity="sha384-x"></script>`, "sri-implemented-and-all-scripts-loaded-securely"},
		{`<script src="https://static.example.com/a.js"></script>`, "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"},
		{`<script src="https://cdn.other.net/a.js" integrity="sha384-x"></script>`, "sri-implemented-and-external-scripts-loaded-securely"},
		{`<script src="https://cdn.other.net/a.js"></script>`, "sri-not-implemented-but-external-scripts-loaded-securely"},
		{`<script src="http://cdn.other.net/a.js" integrity="sha384-x"></script>`, "sri-implemented-but-external-scripts-not-loaded-securely"},
		{`<script src="//cdn.other.net/a.js"></script>`, "sri-not-implemented-and-external-scripts-not-loaded-securely"},
		{`<script src="http://cdn.other.net/a.js"></script><script src="https://x.net/b.js"></script>`, "sri-not-implemented-and-external-scripts-not-loaded-securely"},
	} {
		if tr, _ := sriTest("text/html; charset=utf-8", []byte(c.body), page); tr.Result != c.want {
			t.Errorf("%s: %s, want %s", c.body, tr.Result, c.want)
		}
	}
	if tr, _ := sriTest("application/json", []byte(`<script src="//x/a.js">`), page); tr.Result != "sri-not-implemented-response-not-html" {
		t.Errorf("json: %s", tr.Result)
	}
}

// TestSRI_ProtocolRelativeScript: "//cdn/x.js" on a page reached over HTTP
// loads the script over HTTP; the Observatory counts it as insecure.
func TestSRI_ProtocolRelativeScript(t *testing.T) {
	_, fs := sriTest("text/html", []byte(`<script src="//cdn.example.net/x.js"></script>`), mustURL("https://example.com/"))
	if !hasID(fs, "script-insecure") {
		t.Errorf("not reported: %+v", fs)
	}
}
