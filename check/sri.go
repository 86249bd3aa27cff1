package check

import (
	"bytes"
	"mime"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// sriOrder is the Observatory's goodness order for subresource-integrity,
// best first; a later outcome replaces an earlier one.
var sriOrder = []string{
	"sri-implemented-and-all-scripts-loaded-securely",
	"sri-implemented-and-external-scripts-loaded-securely",
	"sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
	"sri-not-implemented-but-external-scripts-loaded-securely",
	"sri-implemented-but-external-scripts-not-loaded-securely",
	"sri-not-implemented-and-external-scripts-not-loaded-securely",
}

func sriWorse(newR, oldR string) string {
	idx := func(r string) int {
		for i, x := range sriOrder {
			if x == r {
				return i
			}
		}
		return -1
	}
	if oldR == "" || idx(newR) > idx(oldR) {
		return newR
	}
	return oldR
}

// sriTest follows subresource-integrity.js on the (capped) body of the
// final response: every <script src> is classified as same-site or
// external, loaded securely or not, with or without integrity. Same-site
// is "same registrable domain", approximated by the last two labels of the
// host (the Observatory consults the public suffix list).
func sriTest(contentType string, body []byte, page *url.URL) (TestResult, []Finding) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "text/html" && mt != "application/xhtml+xml" {
		t := test("subresource-integrity", "sri-not-implemented-response-not-html")
		t.Pass = true
		return t, nil
	}
	z := html.NewTokenizer(bytes.NewReader(body))
	result, scripts := "", 0
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
		if string(name) != "script" || !hasAttr {
			continue
		}
		var src, integrity string
		for {
			k, v, more := z.TagAttr()
			switch string(k) {
			case "src":
				src = strings.TrimSpace(string(v))
			case "integrity":
				integrity = string(v)
			}
			if !more {
				break
			}
		}
		if src == "" {
			continue
		}
		scripts++
		u, err := url.Parse(src)
		if err != nil {
			continue
		}
		relativeOrigin := u.Scheme == "" && u.Host == ""
		protocolRelative := u.Scheme == "" && u.Host != ""
		sameSite := relativeOrigin || registrable(u.Hostname()) == registrable(page.Hostname())
		secure := u.Scheme == "https" || (relativeOrigin && page.Scheme == "https")
		_ = protocolRelative // protocol-relative URLs are not secure: secure is false for them
		switch {
		case integrity != "" && !sameSite && secure:
			result = sriWorse("sri-implemented-and-external-scripts-loaded-securely", result)
		case integrity != "" && !sameSite:
			result = sriWorse("sri-implemented-but-external-scripts-not-loaded-securely", result)
		case integrity == "" && !sameSite && secure:
			result = sriWorse("sri-not-implemented-but-external-scripts-loaded-securely", result)
			fs = append(fs, Finding{ID: "sri-missing", Category: CategoryHeaders, Severity: Warning,
				Title: "external script without integrity: a compromised CDN runs code here", Evidence: truncate(src, 120),
				Fix: "add integrity=\"sha384-…\" crossorigin=\"anonymous\", or self-host it"})
		case integrity == "" && !sameSite:
			result = sriWorse("sri-not-implemented-and-external-scripts-not-loaded-securely", result)
			fs = append(fs, Finding{ID: "script-insecure", Category: CategoryHeaders, Severity: Error,
				Title: "external script loaded over HTTP (or protocol-relative) without integrity", Evidence: truncate(src, 120),
				Fix: "load it over https:// with integrity, or self-host it"})
		case integrity != "":
			result = sriWorse("sri-implemented-and-all-scripts-loaded-securely", result)
		}
	}
	switch {
	case scripts == 0:
		result = "sri-not-implemented-but-no-scripts-loaded"
	case result == "":
		result = "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
	}
	t := test("subresource-integrity", result)
	t.Pass = t.Modifier >= 0
	return t, fs
}

func registrable(host string) string {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	if len(labels) <= 2 {
		return strings.Join(labels, ".")
	}
	return strings.Join(labels[len(labels)-2:], ".")
}
