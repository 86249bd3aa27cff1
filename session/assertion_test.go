package session

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const testAudience = "seed-app"

// newTestVerifier is an AssertionVerifier of m's JWKS for testAudience,
// on m's clock.
func newTestVerifier(t testing.TB, m *Manager, c *clock) *AssertionVerifier {
	t.Helper()
	v, err := NewAssertionVerifier(m.JWKS(), "", testAudience)
	if err != nil {
		t.Fatalf("NewAssertionVerifier: %v", err)
	}
	v.now = c.Now
	return v
}

// assertionClaims are the claims of a good assertion for testAudience at
// now.
func assertionClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": DefaultIssuer, "sub": "alice", "aud": testAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(AssertionTTL).Unix(), "auth_time": now.Unix(),
		"sid": "c2Vzc2lvbi1pZC0xMjM0NQ", "roles": []string{"staff"}, "typ": TypeAssertion,
	}
}

func TestAssertionVerifier_VerifiesTheGatewaysAssertion(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	as, err := m.Assert(Claims{User: "alice", Roles: []string{"staff", "admin"}, Session: "sid", AuthTime: base.Add(-time.Hour)}, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(AssertionTTL / 2)
	got, err := v.Verify(as)
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || !slices.Equal(got.Roles, []string{"staff", "admin"}) || got.Session != "sid" ||
		got.Issuer != DefaultIssuer || got.Audience != testAudience || !got.Expires.Equal(base.Add(AssertionTTL)) ||
		!got.AuthTime.Equal(base.Add(-time.Hour)) || !got.IssuedAt.Equal(base) {
		t.Fatalf("claims %+v", got)
	}
	// The forging helper, signing with our key and our header, makes an
	// assertion the verifier accepts: each attack below is refused for
	// the one thing it changes.
	priv, kid := ourKey(t, m, base)
	if _, err := v.Verify(forge(t, ourHeader(kid, TypeAssertion), assertionClaims(base), edSigner(priv))); err != nil {
		t.Fatalf("the forging helper's assertion is refused: %v", err)
	}
}

func TestAssertionVerifier_NextKeyOfAnEarlierJWKS(t *testing.T) {
	// An application that read the JWKS during the previous period
	// verifies assertions signed after the rotation: the next key was in
	// it.
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	c.Set(epochStart.Add(time.Hour))
	as, err := m.Assert(Claims{User: "alice", Session: "sid"}, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(as); err != nil {
		t.Fatalf("an assertion of the key published a period ahead is refused: %v", err)
	}
}

func TestAttack_VerifierAlgNone(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	_, kid := ourKey(t, m, base)
	for _, alg := range []string{"none", "None", "NONE", ""} {
		h := map[string]any{"alg": alg, "kid": kid, "typ": TypeAssertion}
		_, err := v.Verify(strings.TrimSuffix(forge(t, h, assertionClaims(base), nil), ".") + ".")
		if r := ReasonOf(err); r != ReasonMalformed && r != ReasonAlgorithm {
			t.Fatalf("alg %q unsigned: %v", alg, err)
		}
		_, err = v.Verify(forge(t, h, assertionClaims(base), func([]byte) []byte { return []byte("sig") }))
		wantReason(t, err, ReasonAlgorithm)
	}
}

func TestAttack_VerifierHS256SignedWithThePublicKey(t *testing.T) {
	// The application holds only the public key, and so does the
	// attacker: a verifier taking alg from the token would check an HMAC
	// keyed with it.
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	priv, kid := ourKey(t, m, base)
	pub := priv.Public().(ed25519.PublicKey)
	for name, key := range map[string][]byte{"raw public key": pub, "jwks": m.JWKS(), "base64 x": []byte(b64(pub))} {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			tok := forge(t, map[string]any{"alg": alg, "kid": kid, "typ": TypeAssertion}, assertionClaims(base), func(in []byte) []byte {
				h := hmac.New(sha256.New, key)
				h.Write(in)
				return h.Sum(nil)
			})
			_, err := v.Verify(tok)
			if err == nil {
				t.Fatalf("%s keyed with the %s accepted", alg, name)
			}
			wantReason(t, err, ReasonAlgorithm)
		}
	}
}

func TestAttack_VerifierUnknownKid(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	priv, _ := ourKey(t, m, base)
	for _, kid := range []string{"AAAAAAAAAAAAAAAA", "", "../../etc/passwd", "https://127.0.0.1/jwks", strings.Repeat("k", 200)} {
		_, err := v.Verify(forge(t, ourHeader(kid, TypeAssertion), assertionClaims(base), edSigner(priv)))
		wantReason(t, err, ReasonUnknownKey)
	}
	// Another gateway's (another secret's) assertion.
	other, _, _ := newTestManager(t, func(o *Options) { o.Secret = []byte("another instance's secret, 32+ bytes long") })
	as, err := other.Assert(Claims{User: "alice", Roles: []string{"admin"}, Session: "sid"}, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(as)
	wantReason(t, err, ReasonUnknownKey)
	// The other key, our kid in the header.
	otherPriv, err := deriveKey([]byte("another instance's secret, 32+ bytes long"), m.keys.period, m.keys.epochOf(base))
	if err != nil {
		t.Fatal(err)
	}
	_, kid := ourKey(t, m, base)
	_, err = v.Verify(forge(t, ourHeader(kid, TypeAssertion), assertionClaims(base), edSigner(otherPriv)))
	wantReason(t, err, ReasonBadSignature)
}

func TestAttack_VerifierEmbeddedJWKAndJKU(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	_, kid := ourKey(t, m, base)
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: attacker},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(TypeAssertion))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(assertionClaims(base)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tok)
	wantReason(t, err, ReasonForbiddenHeader)
	for _, name := range []string{"jku", "x5u", "crit"} {
		h := ourHeader(kid, TypeAssertion)
		h[name] = "https://127.0.0.1/jwks.json"
		_, err := v.Verify(forge(t, h, assertionClaims(base), edSigner(attacker)))
		wantReason(t, err, ReasonForbiddenHeader)
	}
}

func TestAttack_VerifierAccessTokenPresentedAsAssertion(t *testing.T) {
	// The session cookie's token, replayed to the application as an
	// assertion: another typ, whatever its audience.
	m, c, _ := newTestManager(t, func(o *Options) { o.Audience = testAudience })
	v := newTestVerifier(t, m, c)
	tok, _, err := m.Issue("alice", []string{"admin"}, "sid")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tok)
	wantReason(t, err, ReasonWrongType)
	// Our key, the assertion's header, the access token's typ claim.
	priv, kid := ourKey(t, m, base)
	cl := assertionClaims(base)
	cl["typ"] = TypeAccess
	_, err = v.Verify(forge(t, ourHeader(kid, TypeAssertion), cl, edSigner(priv)))
	wantReason(t, err, ReasonWrongType)
}

func TestAttack_VerifierExpiredAssertion(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	as, err := m.Assert(Claims{User: "alice", Session: "sid"}, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	c.Set(base.Add(AssertionTTL + Leeway - time.Second))
	if _, err := v.Verify(as); err != nil {
		t.Fatalf("refused within the leeway: %v", err)
	}
	c.Set(base.Add(AssertionTTL + Leeway))
	_, err = v.Verify(as)
	wantReason(t, err, ReasonExpired)
	// Not yet valid: issued in the future beyond the leeway.
	c.Set(base.Add(-Leeway - time.Second))
	_, err = v.Verify(as)
	wantReason(t, err, ReasonNotYetValid)
}

func TestAttack_VerifierWrongAudienceIssuerAndMissingClaims(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	// An assertion the same gateway made for another application.
	as, err := m.Assert(Claims{User: "alice", Session: "sid"}, "another-app")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(as)
	wantReason(t, err, ReasonWrongAudience)
	priv, kid := ourKey(t, m, base)
	for _, tc := range []struct {
		claim string
		value any
		want  Reason
	}{
		{"aud", []string{"another-app", testAudience}, ReasonWrongAudience},
		{"aud", []string{}, ReasonWrongAudience},
		{"iss", "https://evil.example", ReasonWrongIssuer},
		{"exp", nil, ReasonMissingClaim},
		{"nbf", nil, ReasonMissingClaim},
		{"iat", nil, ReasonMissingClaim},
		{"sub", nil, ReasonMissingClaim},
		{"sid", nil, ReasonMissingClaim},
	} {
		cl := assertionClaims(base)
		if tc.value == nil {
			delete(cl, tc.claim)
		} else {
			cl[tc.claim] = tc.value
		}
		_, err := v.Verify(forge(t, ourHeader(kid, TypeAssertion), cl, edSigner(priv)))
		wantReason(t, err, tc.want)
	}
	// A verifier configured for another issuer refuses the gateway's.
	other, err := NewAssertionVerifier(m.JWKS(), "other", testAudience)
	if err != nil {
		t.Fatal(err)
	}
	other.now = c.Now
	as, err = m.Assert(Claims{User: "alice", Session: "sid"}, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Verify(as)
	wantReason(t, err, ReasonWrongIssuer)
}

func TestAttack_VerifierTamperedAndOversized(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	v := newTestVerifier(t, m, c)
	as, err := m.Assert(Claims{User: "alice", Roles: []string{"staff"}, Session: "sid"}, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(as, ".")
	cl := assertionClaims(base)
	cl["roles"] = []string{"admin"}
	parts[1] = strings.Split(forge(t, map[string]any{}, cl, nil), ".")[1]
	_, err = v.Verify(strings.Join(parts, "."))
	wantReason(t, err, ReasonBadSignature)

	priv, kid := ourKey(t, m, base)
	cl = assertionClaims(base)
	cl["roles"] = slices.Repeat([]string{"role"}, 1000)
	tok := forge(t, ourHeader(kid, TypeAssertion), cl, edSigner(priv)) // validly signed: only its size is wrong
	if len(tok) <= MaxTokenLen {
		t.Fatalf("test token is %d bytes", len(tok))
	}
	_, err = v.Verify(tok)
	wantReason(t, err, ReasonTooLong)
	for _, s := range []string{"", "a.b", as + ".x", " " + as, as + "\n", as + "=", parts[0] + "." + parts[1] + "." + b64([]byte("sig"))} {
		if _, err := v.Verify(s); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
}

func TestNewAssertionVerifier_RefusesForeignJWKS(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	good := m.JWKS()
	priv, kid := ourKey(t, m, base)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pub := priv.Public().(ed25519.PublicKey)
	for name, jwks := range map[string][]byte{
		"empty":          nil,
		"not JSON":       []byte("<html>"),
		"no key":         []byte(`{"keys":[]}`),
		"private key":    set(jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "EdDSA", Use: "sig"}),
		"RSA key":        set(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "r", Algorithm: "RS256", Use: "sig"}),
		"HMAC key":       set(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: kid, Algorithm: "HS256"}),
		"other alg":      set(jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: "ES256", Use: "sig"}),
		"encryption use": set(jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: "EdDSA", Use: "enc"}),
		"kid of its own": set(jose.JSONWebKey{Key: pub, KeyID: "../../etc/passwd", Algorithm: "EdDSA", Use: "sig"}),
		"oversized":      append(append([]byte(`{"keys":[],"x":"`), strings.Repeat("a", MaxJWKSLen)...), `"}`...),
	} {
		if _, err := NewAssertionVerifier(jwks, "", testAudience); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), b64(priv.Seed())) {
			t.Errorf("%s: the error repeats the private key: %v", name, err)
		}
	}
	for name, aud := range map[string]string{"no audience": "", "space": "my app", "quote": `a"b`} {
		if _, err := NewAssertionVerifier(good, "", aud); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewAssertionVerifier(good, "", testAudience); err != nil {
		t.Fatalf("the gateway's JWKS: %v", err)
	}
}

// FuzzAssertionVerifier feeds the verifier mutations of the gateway's
// assertions and tokens: no panic, and nothing accepted but an assertion
// the gateway made for this audience.
func FuzzAssertionVerifier(f *testing.F) {
	m, c, _ := newTestManager(f, nil)
	v := newTestVerifier(f, m, c)
	issued := map[string]bool{}
	for _, roles := range [][]string{nil, {"staff"}, {"staff", "admin"}} {
		as, err := m.Assert(Claims{User: "bob", Roles: roles, Session: "c2Vzc2lvbg"}, testAudience)
		if err != nil {
			f.Fatal(err)
		}
		issued[as] = true
		f.Add(as)
		tok, _, err := m.Issue("alice", roles, "c2Vzc2lvbg")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	priv, kid := ourKey(f, m, base)
	f.Add(forge(f, map[string]any{"alg": "none", "kid": kid, "typ": TypeAssertion}, assertionClaims(base), nil))
	f.Add(forge(f, map[string]any{"alg": "HS256", "kid": kid, "typ": TypeAssertion}, assertionClaims(base), edSigner(priv)))
	f.Add("")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := v.Verify(tok); err == nil && !issued[tok] {
			t.Fatalf("accepted an assertion never issued: %q", tok)
		}
	})
}
