package seclog

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPath is how much of a request path an event keeps.
const maxPath = 1024

// Clean makes a client-chosen value safe to show to whoever reads a log (or
// a report) in a terminal or an editor, and bounds it to max bytes plus the
// '…' that marks a cut. The JSON handler already escapes what could end the
// string or the line (quotes, C0 controls, CR, LF), but passes through the
// C1 controls (U+009B is an 8-bit CSI that some terminals obey), DEL, and
// the format characters among which the bidirectional overrides (U+202E,
// "Trojan Source") that make a line display in another order than it
// reads; and a path can be as long as the header limit allows. Each such
// character, and each byte of invalid UTF-8, becomes '?' (never longer than
// what it replaces); a longer value is cut on a character boundary and
// marked with '…'. Plain printable ASCII within the limit, the common case,
// is returned as is.
func Clean(s string, max int) string {
	if len(s) <= max && printableASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), max) + len("…"))
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
