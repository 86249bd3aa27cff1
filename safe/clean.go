package safe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Replacement is what Clean writes in place of each character it
// removes, and of each byte of invalid UTF-8.
//
// Why '?': it is ASCII, so it shows the same in every terminal, editor,
// log viewer and text report (rampart check prints through Clean too), and
// it is never longer than what it replaces, so cleaning can never push a
// value past its bound. U+FFFD would have been the Unicode choice, but it
// is three bytes, and a client can send it as well.
const Replacement = '?'

// CutMark ends a value Clean had to shorten.
const CutMark = "…"

// Clean makes a client-chosen value safe to show to whoever reads a log
// (either stream: the access log and the security log both use it) or a
// report, in a terminal or an editor, and bounds it. It is the one
// implementation of that rule in rampart.
//
// Removed, each replaced by Replacement:
//
//   - control characters (Unicode Cc): C0 including NUL, TAB, CR and LF,
//     DEL, and the C1 controls (U+0080–U+009F; U+009B is an 8-bit CSI
//     that some terminals obey, U+0085 a line break for some readers);
//   - format characters (Unicode Cf): the bidirectional embeddings,
//     overrides and isolates (U+202A–U+202E, U+2066–U+2069, "Trojan
//     Source") and marks (U+200E, U+200F, U+061C) that make a line display
//     in another order than it reads, the zero-width characters (U+200B,
//     U+200C, U+200D, U+2060, U+FEFF) that hide text inside a name or
//     split a keyword a search would look for, soft hyphens and tag
//     characters;
//   - the line and paragraph separators U+2028 and U+2029, which some
//     readers break lines on;
//   - every byte of invalid UTF-8, including overlong encodings
//     ("\xc0\xaf" for '/') and encoded surrogates, and U+FFFD itself, so
//     no reader's repair of bad bytes can differ from another's.
//
// A JSON encoder would escape some of these (CR, LF, C0, U+2028/U+2029),
// but not the C1 controls, DEL or the format characters, and a value that
// is also printed as text (rampart check, a terminal tail) gets no JSON
// escaping at all: removing them here makes the value the same
// everywhere.
//
// The result is at most max bytes long. A value longer than that, once
// cleaned, is cut on a character boundary and ends with CutMark, which
// counts within max (for max below its length, the cut has no mark).
//
// Plain printable ASCII within max, the common case, is returned as is
// after one scan, without allocating; so is any other value that needs no
// change.
func Clean(s string, max int) string {
	if len(s) <= max && printableASCII(s) {
		return s
	}
	return cleanSlow(s, max)
}

// removed reports whether the rune r, decoded from size bytes, is one
// Clean replaces.
func removed(r rune, size int) bool {
	if r == utf8.RuneError {
		return true // invalid UTF-8 (size 1) or U+FFFD itself
	}
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

func cleanSlow(s string, max int) string {
	if max < 0 {
		max = 0
	}
	// A value within the bound that needs no replacement (non-ASCII
	// text, "café") is returned as is.
	if len(s) <= max && !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), max))
	mark := len(CutMark)
	if max < mark {
		mark = 0
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		rm := removed(r, size)
		n := size
		if rm {
			n = 1
		}
		if b.Len()+n+mark > max && !fits(s[i:], max-b.Len()) {
			// The rest does not fit: this is where the cut goes,
			// with room left for the mark.
			if mark > 0 {
				b.WriteString(CutMark)
			}
			return b.String()
		}
		if rm {
			b.WriteByte(Replacement)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// needsCleaning reports whether s holds a character Clean replaces.
func needsCleaning(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if removed(r, size) {
			return true
		}
		i += size
	}
	return false
}

// fits reports whether s, cleaned, takes at most budget bytes. It stops
// as soon as the answer is no.
func fits(s string, budget int) bool {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if removed(r, size) {
			n++
		} else {
			n += size
		}
		if n > budget {
			return false
		}
		i += size
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
