package secheaders

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/rampart-dev/rampart/internal/reqstate"
)

// nonceBytes is the nonce size: 144 bits, above the 128 bits CSP3 asks for,
// and a multiple of 3 so the base64 form has no padding (24 characters).
const nonceBytes = 18

// newNonce returns a fresh nonce from crypto/rand. rand.Read never fails on
// supported platforms (it panics rather than return predictable bytes).
func newNonce() string {
	var b [nonceBytes]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// Nonce returns the CSP nonce of the response to r, for Go handlers behind
// the middleware to write <script nonce="...">. It is "" when nonces are off.
func Nonce(r *http.Request) string {
	if s := reqstate.From(r.Context()); s != nil {
		return s.Nonce
	}
	return ""
}

// nonceFree is reqstate.Take's test for the nonce: a middleware nested
// inside another gets a State of its own, as a context value would shadow
// the outer one.
func nonceFree(s *reqstate.State) bool { return s.Nonce == "" }
