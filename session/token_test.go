package session

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestVerify_IssuedTokenRoundTrips(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	tok, exp, err := m.Issue("alice", []string{"staff", "admin"}, "c2Vzc2lvbg")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(30 * time.Minute)
	got, err := m.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || !slices.Equal(got.Roles, []string{"staff", "admin"}) || got.Session != "c2Vzc2lvbg" ||
		!got.Expires.Equal(exp) || !got.IssuedAt.Equal(base) || !got.NotBefore.Equal(base) || !got.AuthTime.Equal(base) {
		t.Fatalf("claims %+v", got)
	}
}

// TestForge_OurKeyAccepted shows the forging helper makes tokens Verify
// accepts when signed by our key with our header: each attack below is
// refused for the one thing it changes.
func TestForge_OurKeyAccepted(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	tok := forge(t, ourHeader(kid, TypeAccess), validClaims(m, base), edSigner(priv))
	if _, err := m.Verify(tok); err != nil {
		t.Fatalf("the forging helper's token is refused: %v", err)
	}
}

func TestAttack_AlgNone(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	_, kid := ourKey(t, m, base)
	for _, alg := range []string{"none", "None", "NONE", ""} {
		tok := forge(t, map[string]any{"alg": alg, "kid": kid, "typ": TypeAccess}, validClaims(m, base), nil)
		tok = strings.TrimSuffix(tok, ".") + "." // unsigned: empty signature
		_, err := m.Verify(tok)
		if err == nil {
			t.Fatalf("alg %q accepted", alg)
		}
		// An empty signature segment is not even the token's form.
		if r := ReasonOf(err); r != ReasonMalformed && r != ReasonAlgorithm {
			t.Fatalf("alg %q refused for %v", alg, r)
		}
		// With a signature segment present, the algorithm is what is
		// refused.
		tok = forge(t, map[string]any{"alg": alg, "kid": kid, "typ": TypeAccess}, validClaims(m, base), func([]byte) []byte { return []byte("sig") })
		_, err = m.Verify(tok)
		wantReason(t, err, ReasonAlgorithm)
	}
}

func TestAttack_HS256SignedWithThePublicKey(t *testing.T) {
	// Algorithm confusion: a verifier that takes alg from the token would
	// check an HMAC keyed with what it holds, the public key, which the
	// attacker has too (the JWKS).
	m, _, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	pub := priv.Public().(ed25519.PublicKey)
	for name, key := range map[string][]byte{"raw public key": pub, "jwks": m.JWKS(), "base64 x": []byte(b64(pub))} {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			tok := forge(t, map[string]any{"alg": alg, "kid": kid, "typ": TypeAccess}, validClaims(m, base), func(in []byte) []byte {
				h := hmac.New(sha256.New, key)
				h.Write(in)
				return h.Sum(nil)
			})
			_, err := m.Verify(tok)
			if err == nil {
				t.Fatalf("%s keyed with the %s accepted", alg, name)
			}
			wantReason(t, err, ReasonAlgorithm)
		}
	}
}

func TestAttack_RS256AndES256Headers(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	_, kid := ourKey(t, m, base)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []jose.SigningKey{{Algorithm: jose.RS256, Key: rsaKey}, {Algorithm: jose.PS256, Key: rsaKey}, {Algorithm: jose.ES256, Key: ecKey}} {
		s, err := jose.NewSigner(k, (&jose.SignerOptions{}).WithType(TypeAccess).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(validClaims(m, base)).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Verify(tok)
		wantReason(t, err, ReasonAlgorithm)
	}
}

func TestAttack_UnknownKid(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, _ := ourKey(t, m, base)
	for _, kid := range []string{"AAAAAAAAAAAAAAAA", "", "0", strings.Repeat("k", 200)} {
		tok := forge(t, ourHeader(kid, TypeAccess), validClaims(m, base), edSigner(priv))
		_, err := m.Verify(tok)
		wantReason(t, err, ReasonUnknownKey)
	}
	// No kid at all.
	tok := forge(t, map[string]any{"alg": "EdDSA", "typ": TypeAccess}, validClaims(m, base), edSigner(priv))
	_, err := m.Verify(tok)
	wantReason(t, err, ReasonUnknownKey)
}

func TestAttack_PathTraversalKid(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, _ := ourKey(t, m, base)
	for _, kid := range []string{"../../etc/passwd", "/dev/null", "..\\..\\key", "key' OR '1'='1", "https://127.0.0.1/jwks"} {
		tok := forge(t, ourHeader(kid, TypeAccess), validClaims(m, base), edSigner(priv))
		_, err := m.Verify(tok)
		wantReason(t, err, ReasonUnknownKey)
	}
}

func TestAttack_EmbeddedJWKSignedByAttackersKey(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	_, kid := ourKey(t, m, base)
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: attacker.Public(), KeyID: kid, Algorithm: "EdDSA"}
	for _, opts := range []*jose.SignerOptions{
		{EmbedJWK: true}, // jwk header, the attacker's own kid
		(&jose.SignerOptions{}).WithHeader("jwk", jwk), // jwk header naming our kid
	} {
		opts.WithType(TypeAccess)
		if opts.ExtraHeaders["jwk"] != nil {
			opts.WithHeader("kid", kid)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: attacker}, opts)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(validClaims(m, base)).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Verify(tok)
		wantReason(t, err, ReasonForbiddenHeader)
	}
}

func TestAttack_JKUAndX5UNeverFetched(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	_, kid := ourKey(t, m, base)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	url := "http://" + ln.Addr().String() + "/jwks.json"
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	for _, h := range []string{"jku", "x5u"} {
		header := ourHeader(kid, TypeAccess)
		header[h] = url
		tok := forge(t, header, validClaims(m, base), edSigner(attacker))
		_, err := m.Verify(tok)
		wantReason(t, err, ReasonForbiddenHeader)
	}
	ln.Close()
	<-done
	if n := conns.Load(); n != 0 {
		t.Fatalf("the jku/x5u URL was fetched: %d connections", n)
	}
}

func TestAttack_OtherForbiddenHeaders(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	for name, v := range map[string]any{
		"crit": []string{"b64"}, "b64": false, "x5c": []string{"MIIB"}, "cty": "JWT", "zip": "DEF", "nonce": "n",
	} {
		header := ourHeader(kid, TypeAccess)
		header[name] = v
		// Signed by our own key: only the header is wrong.
		tok := forge(t, header, validClaims(m, base), edSigner(priv))
		_, err := m.Verify(tok)
		wantReason(t, err, ReasonForbiddenHeader)
	}
}

func TestAttack_TamperedPayload(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	tok, _, err := m.Issue("alice", []string{"staff"}, "sid")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	cl := validClaims(m, base)
	cl["roles"] = []string{"admin"}
	parts[1] = strings.Split(forge(t, map[string]any{}, cl, nil), ".")[1]
	_, err = m.Verify(strings.Join(parts, "."))
	wantReason(t, err, ReasonBadSignature)
	// A flipped bit in the signature.
	sig, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[2])
	sig[10] ^= 1
	_, err = m.Verify(strings.Join([]string{strings.Split(tok, ".")[0], strings.Split(tok, ".")[1], b64(sig)}, "."))
	wantReason(t, err, ReasonBadSignature)
}

func TestAttack_ExpiredToken(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	tok, exp, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	c.Set(exp.Add(Leeway - time.Second))
	if _, err := m.Verify(tok); err != nil {
		t.Fatalf("refused within the leeway: %v", err)
	}
	c.Set(exp.Add(Leeway))
	_, err = m.Verify(tok)
	wantReason(t, err, ReasonExpired)
}

func TestAttack_NotYetValidToken(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	tok, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	c.Set(base.Add(-Leeway - time.Second))
	_, err = m.Verify(tok)
	wantReason(t, err, ReasonNotYetValid)
	// nbf in the future, iat now.
	c.Set(base)
	cl := validClaims(m, base)
	cl["nbf"] = base.Add(2 * time.Minute).Unix()
	_, err = m.Verify(forge(t, ourHeader(kid, TypeAccess), cl, edSigner(priv)))
	wantReason(t, err, ReasonNotYetValid)
	// iat in the future.
	cl = validClaims(m, base)
	cl["iat"] = base.Add(2 * time.Minute).Unix()
	_, err = m.Verify(forge(t, ourHeader(kid, TypeAccess), cl, edSigner(priv)))
	wantReason(t, err, ReasonNotYetValid)
}

func TestAttack_MissingTimeClaims(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	for _, claim := range []string{"exp", "nbf", "iat", "sub", "sid"} {
		cl := validClaims(m, base)
		delete(cl, claim)
		_, err := m.Verify(forge(t, ourHeader(kid, TypeAccess), cl, edSigner(priv)))
		wantReason(t, err, ReasonMissingClaim)
	}
}

func TestAttack_WrongAudienceIssuerAndType(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	for _, tc := range []struct {
		claim string
		value any
		want  Reason
	}{
		{"aud", "another-app", ReasonWrongAudience},
		{"aud", []string{"another-app", DefaultAudience}, ReasonWrongAudience},
		{"aud", []string{}, ReasonWrongAudience},
		{"iss", "https://evil.example", ReasonWrongIssuer},
		{"typ", TypeAssertion, ReasonWrongType},
		{"typ", "JWT", ReasonWrongType},
	} {
		cl := validClaims(m, base)
		cl[tc.claim] = tc.value
		_, err := m.Verify(forge(t, ourHeader(kid, TypeAccess), cl, edSigner(priv)))
		wantReason(t, err, tc.want)
	}
	// A header typ other than ours, signed by our key.
	_, err := m.Verify(forge(t, ourHeader(kid, "JWT"), validClaims(m, base), edSigner(priv)))
	wantReason(t, err, ReasonWrongType)
	// A Manager of the same secret configured for another audience or
	// issuer refuses the first one's tokens.
	tok, _, _ := m.Issue("alice", nil, "sid")
	for _, tc := range []struct {
		edit func(*Options)
		want Reason
	}{
		{func(o *Options) { o.Audience = "other" }, ReasonWrongAudience},
		{func(o *Options) { o.Issuer = "other" }, ReasonWrongIssuer},
	} {
		other, _, _ := newTestManager(t, tc.edit)
		_, err := other.Verify(tok)
		wantReason(t, err, tc.want)
	}
}

func TestAttack_AssertionPresentedAsAccessToken(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	// Even with the access audience, an assertion is no access token.
	as, err := m.Assert(Claims{User: "alice", Session: "sid"}, DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Verify(as)
	wantReason(t, err, ReasonWrongType)
}

func TestAttack_AccessTokenPresentedAsAssertion(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	tok, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.VerifyAssertion(tok, DefaultAudience)
	wantReason(t, err, ReasonWrongType)
}

func TestAssertion_VerifiesForItsAudienceOnly(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	as, err := m.Assert(Claims{User: "alice", Roles: []string{"staff"}, Session: "sid", AuthTime: base.Add(-time.Hour)}, "app")
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.VerifyAssertion(as, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || got.Audience != "app" || !got.Expires.Equal(base.Add(AssertionTTL)) || !got.AuthTime.Equal(base.Add(-time.Hour)) {
		t.Fatalf("claims %+v", got)
	}
	_, err = m.VerifyAssertion(as, "other-app")
	wantReason(t, err, ReasonWrongAudience)
	c.Add(AssertionTTL + Leeway)
	_, err = m.VerifyAssertion(as, "app")
	wantReason(t, err, ReasonExpired)
	if _, err := m.Assert(Claims{User: "alice", Session: "sid"}, ""); err == nil {
		t.Fatal("an assertion without an audience was signed")
	}
}

func TestAttack_TokenFromAnotherSecret(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	other, _, _ := newTestManager(t, func(o *Options) { o.Secret = []byte("another instance's secret, 32+ bytes long") })
	tok, _, err := other.Issue("alice", []string{"admin"}, "sid")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Verify(tok)
	wantReason(t, err, ReasonUnknownKey)
	// The other key, our kid in the header.
	_, kid := ourKey(t, m, base)
	otherPriv, _ := deriveKey([]byte("another instance's secret, 32+ bytes long"), m.keys.period, m.keys.epochOf(base))
	_, err = m.Verify(forge(t, ourHeader(kid, TypeAccess), validClaims(m, base), edSigner(otherPriv)))
	wantReason(t, err, ReasonBadSignature)
}

func TestAttack_OversizedTokenRefusedBeforeParsing(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	priv, kid := ourKey(t, m, base)
	cl := validClaims(m, base)
	cl["roles"] = slices.Repeat([]string{"role"}, 1000)
	// Validly signed by our own key: only its size can refuse it.
	tok := forge(t, ourHeader(kid, TypeAccess), cl, edSigner(priv))
	if len(tok) <= MaxTokenLen {
		t.Fatalf("test token is %d bytes", len(tok))
	}
	_, err := m.Verify(tok)
	wantReason(t, err, ReasonTooLong)
	_, err = m.Verify(strings.Repeat("A", 1<<20))
	wantReason(t, err, ReasonTooLong)
}

func TestAttack_GarbageAndNonCanonicalEncodings(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	tok, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	// Verified once, the token is in the cache of verified tokens: each
	// variant below must miss it and be refused on its own.
	if _, err := m.Verify(tok); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig := parts[2]
	last := strings.IndexByte(b64alphabet, sig[len(sig)-1])
	// The signature's last character with an unused bit set decodes to
	// the same bytes: the same token written another way.
	sigAlt := sig[:len(sig)-1] + string(b64alphabet[last|1])
	for name, s := range map[string]string{
		"empty":                "",
		"one part":             "abc",
		"two parts":            "abc.def",
		"four parts":           tok + ".x",
		"empty signature":      parts[0] + "." + parts[1] + ".",
		"empty payload":        parts[0] + ".." + parts[2],
		"not base64":           "!!!.@@@.###",
		"standard base64":      strings.ReplaceAll(tok, "-", "+"),
		"padding":              parts[0] + "." + parts[1] + "." + sig + "==",
		"newline inside":       parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + sig,
		"CR inside":            parts[0] + "\r." + parts[1] + "." + sig,
		"space":                " " + tok,
		"unused bits set":      parts[0] + "." + parts[1] + "." + sigAlt,
		"JSON serialization":   `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + sig + `"}`,
		"length 1 mod 4":       parts[0] + "." + parts[1] + "." + sig + "AAA",
		"NUL":                  tok + "\x00",
		"garbage header":       "eyJhbGciOi." + parts[1] + "." + sig,
		"header not an object": b64([]byte(`["EdDSA"]`)) + "." + parts[1] + "." + sig,
	} {
		_, err := m.Verify(s)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if r := ReasonOf(err); r != ReasonMalformed && r != ReasonAlgorithm {
			t.Errorf("%s: refused for %v", name, r)
		}
	}
	if _, err := m.Verify(tok); err != nil {
		t.Fatal(err)
	}
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestIssue_CookieFitsWithTheLargestClaims(t *testing.T) {
	name := strings.Repeat("n", MaxNameLen)
	m, _, _ := newTestManager(t, func(o *Options) { o.Issuer, o.Audience = name, name })
	roles := make([]string, MaxRoles)
	for i := range roles {
		roles[i] = strings.Repeat(string(rune('a'+i%26)), MaxRoleLen)
	}
	// The user that escapes worst in JSON: '<', '>' and '&' become six
	// bytes each.
	user := strings.Repeat("<", MaxUserLen)
	tok, _, err := m.Issue(user, roles, strings.Repeat("s", 64))
	if err != nil {
		t.Fatal(err)
	}
	if n := len("__Host-rampart-session=") + len(tok); n >= 4096 {
		t.Fatalf("the session cookie is %d bytes", n)
	}
	if _, err := m.Verify(tok); err != nil {
		t.Fatal(err)
	}
	as, err := m.Assert(Claims{User: user, Roles: roles, Session: strings.Repeat("s", 64)}, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) > MaxTokenLen {
		t.Fatalf("assertion of %d bytes", len(as))
	}
	t.Logf("largest access token: %d bytes; assertion %d", len(tok), len(as))
}

func TestIssue_RefusesWhatCouldNotFit(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	for name, tc := range map[string]struct {
		user  string
		roles []string
		sid   string
	}{
		"too many roles":       {"alice", slices.Repeat([]string{"r"}, MaxRoles+1), "sid"},
		"role too long":        {"alice", []string{strings.Repeat("r", MaxRoleLen+1)}, "sid"},
		"role with a comma":    {"alice", []string{"staff,admin"}, "sid"},
		"role with a space":    {"alice", []string{"staff admin"}, "sid"},
		"empty role":           {"alice", []string{""}, "sid"},
		"user too long":        {strings.Repeat("u", MaxUserLen+1), nil, "sid"},
		"empty user":           {"", nil, "sid"},
		"user with a newline":  {"alice\r\nX-Rampart-User: admin", nil, "sid"},
		"user with bidi":       {"alice\u202e", nil, "sid"},
		"user invalid utf-8":   {"alice\xff", nil, "sid"},
		"empty session id":     {"alice", nil, ""},
		"session id with dots": {"alice", nil, "../x"},
	} {
		if _, _, err := m.Issue(tc.user, tc.roles, tc.sid); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func TestVerifyCache_HitRechecksTimeAndRevocation(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	s, err := m.Start(ctx, "alice", []string{"staff"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Verify(s.Access)
	if err != nil {
		t.Fatal(err)
	}
	if m.verified.len() != 1 {
		t.Fatalf("%d tokens cached, want 1", m.verified.len())
	}
	got.Roles[0] = "admin" // the caller's copy
	again, err := m.Verify(s.Access)
	if err != nil || !slices.Equal(again.Roles, []string{"staff"}) {
		t.Fatalf("a caller changed the cached claims: %v, %v", again.Roles, err)
	}
	c.Set(base.Add(-Leeway - time.Second))
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonNotYetValid)
	c.Set(base)
	if err := m.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonRevoked)
	c.Set(s.AccessExpires.Add(Leeway))
	_, err = m.Verify(s.Access)
	wantReason(t, err, ReasonExpired)
	if m.verified.len() != 0 {
		t.Fatal("an expired token stays cached")
	}
}

func TestVerifyCache_Bounded(t *testing.T) {
	var vc verifiedCache
	for i := range verifiedCacheSize + 100 {
		vc.put(strconv.Itoa(i), Claims{})
	}
	if n := vc.len(); n != verifiedCacheSize {
		t.Fatalf("%d entries, want %d", n, verifiedCacheSize)
	}
}
