package accesslog

import (
	"net/url"
	"strings"
)

// Redacted replaces every query value not explicitly kept.
const Redacted = "REDACTED"

// maxQueryPairs bounds the work on one query string; further pairs are
// summarised as "…".
const maxQueryPairs = 64

// RedactQuery returns raw (a URL query without '?') with the value of
// every parameter replaced by REDACTED, except parameters whose decoded
// name is in keep. Parameter names, separators and their order are kept,
// so the line still says what was asked.
//
// Fail-safe choices: both '&' and ';' separate parameters (some backends
// still split on ';', and "keep=a;token=s" must not log the token as part
// of a kept value); a bare element without '=' ("?s3cr3t") is redacted
// unless its name is kept, since some applications put a token there; a
// name that does not decode is never kept.
func RedactQuery(raw string, keep []string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw) + 16)
	pairs := 0
	for {
		i := strings.IndexAny(raw, "&;")
		elem := raw
		if i >= 0 {
			elem = raw[:i]
		}
		pairs++
		if pairs > maxQueryPairs {
			b.WriteString("…")
			break
		}
		writeRedactedPair(&b, elem, keep)
		if i < 0 {
			break
		}
		b.WriteByte(raw[i])
		raw = raw[i+1:]
	}
	return b.String()
}

func writeRedactedPair(b *strings.Builder, elem string, keep []string) {
	if elem == "" {
		return
	}
	name, _, hasValue := strings.Cut(elem, "=")
	if kept(name, keep) {
		b.WriteString(elem)
		return
	}
	if !hasValue {
		b.WriteString(Redacted)
		return
	}
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(Redacted)
}

func kept(name string, keep []string) bool {
	if len(keep) == 0 {
		return false
	}
	if strings.ContainsAny(name, "%+") {
		n, err := url.QueryUnescape(name)
		if err != nil {
			return false
		}
		name = n
	}
	for _, k := range keep {
		if k == name {
			return true
		}
	}
	return false
}

// RedactURL returns a Referer-like URL without userinfo or fragment and
// with its query redacted by RedactQuery. It does not require s to parse
// as a URL: a Referer is client input and may be anything.
func RedactURL(s string, keep []string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	base, query, hasQuery := strings.Cut(s, "?")
	if i := strings.Index(base, "://"); i >= 0 {
		auth := base[i+3:]
		end := strings.IndexByte(auth, '/')
		if end < 0 {
			end = len(auth)
		}
		if at := strings.LastIndexByte(auth[:end], '@'); at >= 0 {
			base = base[:i+3] + auth[at+1:]
		}
	}
	if !hasQuery {
		return base
	}
	return base + "?" + RedactQuery(query, keep)
}
