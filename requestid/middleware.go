package requestid

import (
	"crypto/rand"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/safe"
)

// DefaultHeader is the header carrying the request id in both directions.
const DefaultHeader = "X-Request-Id"

// MaxLen is the longest incoming id accepted.
const MaxLen = 128

// Options configures the middleware. The zero value is the safe
// configuration: incoming ids are never trusted, every request gets a
// fresh one.
type Options struct {
	// TrustIncoming reports whether the id a request brings may be kept.
	// Default nil: never, since a client that can choose its id can make
	// its requests look like someone else's in the logs, or hide among
	// them. The gateway passes clientip's Resolver.TrustedPeer, so only an
	// id set by a trusted proxy survives. Even a trusted id must be Valid.
	TrustIncoming func(*http.Request) bool

	// Header is read (when trusted) and written on the request, for the
	// upstream, and on the response. Default "X-Request-ID". Headers that
	// already mean something (Host, Content-Length, Cookie, Authorization,
	// the hop-by-hop headers...) are refused.
	Header string
}

// Middleware gives each request an id. It is immutable and safe for
// concurrent use.
type Middleware struct {
	trust  func(*http.Request) bool
	header string
}

// Validate reports what is wrong with o, by Go field name ("Header"). New
// refuses o on any error.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	h := strings.TrimSpace(o.Header)
	switch {
	case h == "":
	case !safe.Token(h):
		errs.Errorf("Header", "use a header name such as "+DefaultHeader, "%q is not a valid HTTP header name", h)
	case reserved[http.CanonicalHeaderKey(h)]:
		errs.Errorf("Header", "use a header of its own such as "+DefaultHeader, "%s already means something", http.CanonicalHeaderKey(h))
	}
	return errs
}

// New validates o and returns the middleware.
func New(o Options) (*Middleware, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	h := strings.TrimSpace(o.Header)
	if h == "" {
		h = DefaultHeader
	}
	return &Middleware{trust: o.TrustIncoming, header: http.CanonicalHeaderKey(h)}, nil
}

// reserved are the headers that cannot carry the id: the middleware
// replaces the header on every request and response, so naming one of
// these would rewrite the message's framing or routing (Content-Length,
// Transfer-Encoding, Host, the hop-by-hop headers) or destroy the
// client's credentials and the upstream's cookies.
var reserved = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Content-Type": true,
	"Connection": true, "Keep-Alive": true, "Upgrade": true, "Te": true, "Trailer": true,
	"Proxy-Authorization": true, "Proxy-Authenticate": true, "Proxy-Connection": true,
	"Authorization": true, "Cookie": true, "Set-Cookie": true, "Location": true,
}

// Handler stores the request id with NewContext, sets it on the request
// (replacing whatever the client sent, so the upstream sees the same id)
// and on the response, then calls next.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := m.id(r)
		// One allocation for both values: each slice has its own
		// element and a capacity of one, so an append to either moves
		// it elsewhere and neither can reach the other's value.
		vals := []string{id, id}
		r.Header[m.header] = vals[0:1:1]
		w.Header()[m.header] = vals[1:2:2]
		s, r := reqstate.Take(r, idFree)
		s.ID = id
		next.ServeHTTP(w, r)
	})
}

// id keeps a trusted, valid incoming id and generates one otherwise. Only
// the first header line counts: a second line means someone appended.
func (m *Middleware) id(r *http.Request) string {
	if m.trust != nil {
		if v := r.Header[m.header]; len(v) == 1 && Valid(v[0]) && m.trust(r) {
			return v[0]
		}
	}
	return Generate()
}

// Valid reports whether id may be accepted from a trusted proxy: 1 to
// MaxLen characters from [A-Za-z0-9._-]. The charset excludes CR, LF,
// quotes, spaces and every byte that means something in a log line, a
// header or HTML, so an id can be copied anywhere without escaping, and
// the length bound keeps a 10 KB "id" out of every log record.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

const alphabet = "abcdefghijklmnopqrstuvwxyz234567" // lower-case RFC 4648 base32

// Generate returns a new id: 16 bytes from crypto/rand (128 bits, so ids
// never collide and cannot be guessed) as 26 lower-case base32 characters.
func Generate() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error; it crashes the program if the OS source fails
	return encode(&b)
}

// encode is base32 (RFC 4648, lower case, no padding) of b, without the
// allocations of encoding/base32.
func encode(b *[16]byte) string {
	var out [26]byte
	// 128 bits = 25 groups of 5 bits + 3 bits.
	var acc uint32
	bits, j := 0, 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = alphabet[(acc>>uint(bits))&31]
			j++
		}
	}
	out[j] = alphabet[(acc<<uint(5-bits))&31]
	return string(out[:])
}
