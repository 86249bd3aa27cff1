package csp

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Severity says whether a Finding makes a policy unusable (Error) or only
// weaker than it looks (Warning).
type Severity int

const (
	// Warning: the policy works but is weaker than intended, or part of it
	// is ignored by browsers.
	Warning Severity = iota
	// Error: the policy does not mean what was written (a typo, an unquoted
	// keyword, a malformed hash); configuration loading must fail.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Finding is one problem found by Check, as data for the caller to place:
// secheaders reports it on the configuration field the directive came
// from. Directive is the directive it is about (lower case; "" for the
// policy as a whole), Message what is wrong, Hint, when set, how to fix it.
type Finding struct {
	Severity  Severity
	Directive string
	Message   string
	Hint      string
}

// kind is the grammar of a directive's values.
type kind int

const (
	kindSources   kind = iota // fetch directives, base-uri, form-action: source lists
	kindAncestors             // frame-ancestors: ancestor-source-list (no keywords but 'self'/'none')
	kindNone                  // no value (upgrade-insecure-requests)
	kindSandbox               // sandbox tokens
	kindURIs                  // report-uri
	kindToken                 // report-to
	kindAny                   // trusted-types and friends: not checked further
)

var directives = map[string]kind{
	"default-src": kindSources, "script-src": kindSources, "script-src-elem": kindSources,
	"script-src-attr": kindSources, "style-src": kindSources, "style-src-elem": kindSources,
	"style-src-attr": kindSources, "img-src": kindSources, "font-src": kindSources,
	"connect-src": kindSources, "media-src": kindSources, "object-src": kindSources,
	"frame-src": kindSources, "child-src": kindSources, "worker-src": kindSources,
	"manifest-src": kindSources, "fenced-frame-src": kindSources,
	"base-uri": kindSources, "form-action": kindSources,
	"frame-ancestors":           kindAncestors,
	"upgrade-insecure-requests": kindNone,
	"sandbox":                   kindSandbox,
	"report-uri":                kindURIs,
	"report-to":                 kindToken,
	"require-trusted-types-for": kindAny,
	"trusted-types":             kindAny,
	"webrtc":                    kindAny,
}

// deprecated directives: accepted by Check with a warning and the reason.
var deprecated = map[string]string{
	"block-all-mixed-content": "deprecated; use upgrade-insecure-requests",
	"prefetch-src":            "removed from CSP and ignored by browsers",
	"plugin-types":            "removed from CSP and ignored by browsers; use object-src 'none'",
	"navigate-to":             "removed from CSP and ignored by browsers",
	"referrer":                "removed from CSP; use the Referrer-Policy header",
	"reflected-xss":           "removed from CSP; use script-src",
	"require-sri-for":         "never shipped by browsers",
}

// keywords are the quoted keyword sources of CSP Level 3.
var keywords = map[string]bool{
	"'self'": true, "'none'": true, "'unsafe-inline'": true, "'unsafe-eval'": true,
	"'strict-dynamic'": true, "'unsafe-hashes'": true, "'report-sample'": true,
	"'wasm-unsafe-eval'": true, "'unsafe-allow-redirects'": true,
	"'inline-speculation-rules'": true, "'trusted-types-eval'": true,
}

var sandboxTokens = map[string]bool{
	"allow-downloads": true, "allow-forms": true, "allow-modals": true,
	"allow-orientation-lock": true, "allow-pointer-lock": true, "allow-popups": true,
	"allow-popups-to-escape-sandbox": true, "allow-presentation": true,
	"allow-same-origin": true, "allow-scripts": true, "allow-storage-access-by-user-activation": true,
	"allow-top-navigation": true, "allow-top-navigation-by-user-activation": true,
	"allow-top-navigation-to-custom-protocols": true,
}

// scriptLike directives are those where a permissive source amounts to
// script execution.
var scriptLike = map[string]bool{
	"script-src": true, "script-src-elem": true, "script-src-attr": true,
	"default-src": true, "object-src": true, "worker-src": true,
}

// Check validates p and returns its findings, errors first in directive order.
// It knows the CSP Level 3 directives and source grammar, and flags:
//
//   - unknown directives (a typo silently enforces nothing) and deprecated ones;
//   - a directive given twice (browsers ignore all but the first);
//   - unquoted keywords such as self (a host named "self"), unknown quoted
//     keywords, malformed nonce and hash sources;
//   - 'none' next to other sources (the other sources win, 'none' is ignored);
//   - 'unsafe-inline' next to a nonce or hash (ignored by CSP2+ browsers, so
//     it only helps old ones), 'unsafe-eval', the wildcard *, data: or http:
//     in script directives, and a static nonce (a nonce must be per response);
//   - missing object-src and base-uri (plugins and <base> injection are not
//     covered by default-src / not covered at all).
func Check(p Policy) []Finding {
	var errs, warns []Finding
	add := func(sev Severity, dir, msg, hint string) {
		f := Finding{Severity: sev, Directive: dir, Message: msg, Hint: hint}
		if sev == Error {
			errs = append(errs, f)
		} else {
			warns = append(warns, f)
		}
	}
	seen := map[string]bool{}
	for _, d := range p.Directives {
		if seen[d.Name] {
			add(Warning, d.Name, "given more than once; browsers use only the first", "merge the values into one directive")
			continue
		}
		seen[d.Name] = true
		if why, ok := deprecated[d.Name]; ok {
			add(Warning, d.Name, why, "")
			continue
		}
		k, ok := directives[d.Name]
		if !ok {
			add(Error, d.Name, "unknown directive", suggestDirective(d.Name))
			continue
		}
		checkValues(d, k, add)
	}
	defaultNone := false
	if v, ok := p.Get("default-src"); ok && len(v) == 1 && v[0] == "'none'" {
		defaultNone = true
	}
	if !seen["object-src"] && !defaultNone {
		add(Warning, "object-src", "missing; plugins (<object>, <embed>) fall back to default-src", "add object-src 'none'")
	}
	if !seen["base-uri"] {
		add(Warning, "base-uri", "missing; an injected <base> tag can redirect relative script URLs (default-src does not cover it)", "add base-uri 'self' (or 'none')")
	}
	return append(errs, warns...)
}

func checkValues(d Directive, k kind, add func(Severity, string, string, string)) {
	switch k {
	case kindNone:
		if len(d.Values) > 0 {
			add(Error, d.Name, "takes no value", "remove "+strings.Join(d.Values, " "))
		}
		return
	case kindSandbox:
		for _, v := range d.Values {
			if !sandboxTokens[strings.ToLower(v)] {
				add(Error, d.Name, fmt.Sprintf("unknown sandbox flag %q", v), "")
			}
		}
		return
	case kindURIs:
		if len(d.Values) == 0 {
			add(Error, d.Name, "needs at least one URI", "")
		}
		add(Warning, d.Name, "deprecated in favour of report-to", "keep it for Firefox and Safari, and add report-to")
		return
	case kindToken:
		if len(d.Values) != 1 {
			add(Error, d.Name, "takes exactly one endpoint name", "")
		}
		return
	case kindAny:
		return
	}
	if len(d.Values) == 0 {
		add(Error, d.Name, "has no source; an empty list means 'none'", "write 'none' explicitly")
		return
	}
	var hasNone, hasInline, hasNonceOrHash bool
	for _, v := range d.Values {
		lv := strings.ToLower(v)
		switch {
		case lv == "'none'":
			hasNone = true
		case lv == "'unsafe-inline'":
			hasInline = true
		case strings.HasPrefix(lv, "'nonce-"):
			hasNonceOrHash = true
		case strings.HasPrefix(lv, "'sha256-"), strings.HasPrefix(lv, "'sha384-"), strings.HasPrefix(lv, "'sha512-"):
			hasNonceOrHash = true
		}
		checkSource(d.Name, k, v, add)
	}
	if hasNone && len(d.Values) > 1 {
		add(Warning, d.Name, "'none' is ignored when other sources are listed", "remove 'none' or the other sources")
	}
	if hasInline && hasNonceOrHash {
		add(Warning, d.Name, "'unsafe-inline' is ignored by browsers when a nonce or hash is present", "remove 'unsafe-inline' (it only affects browsers without CSP Level 2)")
	} else if hasInline && scriptLike[d.Name] {
		add(Warning, d.Name, "'unsafe-inline' allows injected inline scripts and event handlers, which defeats XSS protection", "use per-response nonces or hashes instead")
	}
}

func checkSource(dir string, k kind, v string, add func(Severity, string, string, string)) {
	lv := strings.ToLower(v)
	if strings.HasPrefix(v, "'") {
		if len(v) < 3 || !strings.HasSuffix(v, "'") {
			add(Error, dir, fmt.Sprintf("unterminated quoted source %q", v), "")
			return
		}
		switch {
		case strings.HasPrefix(lv, "'nonce-"):
			if k == kindAncestors {
				add(Error, dir, "nonces are not allowed here", "")
				return
			}
			val := v[len("'nonce-") : len(v)-1]
			if !isBase64Value(val) {
				add(Error, dir, fmt.Sprintf("malformed nonce %q: not base64", v), "")
			} else if len(val) < 22 {
				add(Error, dir, fmt.Sprintf("nonce %q is shorter than 128 bits", v), "")
			} else {
				add(Warning, dir, "a nonce written in the configuration is the same on every response, so an attacker can reuse it", "remove it, and use a fresh nonce per response instead")
			}
			return
		case strings.HasPrefix(lv, "'sha256-"), strings.HasPrefix(lv, "'sha384-"), strings.HasPrefix(lv, "'sha512-"):
			if k == kindAncestors {
				add(Error, dir, "hashes are not allowed here", "")
				return
			}
			checkHash(dir, v, add)
			return
		}
		if !keywords[lv] {
			add(Error, dir, fmt.Sprintf("unknown keyword %s", v), "")
			return
		}
		if k == kindAncestors && lv != "'self'" && lv != "'none'" {
			add(Error, dir, fmt.Sprintf("%s is not allowed here; only 'self', 'none', schemes and hosts", v), "")
			return
		}
		if lv == "'unsafe-eval'" {
			add(Warning, dir, "'unsafe-eval' allows eval() and new Function(), a common XSS sink", "remove it, or use 'wasm-unsafe-eval' if only WebAssembly needs it")
		}
		return
	}
	if keywords["'"+lv+"'"] || strings.HasPrefix(lv, "nonce-") || strings.HasPrefix(lv, "sha256-") ||
		strings.HasPrefix(lv, "sha384-") || strings.HasPrefix(lv, "sha512-") {
		add(Error, dir, fmt.Sprintf("unquoted %s is read as a host name", v), "write '"+v+"'")
		return
	}
	if v == "*" {
		add(Warning, dir, "the wildcard * allows any host", "list the hosts you need")
		return
	}
	if strings.HasSuffix(v, ":") && !strings.Contains(v, "/") {
		scheme := lv[:len(lv)-1]
		if !isScheme(scheme) {
			add(Error, dir, fmt.Sprintf("malformed scheme source %q", v), "")
			return
		}
		if scriptLike[dir] && (scheme == "data" || scheme == "http" || scheme == "https" || scheme == "blob") {
			add(Warning, dir, fmt.Sprintf("%s allows scripts from any %s URL", v, scheme), "list the hosts you need")
		} else if scheme == "http" {
			add(Warning, dir, "http: allows cleartext loads", "use https:")
		}
		return
	}
	if !isHostSource(v) {
		add(Error, dir, fmt.Sprintf("malformed source expression %q", v), "quote keywords ('self'), or give scheme://host[:port][/path]")
	}
}

func checkHash(dir, v string, add func(Severity, string, string, string)) {
	alg, val, _ := strings.Cut(v[1:len(v)-1], "-")
	want := map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}[strings.ToLower(alg)]
	b, err := base64.StdEncoding.DecodeString(val)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(val, "="))
	}
	if err != nil {
		add(Error, dir, fmt.Sprintf("malformed hash %q: not base64", v), "")
		return
	}
	if len(b) != want {
		add(Error, dir, fmt.Sprintf("malformed hash %q: %d bytes, %s needs %d", v, len(b), alg, want), "")
	}
}

// isBase64Value: base64-value = 1*( ALPHA / DIGIT / "+" / "/" / "-" / "_" )*2( "=" ).
func isBase64Value(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" || len(s)-len(t) > 2 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isHostSource checks host-source = [ scheme "://" ] host [ ":" port ] [ path ].
func isHostSource(v string) bool {
	rest := v
	if i := strings.Index(rest, "://"); i >= 0 {
		if !isScheme(strings.ToLower(rest[:i])) {
			return false
		}
		rest = rest[i+3:]
	}
	host, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	if h, port, ok := strings.Cut(host, ":"); ok {
		host = h
		if port != "*" {
			if port == "" {
				return false
			}
			for i := 0; i < len(port); i++ {
				if port[i] < '0' || port[i] > '9' {
					return false
				}
			}
		}
	}
	if host == "*" {
		return true
	}
	host = strings.TrimPrefix(host, "*.")
	if host == "" {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c == ';' || c == ',' || c == '\'' || c >= 0x7f {
			return false
		}
	}
	return true
}

func suggestDirective(name string) string {
	best, bestD := "", 3
	for known := range directives {
		if d := editDistance(name, known); d < bestD || d == bestD && best != "" && known < best {
			best, bestD = known, d
		}
	}
	if best == "" {
		return "see https://www.w3.org/TR/CSP3/#csp-directives"
	}
	return "did you mean " + best + "?"
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
