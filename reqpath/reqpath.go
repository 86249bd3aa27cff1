// Package reqpath decides, once per request, which path the request is for,
// in a form that rampart's rules and the application behind it cannot read
// differently; and it matches that path against rule prefixes, the same way
// for every rule (rate limits, header routes, body streaming, and whatever
// else keys on a path).
//
// # Why
//
// A gateway that decides on one reading of a path and forwards another lets
// a client choose which rule applies. The classic case: the gateway decodes
// and cleans "/api/..%2fx" into "/x" (not under the /api/ rate limit) and
// forwards the raw bytes; a WSGI server (Werkzeug, Django, gunicorn) decodes
// %2F into "/" and does not resolve "..", so Flask routes "/api/../x" to its
// /api/<path:p> view, unlimited. The same trick moves a page under a relaxed
// header route ("/admin/..%2fembed/x" gets the framing rules of /embed/),
// and variants of it are on every gateway's CVE list: "..;/" for Tomcat and
// Spring, "\" for IIS and some Node routers, double encoding (%252e) for
// servers that decode twice, overlong UTF-8 (%c0%af) for old decoders.
//
// Instead of guessing how the application reads a path, Canonical refuses
// every request whose path could be read in more than one way, and gives
// one decoded form for all the others. Browsers never send the refused
// forms for a link or a form: they resolve dot segments (also %2e ones),
// turn "\" into "/" in http(s) URLs and send valid UTF-8, so only crafted
// requests are refused. This is the approach of Spring Security's
// StrictHttpFirewall, with which it agrees on what is refused.
//
// # What the application is assumed to do
//
// With a path a Policy accepts, an application routes on the same segments
// rampart matched, whichever of these choices it makes: it decodes each
// percent-escape once (WSGI, Rails, Express, Go's net/http) or not at all;
// it merges repeated slashes (Werkzeug, nginx) or not; it compares paths
// with ASCII case (Flask, Django, Rails, Spring, Go) or without (Express by
// default, ASP.NET, IIS): a path that falls under a rule's prefix only when
// case is ignored is refused, unless Options.CaseInsensitive says the
// application ignores case, and then it is matched that way; it strips
// ";params" from segments (Tomcat, Jetty, Spring) or not, which matters
// only where semicolons are allowed. The path sent to the application is
// the one the client sent, unchanged.
package reqpath

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Reason says why a path was refused.
type Reason uint8

// Reasons a path is ambiguous. Their String is the short name logged.
const (
	// NotOrigin: the request target is not an absolute path ("*", or an
	// authority-form target); only OPTIONS * is legitimate, and it has no
	// path to match.
	NotOrigin Reason = iota + 1
	// EncodedSlash: %2F inside a segment, which WSGI servers decode into a
	// separator and most routers keep as data.
	EncodedSlash
	// Backslash: "\" or %5C, a separator for IIS and some Node routers,
	// data for everyone else.
	Backslash
	// DotSegment: a segment that is "." or "..", spelled plainly, with
	// percent-escapes (%2e) or followed by ";params" ("..;"), which some
	// servers resolve and others do not.
	DotSegment
	// Semicolon: a ";" path parameter, stripped by Java servlet containers
	// and kept by everyone else.
	Semicolon
	// Control: a control character (NUL, CR, LF, DEL, ...) encoded in the
	// path.
	Control
	// DoubleEncoding: an escaped percent sign followed by two hex digits
	// (%252e), which a server decoding twice reads as another character.
	DoubleEncoding
	// InvalidUTF8: the decoded path is not valid UTF-8, which includes the
	// overlong encodings (%c0%af for "/") that old decoders accepted.
	InvalidUTF8
	// CaseVariant: the path falls under one of the Policy's prefixes only
	// when ASCII case is ignored ("/API/x" for a rule on /api/), so an
	// application that ignores case serves it under the rule and one that
	// does not serves it elsewhere.
	CaseVariant
)

var reasonNames = [...]string{
	NotOrigin:      "not_origin_form",
	EncodedSlash:   "encoded_slash",
	Backslash:      "backslash",
	DotSegment:     "dot_segment",
	Semicolon:      "semicolon",
	Control:        "control_character",
	DoubleEncoding: "double_encoding",
	InvalidUTF8:    "invalid_utf8",
	CaseVariant:    "case_variant",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown"
}

// Error is a refused path.
type Error struct {
	Reason Reason
}

func (e *Error) Error() string { return "ambiguous request path: " + e.Reason.String() }

// errs are allocated once: Canonical is on every request's path.
var errs = func() (m [len(reasonNames)]*Error) {
	for i := range m {
		m[i] = &Error{Reason: Reason(i)}
	}
	return m
}()

func fail(r Reason) (string, error) { return "", errs[r] }

// ReasonOf returns the Reason of an error from Canonical, or 0.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return 0
}

// allow lists the relaxations a Policy applies under some prefixes.
type allow uint8

const (
	allowEncodedSlash allow = 1 << iota
	allowSemicolon
)

// Canonical returns the canonical form of the escaped request path
// (url.URL.EscapedPath) under the strict policy: every percent-escape
// decoded, empty segments removed, a trailing slash kept. It returns an
// *Error for a path that could be read in more than one way (see Reason).
//
// A path without percent-escapes, backslashes, semicolons, repeated
// slashes or dot segments, which is nearly every path, is returned as is,
// without allocating.
func Canonical(escaped string) (string, error) {
	return canonical(escaped, nil)
}

func canonical(escaped string, relax func(decoded string) allow) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return fail(NotOrigin)
	}
	if plain(escaped) {
		return escaped, nil
	}
	return slow(escaped, relax)
}

// plain reports whether p is already canonical: no '%', '\\', ';', no
// empty segment and no dot segment.
func plain(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%', '\\', ';':
			return false
		case '/':
			if i+1 < len(p) {
				switch p[i+1] {
				case '/':
					return false
				case '.':
					if dotSegment(p[i+1:]) {
						return false
					}
				}
			}
		default:
			if c < 0x20 || c >= 0x7f {
				return false
			}
		}
	}
	return true
}

// dotSegment reports whether s starts with a segment that is "." or "..".
func dotSegment(s string) bool {
	end := strings.IndexByte(s, '/')
	if end < 0 {
		end = len(s)
	}
	seg := s[:end]
	return seg == "." || seg == ".."
}

// slow decodes and checks p segment by segment. relax, when not nil, says
// which relaxations apply to the strict reading of the path: the one a
// server routes on when it decodes %2F into a separator and strips
// ";params" (both checked against the prefix, so a relaxation granted under
// a prefix cannot be used to leave it).
func slow(p string, relax func(string) allow) (string, error) {
	var (
		out, strict strings.Builder
		buf         [64]byte
		seg         = buf[:0] // the current segment, decoded
		paramAt     = -1      // where its first unescaped ';' is
		sawSlash    bool      // an encoded slash appeared
		sawParams   bool      // an unescaped ';' appeared
	)
	out.Grow(len(p))
	flush := func() error {
		name := seg
		if paramAt >= 0 {
			name = seg[:paramAt]
		}
		if len(seg) == 0 {
			return nil // empty segment ("//"): merged
		}
		if string(name) == "." || string(name) == ".." {
			return errs[DotSegment]
		}
		out.WriteByte('/')
		out.Write(seg)
		// The strict reading: %2F separates, parameters are gone.
		for piece := range strings.SplitSeq(string(name), "/") {
			if piece == "." || piece == ".." {
				return errs[DotSegment]
			}
			if piece != "" {
				strict.WriteByte('/')
				strict.WriteString(piece)
			}
		}
		seg, paramAt = seg[:0], -1
		return nil
	}
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if err := flush(); err != nil {
				return "", err
			}
			continue
		}
		c := p[i]
		switch {
		case c == '\\':
			return fail(Backslash)
		case c == ';':
			if paramAt < 0 {
				paramAt = len(seg)
			}
			sawParams = true
			seg = append(seg, c)
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				// net/http refuses malformed escapes before a handler
				// runs; a caller passing its own string gets the same.
				return fail(InvalidUTF8)
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			switch {
			case d == '/':
				sawSlash = true
			case d == '\\':
				return fail(Backslash)
			case d == '%':
				if i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
					return fail(DoubleEncoding)
				}
				if i+1 < len(p) && p[i+1] == '%' {
					// %25%32%65: a second decoding reads %2e.
					return fail(DoubleEncoding)
				}
			case d < 0x20 || d == 0x7f:
				return fail(Control)
			}
			// An escaped ';' is data everywhere, servlet containers
			// included: they split parameters off before decoding.
			seg = append(seg, d)
		case c < 0x20 || c >= 0x7f:
			// EscapedPath never holds these; a caller's own string may.
			if c < 0x80 {
				return fail(Control)
			}
			seg = append(seg, c)
		default:
			seg = append(seg, c)
		}
	}
	trailing := strings.HasSuffix(p, "/")
	if trailing && out.Len() > 0 {
		out.WriteByte('/')
	}
	res := out.String()
	if res == "" {
		res = "/"
	}
	if !utf8.ValidString(res) {
		return fail(InvalidUTF8)
	}
	if !sawSlash && !sawParams {
		return res, nil
	}
	if trailing && strict.Len() > 0 {
		strict.WriteByte('/')
	}
	sr := strict.String()
	if sr == "" {
		sr = "/"
	}
	var granted allow
	if relax != nil {
		granted = relax(sr)
	}
	if sawSlash && granted&allowEncodedSlash == 0 {
		return fail(EncodedSlash)
	}
	if sawParams && granted&allowSemicolon == 0 {
		return fail(Semicolon)
	}
	// Within a relaxation, rules match the strict reading: the one the
	// servers that treat these characters specially route on, and a
	// superset of the segments the others see.
	return sr, nil
}

func hasDotSegment(p string) bool {
	for s := range strings.SplitSeq(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
