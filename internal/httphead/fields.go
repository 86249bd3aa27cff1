// Package httphead parses the header fields of HTTP/1.1 messages of the
// simplest kind, as net/textproto does, for parsers that take the simple
// messages themselves and leave the rest to net/http: the lane's request
// heads (internal/listen) and the proxy's upstream response heads
// (proxy). It never decides that a message is malformed; it only says
// that a line is not simple.
package httphead

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Fields is a parse of the field lines of s, which holds them and the
// empty line that ends them, every line ending in CRLF.
type Fields struct {
	s    string
	n    int // the lines, the empty one aside
	slab []string
	key  [maxName]byte
}

// maxName is the longest field name Next parses.
const maxName = 64

// Start returns the fields of s and how many lines they are, the empty
// one aside; false when s is not lines ending in CRLF up to an empty one.
func Start(s string) (Fields, int, bool) {
	n := strings.Count(s, "\r\n") - 1
	if n < 0 || !strings.HasSuffix(s, "\r\n\r\n") && s != "\r\n" {
		return Fields{}, 0, false
	}
	return Fields{s: s, n: n}, n, true
}

// Next parses the next field as net/textproto.ReadMIMEHeader would: its
// name canonical (interned when it is a common one), its value without
// the spaces and tabs around it and a part of s. done is true at the
// empty line; ok is false for a line that is not simple: a name that is
// empty, longer than 64 bytes or not a token, no colon, a value byte that
// is neither printable ASCII nor a tab, a folded line.
func (f *Fields) Next() (name, value string, done, ok bool) {
	if f.s == "\r\n" {
		return "", "", true, true
	}
	eol := strings.Index(f.s, "\r\n")
	line := f.s[:eol]
	f.s = f.s[eol+2:]
	colon := strings.IndexByte(line, ':')
	if colon <= 0 || colon > maxName {
		return "", "", false, false
	}
	key := f.key[:colon]
	upper := true
	for i := range colon {
		c := line[i]
		if !tokenByte[c] {
			return "", "", false, false
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		key[i] = c
		upper = c == '-'
	}
	v := line[colon+1:]
	if !Text(v) {
		return "", "", false, false
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	name, common := commonNames[string(key)]
	if !common {
		name = string(key)
	}
	return name, v, false, true
}

// Text reports whether s is printable ASCII and tabs only: what Next
// takes in a value (net/http takes more, and is left what is more).
func Text(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// Add adds value to h under name as textproto does: a name's first value
// in a slice of a slab allocated once for the message's fields.
func (f *Fields) Add(h http.Header, name, value string) {
	if vv := h[name]; vv != nil {
		h[name] = append(vv, value)
		return
	}
	if f.slab == nil {
		f.slab = make([]string, f.n)
	}
	var vv []string
	vv, f.slab = f.slab[:1:1], f.slab[1:]
	vv[0] = value
	h[name] = vv
}

// FixPragma is net/http's fixPragmaCacheControl: "Pragma: no-cache"
// without a Cache-Control is "Cache-Control: no-cache".
func FixPragma(h http.Header) {
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}

// tokenByte says which bytes a field name may hold (httpguts.IsTokenRune).
var tokenByte = func() (t [256]bool) {
	for c := range 128 {
		t[c] = httpguts.IsTokenRune(rune(c))
	}
	return t
}()

// commonNames interns the canonical names of the fields requests and
// responses carry most, so that parsing them allocates no name.
var commonNames = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		// Requests.
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Type", "Cookie", "Dnt", "Forwarded", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Fetch-User", "Sec-Gpc", "Te", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"X-Requested-With", "Content-Length", "Transfer-Encoding",
		// Responses.
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Security-Policy", "Date", "Etag",
		"Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Referrer-Policy",
		"Server", "Set-Cookie", "Strict-Transport-Security", "Trailer", "Vary",
		"X-Content-Type-Options", "X-Frame-Options", "X-Powered-By",
	} {
		m[k] = k
	}
	return m
}()
