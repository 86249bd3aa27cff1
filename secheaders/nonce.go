package secheaders

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
)

type nonceKey struct{}

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

func withNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey{}, nonce)
}

// Nonce returns the CSP nonce of the response to r, for Go handlers behind
// the middleware to write <script nonce="...">. It is "" when nonces are off.
func Nonce(r *http.Request) string {
	s, _ := r.Context().Value(nonceKey{}).(string)
	return s
}
