package ratelimit

import (
	"path"
	"strings"
)

// normalPath returns the path rules are matched against: the decoded path
// (net/http has already turned "%2e%2e" into ".." and "%2f" into "/" in
// URL.Path), rooted, with "//", "/./" and "/../" resolved by path.Clean.
// An upstream that resolves dot segments itself would otherwise serve
// "/static/../api/login" as "/api/login" while a raw prefix match saw
// "/static/". path.Clean does not allocate when the path is already clean.
//
// Not handled, because the upstreams rampart fronts do not do it: "\" as a
// separator, ";param" segments, case-insensitive paths, double decoding.
func normalPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// matchPrefix reports whether the normalised path p falls under prefix.
// path.Clean strips a trailing slash, so a prefix "/api/" also matches
// p == "/api": limiting the bare directory too errs on the safe side.
func matchPrefix(p, prefix string) bool {
	if strings.HasPrefix(p, prefix) {
		return true
	}
	return len(p)+1 == len(prefix) && prefix[len(p)] == '/' && strings.HasPrefix(prefix, p)
}
