package check

import (
	"bytes"
	"mime"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/html"

	"github.com/rampart-dev/rampart/safe"
)

// sriOrder is the Observatory's goodness order for subresource-integrity,
// best first; a later outcome replaces an earlier one.
var sriOrder = []string{
	"sri-implemented-and-all-scripts-loaded-securely",
	"sri-implemented-and-external-scripts-loaded-securely",
	"sri-implemented-but-external-scripts-not-loaded-securely",
	"sri-not-implemented-but-external-scripts-loaded-securely",
	"sri-not-implemented-and-external-scripts-not-loaded-securely",
	"sri-not-implemented-response-not-html",
}

func sriWorse(newR, oldR string) string { return worseIn(sriOrder, newR, oldR) }

// sriTest follows subresource-integrity.js on the (capped) body of the
// final response. Each <script src> is same-site (a relative URL, or an
// absolute http(s) URL on the page's registrable domain) or foreign (any
// other, including protocol-relative "//host/x.js"), loaded over a secure
// scheme or not, with or without integrity. The registrable domain is
// approximated by the last two labels of the host (the Observatory uses the
// public suffix list).
func sriTest(contentType string, body []byte, page *url.URL) (TestResult, []Finding) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "text/html" && mt != "application/xhtml+xml" {
		t := test("subresource-integrity", "sri-not-implemented-response-not-html")
		t.Pass = true
		return t, nil
	}
	z := html.NewTokenizer(bytes.NewReader(body))
	result, scripts, foreign := "", 0, false
	var fs []Finding
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if string(name) != "script" {
			continue
		}
		scripts++
		var src, integrity string
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			switch string(k) {
			case "src":
				src = strings.TrimSpace(string(v))
			case "integrity":
				integrity = string(v)
			}
		}
		if src == "" {
			continue
		}
		lower := strings.ToLower(src)
		relativeOrigin, relativeProtocol, sameSite := false, false, false
		scheme := ""
		switch {
		case len(src) > 2 && strings.HasPrefix(src, "//") && src[2] != '/':
			relativeProtocol, sameSite = true, true
		case strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"):
			u, err := url.Parse(src)
			if err == nil {
				sameSite = registrable(u.Hostname()) == registrable(page.Hostname())
				scheme = strings.ToLower(u.Scheme)
			}
		default:
			relativeOrigin, sameSite = true, true
		}
		secureOrigin := relativeOrigin || (sameSite && !relativeProtocol)
		secureScheme := scheme == "https" || (relativeOrigin && page.Scheme == "https")
		if !secureOrigin {
			foreign = true
			switch {
			case integrity != "" && !secureScheme:
				result = sriWorse("sri-implemented-but-external-scripts-not-loaded-securely", result)
				fs = append(fs, Finding{ID: "script-insecure", Category: CategoryHeaders, Severity: Error,
					Title: "external script loaded over HTTP or protocol-relative", Evidence: safe.Clean(src, 120),
					Fix: "load it over https://"})
			case integrity == "" && secureScheme:
				result = sriWorse("sri-not-implemented-but-external-scripts-loaded-securely", result)
				fs = append(fs, Finding{ID: "sri-missing", Category: CategoryHeaders, Severity: Warning,
					Title: "external script without integrity: a compromised CDN runs code here", Evidence: safe.Clean(src, 120),
					Fix: "add integrity=\"sha384-…\" crossorigin=\"anonymous\", or self-host it"})
			case integrity == "":
				result = sriWorse("sri-not-implemented-and-external-scripts-not-loaded-securely", result)
				fs = append(fs, Finding{ID: "script-insecure", Category: CategoryHeaders, Severity: Error,
					Title: "external script loaded over HTTP (or protocol-relative) without integrity", Evidence: safe.Clean(src, 120),
					Fix: "load it over https:// with integrity, or self-host it"})
			}
		} else if integrity != "" && secureScheme && result == "" {
			result = "sri-implemented-and-all-scripts-loaded-securely"
		}
	}
	switch {
	case scripts == 0:
		result = "sri-not-implemented-but-no-scripts-loaded"
	case result == "" && foreign:
		result = "sri-implemented-and-external-scripts-loaded-securely"
	case result == "":
		result = "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
	}
	t := test("subresource-integrity", result)
	t.Pass = t.Modifier >= 0
	return t, fs
}

// registrable approximates the registrable domain by the last two labels.
// An IP address has none (the Observatory's tldts returns null for it, so
// two IP hosts compare equal).
func registrable(host string) string {
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	if len(labels) <= 2 {
		return strings.Join(labels, ".")
	}
	return strings.Join(labels[len(labels)-2:], ".")
}
