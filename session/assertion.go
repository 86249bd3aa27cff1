package session

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rampart-dev/rampart/safe"
)

// MaxJWKSLen bounds the JWKS NewAssertionVerifier reads. A gateway's JWKS
// holds a handful of keys (about 150 bytes each); anything near this size
// is not one.
const MaxJWKSLen = 64 << 10

// maxJWKSKeys bounds the keys of a JWKS: the gateway publishes the keys
// that can still have unexpired tokens and the next one, a few in all.
const maxJWKSKeys = 64

// AssertionVerifier checks the assertions a gateway sends the application
// (X-Rampart-Assertion) with the gateway's public keys alone: an
// application behind the gateway verifies who a request is from without
// holding the secret, which would let it sign sessions too. It makes the
// checks VerifyAssertion makes: the length (MaxTokenLen) before any
// parsing; the compact form; a header exactly as the gateway writes it
// ({"alg":"EdDSA","kid":...,"typ":"rampart+assertion"}, so alg none,
// HS256 keyed with the public key, an embedded jwk, a jku or x5u, an
// unknown kid or an access token's header are refused, and nothing is ever
// fetched); the EdDSA signature; the typ claim, iss, exactly one aud equal
// to the audience; exp, nbf and iat, all required, with Leeway; sub and
// sid present.
//
// A revocation does not reach it: an assertion lives AssertionTTL, and
// the gateway stops sending one as soon as the session is revoked.
//
// It is safe for concurrent use. Keys rotate: when Verify answers
// ReasonUnknownKey, read the JWKS again and build a new verifier (the
// gateway publishes each key a whole KeyRotation before it signs, so a
// JWKS read within the last period never misses one).
type AssertionVerifier struct {
	issuer, audience string
	// byHeader maps the exact header segment of an assertion signed by
	// each key to the key; byKid names the keys, for the log's reason.
	byHeader map[string]verifierKey
	byKid    map[string]bool
	now      func() time.Time
}

type verifierKey struct {
	kid string
	pub ed25519.PublicKey
}

// NewAssertionVerifier returns a verifier of assertions signed by the
// keys of jwks (the gateway's /.well-known/rampart/jwks.json, or the file
// auth.jwks_file), issued by issuer ("" means DefaultIssuer, the
// gateway's) for audience (the gateway's auth.assertion_audience,
// "rampart-upstream" unless configured; required). The JWKS must be one a
// gateway wrote: at most MaxJWKSLen bytes, at least one key, only Ed25519
// public keys for EdDSA whose kid is the one the gateway derives from the
// key. Anything else is refused whole rather than partly used: a JWKS
// with a private key, another algorithm or a kid of its own was not
// written by rampart, and using the rest of it would hide the mistake.
func NewAssertionVerifier(jwks []byte, issuer, audience string) (*AssertionVerifier, error) {
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if err := validName(issuer); err != nil {
		return nil, fmt.Errorf("session: issuer %w", err)
	}
	if audience == "" {
		return nil, errors.New(`session: the assertion's audience is required: the gateway's auth.assertion_audience ("rampart-upstream" unless configured)`)
	}
	if err := validName(audience); err != nil {
		return nil, fmt.Errorf("session: audience %w", err)
	}
	if len(jwks) > MaxJWKSLen {
		return nil, fmt.Errorf("session: the JWKS is %d bytes, more than %d: not a gateway's", len(jwks), MaxJWKSLen)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("session: the JWKS is not a JSON Web Key Set: %w", err)
	}
	switch {
	case len(set.Keys) == 0:
		return nil, errors.New("session: the JWKS holds no key")
	case len(set.Keys) > maxJWKSKeys:
		return nil, fmt.Errorf("session: the JWKS holds %d keys, more than %d: not a gateway's", len(set.Keys), maxJWKSKeys)
	}
	v := &AssertionVerifier{
		issuer:   issuer,
		audience: audience,
		byHeader: make(map[string]verifierKey, len(set.Keys)),
		byKid:    make(map[string]bool, len(set.Keys)),
		now:      time.Now,
	}
	for i, k := range set.Keys {
		kid := safe.Clean(k.KeyID, 40)
		var pub ed25519.PublicKey
		switch key := k.Key.(type) {
		case ed25519.PublicKey:
			pub = key
		case ed25519.PrivateKey:
			return nil, fmt.Errorf("session: JWKS key %d (kid %q) is a private key: a JWKS publishes public keys only; this one must not be used, and the secret it came from should be replaced", i, kid)
		default:
			return nil, fmt.Errorf("session: JWKS key %d (kid %q) is a %T, not an Ed25519 public key", i, kid, k.Key)
		}
		switch {
		case k.Algorithm != string(jose.EdDSA):
			return nil, fmt.Errorf("session: JWKS key %d (kid %q) is for alg %q, not EdDSA", i, kid, safe.Clean(k.Algorithm, 20))
		case k.Use != "" && k.Use != "sig":
			return nil, fmt.Errorf("session: JWKS key %d (kid %q) is for use %q, not sig", i, kid, safe.Clean(k.Use, 20))
		case k.KeyID != keyID(pub):
			return nil, fmt.Errorf("session: JWKS key %d has kid %q, not the one the gateway derives from the key: not a gateway's JWKS", i, kid)
		}
		h, err := assertionHeader(k.KeyID)
		if err != nil {
			return nil, err
		}
		v.byHeader[h] = verifierKey{kid: k.KeyID, pub: pub}
		v.byKid[k.KeyID] = true
	}
	return v, nil
}

// assertionHeader is the header segment of every assertion signed by the
// key kid, from go-jose's own serialization (as the gateway's signers
// write it) so that the two cannot differ. The throwaway key signs
// nothing that is kept: only the header is taken.
func assertionHeader(kid string) (string, error) {
	throwaway := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(TypeAssertion)).WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: throwaway}, opts)
	if err != nil {
		return "", fmt.Errorf("session: making the header: %w", err)
	}
	return headerSegment(s)
}

// Verify checks an assertion and returns its claims (User, Roles,
// Session, AuthTime, and the registered claims). A refused assertion gets
// an *Error whose Reason is for the log; the client is told 401 whatever
// it is.
func (v *AssertionVerifier) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, refusal(ReasonTooLong)
	}
	dot, ok := compactForm(token)
	if !ok {
		return Claims{}, refusal(ReasonMalformed)
	}
	header := token[:dot]
	k, ok := v.byHeader[header]
	if !ok {
		return Claims{}, refusal(diagnose(header, kindAssertion, func(kid string) bool { return v.byKid[kid] }))
	}
	w, err := verifySigned(token, k.kid, k.pub)
	if err != nil {
		return Claims{}, err
	}
	c, err := claimsOf(w, kindAssertion, v.issuer, v.audience)
	if err != nil {
		return Claims{}, err
	}
	if err := timesValid(c, v.now()); err != nil {
		return Claims{}, err
	}
	return c, nil
}
