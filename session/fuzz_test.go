package session

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzVerify feeds Verify and VerifyAssertion mutations of tokens this
// Manager issued: neither may panic, and neither may accept any string
// but one Issue or Assert returned (the encoding is canonical, so a token
// has exactly one spelling).
func FuzzVerify(f *testing.F) {
	m, _, _ := newTestManager(f, nil)
	issued := map[string]bool{}
	for _, roles := range [][]string{nil, {"staff"}, {"staff", "admin", "a.b-c_d"}} {
		tok, _, err := m.Issue("alice", roles, "c2Vzc2lvbg")
		if err != nil {
			f.Fatal(err)
		}
		issued[tok] = true
		f.Add(tok)
		as, err := m.Assert(Claims{User: "bob", Roles: roles, Session: "c2Vzc2lvbg"}, "app")
		if err != nil {
			f.Fatal(err)
		}
		issued[as] = true
		f.Add(as)
	}
	priv, kid := ourKey(f, m, base)
	f.Add(forge(f, map[string]any{"alg": "none", "kid": kid, "typ": TypeAccess}, validClaims(m, base), nil))
	f.Add(forge(f, map[string]any{"alg": "EdDSA", "kid": kid, "typ": TypeAccess, "jwk": map[string]string{"kty": "OKP"}}, validClaims(m, base), edSigner(priv)))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := m.Verify(tok)
		if err == nil && !issued[tok] {
			t.Fatalf("accepted a token never issued: %q", tok)
		}
		_, err = m.VerifyAssertion(tok, "app")
		if err == nil && !issued[tok] {
			t.Fatalf("accepted an assertion never issued: %q", tok)
		}
	})
}

// FuzzRefreshToken checks the parsing of a client's refresh token: no
// panic, and only the one canonical spelling of 32 bytes is accepted.
func FuzzRefreshToken(f *testing.F) {
	tok, _, err := newRefresh()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 43))
	f.Add(tok + "=")
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := parseRefresh(s); ok {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != s {
				t.Fatalf("accepted %q, not the canonical form of 32 bytes", s)
			}
		}
	})
}
