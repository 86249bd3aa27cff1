package reqpath

import (
	"fmt"
	"strings"
)

// Prefix is a path prefix, matched on canonical paths segment by segment
// and ignoring ASCII case: "/api" and "/api/" both match "/api", "/API/x"
// and "/api/x/y", never "/apiary". It is the only meaning of "prefix" in
// rampart: rate-limit rules, header routes and streamed-body paths all use
// it, so a path falls under a rule in one stage exactly when it does in
// every other.
//
// Matching ignores case so that an application that ignores case (Express
// by default, ASP.NET, IIS) cannot serve /ADMIN outside the rule written
// for /admin. For one that does not, a Policy given the prefixes refuses
// the paths that match only when case is ignored, so both kinds of
// application agree with rampart. The zero Prefix is the root, which
// matches every path.
type Prefix struct {
	p    string // canonical, lower-case ASCII, no trailing slash; "" is the root
	orig string // the same in the case it was written
}

// ParsePrefix returns the Prefix for s, which must be an absolute path that
// Canonical accepts (no dot segments, encoded slashes, backslashes,
// semicolons or control characters) and has no query or fragment. Percent
// escapes are decoded, so "/caf%C3%A9" and "/café" are the same prefix.
func ParsePrefix(s string) (Prefix, error) {
	if s == "" || s[0] != '/' {
		return Prefix{}, fmt.Errorf("%q must be an absolute path starting with /", s)
	}
	if strings.ContainsAny(s, "?#") {
		return Prefix{}, fmt.Errorf("%q must be a path, without query or fragment", s)
	}
	c, err := Canonical(escapeRaw(s))
	if err != nil {
		return Prefix{}, fmt.Errorf("%q is not a plain path (%s): write it as a browser would send it", s, ReasonOf(err))
	}
	c = strings.TrimSuffix(c, "/")
	return Prefix{p: lowerASCII(c), orig: c}, nil
}

// MustParsePrefix is ParsePrefix for prefixes known to be valid; it panics
// on an error.
func MustParsePrefix(s string) Prefix {
	p, err := ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

// escapeRaw turns the bytes a browser would escape (non-ASCII, space) into
// escapes, so a prefix written with UTF-8 or spaces goes through the same
// decoding as a request path.
func escapeRaw(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)+8), s[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b == nil {
		return s
	}
	return string(b)
}

// String is the prefix as matched: "/" for the root, else without a
// trailing slash.
func (p Prefix) String() string {
	if p.p == "" {
		return "/"
	}
	return p.p
}

// Len is the length of the prefix, to order prefixes longest first.
func (p Prefix) Len() int { return len(p.p) }

// Match reports whether the canonical path falls under p, ignoring ASCII
// case.
func (p Prefix) Match(path string) bool {
	n := len(p.p)
	if n == 0 {
		return true
	}
	if len(path) < n || !equalFoldASCII(path[:n], p.p) {
		return false
	}
	return len(path) == n || path[n] == '/'
}

// matchCase reports whether path falls under p with case compared.
func (p Prefix) matchCase(path string) bool {
	n := len(p.orig)
	return n == 0 || len(path) >= n && path[:n] == p.orig && (len(path) == n || path[n] == '/')
}

// equalFoldASCII compares s with the lower-case t, folding ASCII letters
// of s only: Unicode case folding would let "\u212a" (the Kelvin sign)
// match "k", a folding no router does.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Longest returns the index of the longest prefix in ps that matches path,
// or -1. Ties go to the first.
func Longest(ps []Prefix, path string) int {
	best := -1
	for i, p := range ps {
		if p.Match(path) && (best < 0 || p.Len() > ps[best].Len()) {
			best = i
		}
	}
	return best
}
