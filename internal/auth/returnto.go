package auth

import (
	"net/url"
	"strings"

	"github.com/rampart-dev/rampart/reqpath"
)

// maxReturnLen bounds a return path: a longer one is not a page a user
// was reading, and it travels in a query string and a Location header.
const maxReturnLen = 2048

// ReturnPath returns the local path raw names, ready for a Location
// header, and whether raw is one. Only a path on this site is: it starts
// with exactly one "/", has no scheme, host, user or backslash, nothing a
// browser would read as another origin however it is encoded ("//evil",
// "/\evil", "/%2F%2Fevil", "/%5Cevil", "https:evil", tabs and newlines a
// browser strips), and its path is canonical (reqpath) so the page it
// names is the one the rules were checked on. Anything else is refused and
// the caller uses "/": a login form is a classic open redirect.
//
// The fragment is dropped (a browser never sends one); the query is kept
// as the browser sent it.
func ReturnPath(raw string) (string, bool) {
	if raw == "" || len(raw) > maxReturnLen || raw[0] != '/' {
		return "", false
	}
	if len(raw) > 1 && (raw[1] == '/' || raw[1] == '\\') {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		// Browsers strip tab and newline anywhere in a URL and read a
		// backslash as a slash: "/\t/evil" is "//evil" to them.
		if c := raw[i]; c < 0x21 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	path := u.EscapedPath()
	if _, err := reqpath.Canonical(path); err != nil {
		// Encoded slashes, backslashes, dot segments, double encoding:
		// a path rampart would refuse is never a place to send a user.
		return "", false
	}
	if strings.HasPrefix(path, "//") {
		return "", false
	}
	out := path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, true
}
