package check

import (
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/safe"
)

// SetCookie is one parsed Set-Cookie header line: only what a security
// audit needs.
type SetCookie struct {
	Name     string
	Secure   bool
	HttpOnly bool
	// SameSite is the attribute's value as sent ("" when absent).
	SameSite    string
	HasSameSite bool
	Domain      string
	Path        string
}

// ParseSetCookie parses a Set-Cookie line leniently, the way browsers do
// (RFC 6265 §5.2): the name is what precedes the first '=', attributes are
// matched case-insensitively, unknown attributes are ignored. ok is false
// when there is no name=value pair, in which case a browser drops the line.
func ParseSetCookie(line string) (c SetCookie, ok bool) {
	parts := strings.Split(line, ";")
	name, _, hasEq := strings.Cut(parts[0], "=")
	name = strings.TrimSpace(name)
	if !hasEq || name == "" {
		return SetCookie{}, false
	}
	c.Name = name
	for _, a := range parts[1:] {
		k, v, _ := strings.Cut(a, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch k {
		case "secure":
			c.Secure = true
		case "httponly":
			c.HttpOnly = true
		case "samesite":
			c.SameSite, c.HasSameSite = v, true
		case "domain":
			c.Domain = v
		case "path":
			c.Path = v
		}
	}
	return c, true
}

// observatorySession is the Observatory's test for a session cookie: the
// name contains "login" or "sess".
func observatorySession(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "login") || strings.Contains(n, "sess")
}

// sessionLike widens that test for rampart's own findings: JWT and token
// cookies (access_token_cookie, refresh_token, jwt, auth, sid) are
// credentials too, and script must not read them.
func sessionLike(name string) bool {
	n := strings.ToLower(name)
	if strings.Contains(n, "csrf") || strings.Contains(n, "xsrf") {
		// Double-submit CSRF tokens are meant to be read by script.
		return false
	}
	if observatorySession(n) {
		return true
	}
	for _, k := range []string{"token", "jwt", "auth", "sid", "remember"} {
		if strings.Contains(n, k) {
			return true
		}
	}
	return false
}

// cookieOrder is the Observatory's "goodness" list for cookies, best to
// worst; a later outcome replaces an earlier one.
var cookieOrder = []string{
	"cookies-without-secure-flag-but-protected-by-hsts",
	"cookies-without-secure-flag",
	"cookies-session-without-secure-flag-but-protected-by-hsts",
	"cookies-samesite-flag-invalid",
	"cookies-anticsrf-without-samesite-flag",
	"cookies-session-without-httponly-flag",
	"cookies-session-without-secure-flag",
}

// worseIn returns whichever of two outcomes comes later in order (the
// Observatory's lists run from best to worst); "" is no outcome yet.
func worseIn(order []string, newR, oldR string) string {
	if oldR == "" || slices.Index(order, newR) > slices.Index(order, oldR) {
		return newR
	}
	return oldR
}

func worse(newR, oldR string) string { return worseIn(cookieOrder, newR, oldR) }

// observatoryCookies follows mdn/mdn-http-observatory
// src/analyzer/tests/cookies.js. hsts is whether the HSTS test passed.
func observatoryCookies(lines []string, hsts bool) string {
	result := ""
	var cookies []SetCookie
	for _, l := range lines {
		c, ok := ParseSetCookie(l)
		if !ok {
			continue
		}
		if c.HasSameSite {
			v := strings.ToLower(c.SameSite)
			if v != "lax" && v != "strict" && v != "none" {
				result = worse("cookies-samesite-flag-invalid", result)
			}
		}
		if c.Name == "heroku-session-affinity" {
			continue
		}
		cookies = append(cookies, c)
	}
	if len(cookies) == 0 {
		// The Observatory reports no cookies even when a malformed SameSite
		// was seen on a line it could not store.
		return "cookies-not-found"
	}
	missingSameSite := false
	for _, c := range cookies {
		n := strings.ToLower(c.Name)
		session := observatorySession(n)
		ss := strings.ToLower(c.SameSite)
		validSS := c.HasSameSite && (ss == "lax" || ss == "strict" || ss == "none")
		if !c.Secure && validSS && ss == "none" {
			result = worse("cookies-samesite-flag-invalid", result)
		}
		if !c.Secure && hsts {
			result = worse("cookies-without-secure-flag-but-protected-by-hsts", result)
		} else if !c.Secure {
			result = worse("cookies-without-secure-flag", result)
		}
		if strings.Contains(n, "csrf") && !validSS {
			result = worse("cookies-anticsrf-without-samesite-flag", result)
		}
		if session && !c.Secure && hsts {
			result = worse("cookies-session-without-secure-flag-but-protected-by-hsts", result)
		} else if session && !c.Secure {
			result = worse("cookies-session-without-secure-flag", result)
		}
		if session && !c.HttpOnly {
			result = worse("cookies-session-without-httponly-flag", result)
		}
		if !validSS {
			missingSameSite = true
		}
	}
	if result == "" {
		if missingSameSite {
			return "cookies-secure-with-httponly-sessions"
		}
		return "cookies-secure-with-httponly-sessions-and-samesite"
	}
	return result
}

// cookieFindings is rampart's per-cookie analysis, stricter than the score.
func cookieFindings(lines []string) []Finding {
	var fs []Finding
	add := func(id string, sev Severity, c SetCookie, title, fix string) {
		fs = append(fs, Finding{ID: id, Category: CategoryCookies, Severity: sev,
			Title: "cookie " + c.Name + ": " + title, Fix: fix})
	}
	for _, l := range lines {
		c, ok := ParseSetCookie(l)
		if !ok {
			continue
		}
		sess := sessionLike(c.Name)
		if !c.Secure {
			sev := Warning
			if sess {
				sev = Error
			}
			add("cookie-no-secure", sev, c, "no Secure attribute: sent over plain HTTP too",
				"add Secure (and prefer the __Host- prefix for session cookies)")
		}
		if sess && !c.HttpOnly {
			add("cookie-no-httponly", Error, c, "session-like cookie readable by script (no HttpOnly)",
				"add HttpOnly so an XSS cannot steal the session")
		}
		ss := strings.ToLower(c.SameSite)
		switch {
		case !c.HasSameSite:
			add("cookie-no-samesite", Warning, c, "no SameSite attribute",
				"add SameSite=Lax (or Strict) so cross-site requests do not carry it")
		case ss == "none" && !c.Secure:
			add("cookie-samesite-none-insecure", Error, c, "SameSite=None without Secure is rejected by browsers",
				"use SameSite=Lax, or add Secure if cross-site use is really needed")
		case ss != "lax" && ss != "strict" && ss != "none":
			add("cookie-samesite-invalid", Warning, c, "SameSite="+safe.Clean(c.SameSite, 20)+" is not Strict, Lax or None",
				"use SameSite=Lax or SameSite=Strict")
		}
		if strings.HasPrefix(c.Name, "__Host-") && (!c.Secure || c.Domain != "" || c.Path != "/") {
			add("cookie-host-prefix-invalid", Error, c, "__Host- cookie without Secure, Path=/ and no Domain: browsers reject it",
				"set Secure and Path=/, and remove Domain")
		} else if strings.HasPrefix(c.Name, "__Secure-") && !c.Secure {
			add("cookie-secure-prefix-invalid", Error, c, "__Secure- cookie without Secure: browsers reject it",
				"add Secure")
		} else if sess && c.Secure && !strings.HasPrefix(c.Name, "__Host-") && !strings.HasPrefix(c.Name, "__Secure-") {
			add("cookie-no-prefix", Info, c, "session-like cookie without the __Host- prefix",
				"name it __Host-"+c.Name+" (with Path=/ and no Domain) so a subdomain cannot overwrite it")
		}
	}
	return fs
}
