package accesslog

import (
	"strings"
	"unicode/utf8"
)

// clean clips s to n bytes (see clip) and replaces the characters the JSON
// encoder lets through but that still deceive whoever reads the log in a
// terminal or an editor: DEL, the C1 controls (U+0080–U+009F; U+009B is
// an 8-bit CSI that some terminals obey), and the bidirectional overrides
// and isolates (U+202A–U+202E, U+2066–U+2069, "Trojan Source") that can
// make a line display in a different order than it reads. C0 controls,
// CR, LF, U+2028/U+2029 and invalid UTF-8 are left to the JSON handler,
// which escapes or replaces them. The common case (plain ASCII) costs one
// scan and no allocation.
func clean(s string, n int) string {
	s = clip(s, n)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x7f, 0xc2, 0xe2:
			if needsScrub(s[i:]) {
				return scrub(s)
			}
		}
	}
	return s
}

func deceptive(r rune) bool {
	return r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func needsScrub(s string) bool {
	for _, r := range s {
		if deceptive(r) {
			return true
		}
	}
	return false
}

func scrub(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if deceptive(r) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
