package session

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are what a token says about its holder.
type Claims struct {
	User     string    // sub
	Roles    []string  // roles
	Session  string    // sid: the session the token belongs to
	AuthTime time.Time // auth_time: when the session began (the login)
	// Set by Verify and VerifyAssertion (ignored by Assert):
	Issuer    string    // iss
	Audience  string    // aud
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expires   time.Time // exp
}

// wireClaims is a token's payload. The typ claim repeats the JOSE header's
// typ, so that an application reading only the claims (most JWT
// libraries' default) still tells an assertion from an access token.
type wireClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	AuthTime  *jwt.NumericDate `json:"auth_time,omitempty"`
	Session   string           `json:"sid"`
	Roles     []string         `json:"roles"`
	Type      string           `json:"typ"`
}

// edDSAOnly is the one algorithm a token may name: go-jose refuses any
// other before looking at a key, so none, HS256 with the public key as
// the HMAC secret, RS256 and ES256 never reach a verifier.
var edDSAOnly = []jose.SignatureAlgorithm{jose.EdDSA}

// Issue signs an access token for user, with roles, in session sid,
// valid for AccessTTL from now; it returns the token and its expiry. Its
// auth_time is now: Start and Refresh, which know when the session began,
// are what the gateway uses. The token is at most MaxTokenLen bytes: at
// most MaxRoles roles of MaxRoleLen bytes each (letters, digits, '_', '-',
// '.'), a user of MaxUserLen bytes at most.
func (m *Manager) Issue(user string, roles []string, sid string) (string, time.Time, error) {
	now := m.o.Now()
	return m.issue(kindAccess, m.o.Audience, Claims{User: user, Roles: roles, Session: sid, AuthTime: now}, now, now.Add(m.o.AccessTTL))
}

// Assert signs an assertion of c (User, Roles, Session, AuthTime) for the
// application audience: what the gateway sends upstream in
// X-Rampart-Assertion. It lives AssertionTTL, carries typ
// "rampart+assertion" and the audience given here, so it can never be
// presented as an access token, nor an access token as an assertion.
// Assert signs what it is given: c must come from a verified token.
func (m *Manager) Assert(c Claims, audience string) (string, error) {
	if audience == "" {
		return "", errors.New("session: an assertion needs an audience")
	}
	if err := validName(audience); err != nil {
		return "", fmt.Errorf("session: audience %w", err)
	}
	now := m.o.Now()
	tok, _, err := m.issue(kindAssertion, audience, c, now, now.Add(AssertionTTL))
	return tok, err
}

func (m *Manager) issue(kd kind, aud string, c Claims, now, exp time.Time) (string, time.Time, error) {
	if err := validUser(c.User); err != nil {
		return "", time.Time{}, fmt.Errorf("session: %w", err)
	}
	if err := validRoles(c.Roles); err != nil {
		return "", time.Time{}, fmt.Errorf("session: %w", err)
	}
	if err := validSID(c.Session); err != nil {
		return "", time.Time{}, fmt.Errorf("session: %w", err)
	}
	ring, err := m.keys.at(now)
	if err != nil {
		return "", time.Time{}, err
	}
	roles := c.Roles
	if roles == nil {
		roles = []string{} // "roles":[] rather than null, for the application's sake
	}
	authTime := c.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	w := wireClaims{
		Issuer:    m.o.Issuer,
		Subject:   c.User,
		Audience:  jwt.Audience{aud},
		Expiry:    jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		AuthTime:  jwt.NewNumericDate(authTime),
		Session:   c.Session,
		Roles:     roles,
		Type:      kd.typ(),
	}
	tok, err := jwt.Signed(ring.current.signers[kd]).Claims(w).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("session: signing the token: %w", err)
	}
	if len(tok) > MaxTokenLen {
		// The bounds on user, roles, issuer and audience keep every token
		// below MaxTokenLen; this holds it should they change.
		return "", time.Time{}, fmt.Errorf("session: the token would be %d bytes, more than %d", len(tok), MaxTokenLen)
	}
	return tok, w.Expiry.Time(), nil
}

// Verify checks an access token and returns its claims; a refused token
// gets an *Error (ReasonOf says why). It checks, in this order: the
// length (MaxTokenLen) before any parsing; the form (three base64url
// segments, canonical, nothing else); the header, which must be exactly
// one of those this Manager's keys produce ({"alg":"EdDSA","kid":...,
// "typ":"rampart+access"}: a jwk, jku, x5u, x5c or crit header, another
// alg or an unknown kid are refused, never fetched or used); the key's
// time window; the EdDSA signature (go-jose, EdDSA only, one signature);
// typ, iss and aud; exp, nbf and iat, all required, with Leeway; and
// the revocations (in memory: no store round trip).
//
// The same token verified again (the same cookie on the next request) is
// found in a bounded cache of verified tokens by its exact text; the time
// and the revocations are checked again, the signature is not.
func (m *Manager) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, refusal(ReasonTooLong)
	}
	if c, ok := m.verified.get(token); ok {
		if err := m.stillValid(c, m.o.Now()); err != nil {
			if ReasonOf(err) == ReasonExpired {
				m.verified.remove(token)
			}
			return Claims{}, err
		}
		c.Roles = slices.Clone(c.Roles) // the cache's copy stays the cache's
		return c, nil
	}
	c, err := m.verify(token, kindAccess, m.o.Audience)
	if err == nil {
		cached := c
		cached.Roles = slices.Clone(c.Roles)
		m.verified.put(token, cached)
	}
	return c, err
}

// VerifyAssertion checks an assertion made by Assert for audience, as
// Verify checks an access token; an access token is refused.
func (m *Manager) VerifyAssertion(token, audience string) (Claims, error) {
	return m.verify(token, kindAssertion, audience)
}

// Inspect returns the claims of an access token that Verify would accept
// but for its expiry: signed by one of this secret's keys still in the
// ring, every other claim checked, not revoked. It is for ending the
// session an expired cookie names (a user signing out after the token
// expired), never for granting access.
func (m *Manager) Inspect(token string) (Claims, bool) {
	c, err := m.check(token, kindAccess, m.o.Audience, true)
	return c, err == nil
}

func (m *Manager) verify(token string, want kind, aud string) (Claims, error) {
	return m.check(token, want, aud, false)
}

func (m *Manager) check(token string, want kind, aud string, expiredToo bool) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, refusal(ReasonTooLong)
	}
	dot, ok := compactForm(token)
	if !ok {
		return Claims{}, refusal(ReasonMalformed)
	}
	now := m.o.Now()
	ring, err := m.keys.at(now)
	if err != nil {
		return Claims{}, err
	}
	header := token[:dot]
	ent, ok := ring.byHeader[header]
	if !ok {
		return Claims{}, refusal(diagnose(header, want, func(kid string) bool { return ring.byKid[kid] != nil }))
	}
	switch {
	case ent.kind != want:
		return Claims{}, refusal(ReasonWrongType)
	case now.Before(ent.key.from):
		return Claims{}, refusal(ReasonNotYetValid)
	case !now.Before(ent.key.until) && !expiredToo:
		// Every token the key signed has expired by the end of its window.
		return Claims{}, refusal(ReasonExpired)
	}
	w, err := verifySigned(token, ent.key.kid, ent.key.pub)
	if err != nil {
		return Claims{}, err
	}
	c, err := claimsOf(w, want, m.o.Issuer, aud)
	if err != nil {
		return Claims{}, err
	}
	at := now
	if expiredToo && !now.Before(c.Expires) {
		at = c.Expires.Add(-time.Second)
	}
	if err := m.stillValid(c, at); err != nil {
		return Claims{}, err
	}
	if expiredToo && m.revoked.revoked(c.Session, c.User, c.AuthTime, now) {
		return Claims{}, &Error{Reason: ReasonRevoked, Session: c.Session, User: c.User}
	}
	return c, nil
}

// verifySigned checks the signature of a token whose header segment is
// already known to name the key kid (pub), and decodes its claims: EdDSA
// only, one signature, no embedded key.
func verifySigned(token, kid string, pub ed25519.PublicKey) (wireClaims, error) {
	tok, err := jwt.ParseSigned(token, edDSAOnly)
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].KeyID != kid || tok.Headers[0].JSONWebKey != nil {
		return wireClaims{}, refusal(ReasonMalformed)
	}
	var w wireClaims
	if err := tok.Claims(pub, &w); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return wireClaims{}, refusal(ReasonBadSignature)
		}
		return wireClaims{}, refusal(ReasonMalformed)
	}
	return w, nil
}

// claimsOf checks the claims of a token whose signature verified: the typ
// claim of the kind wanted, the issuer, exactly one audience and it the
// one wanted, and exp, nbf, iat, sub and sid present. The times are
// checked by timesValid.
func claimsOf(w wireClaims, want kind, issuer, aud string) (Claims, error) {
	switch {
	case w.Type != want.typ():
		return Claims{}, refusal(ReasonWrongType)
	case w.Issuer != issuer:
		return Claims{}, refusal(ReasonWrongIssuer)
	case len(w.Audience) != 1 || w.Audience[0] != aud:
		return Claims{}, refusal(ReasonWrongAudience)
	case w.Expiry == nil || w.NotBefore == nil || w.IssuedAt == nil || w.Subject == "" || w.Session == "":
		return Claims{}, refusal(ReasonMissingClaim)
	}
	c := Claims{
		User:      w.Subject,
		Roles:     w.Roles,
		Session:   w.Session,
		Issuer:    w.Issuer,
		Audience:  w.Audience[0],
		IssuedAt:  w.IssuedAt.Time(),
		NotBefore: w.NotBefore.Time(),
		Expires:   w.Expiry.Time(),
		AuthTime:  w.IssuedAt.Time(),
	}
	if w.AuthTime != nil {
		c.AuthTime = w.AuthTime.Time()
	}
	return c, nil
}

// timesValid checks the time now against exp, nbf and iat, with Leeway.
func timesValid(c Claims, now time.Time) error {
	switch {
	case !now.Before(c.Expires.Add(Leeway)):
		return refusal(ReasonExpired)
	case now.Add(Leeway).Before(c.NotBefore), now.Add(Leeway).Before(c.IssuedAt):
		return refusal(ReasonNotYetValid)
	}
	return nil
}

// stillValid checks what may change after a token has been verified: the
// time against exp, nbf and iat (with Leeway), and the revocations.
func (m *Manager) stillValid(c Claims, now time.Time) error {
	if err := timesValid(c, now); err != nil {
		return err
	}
	if m.revoked.revoked(c.Session, c.User, c.AuthTime, now) {
		return &Error{Reason: ReasonRevoked, Session: c.Session, User: c.User}
	}
	return nil
}

// compactForm reports whether token is three non-empty segments of
// base64url characters in canonical form (no padding, no unused bits
// set), and where its first dot is. Go's base64 decoder skips CR and LF
// and ignores unused bits: without this check, many strings would decode
// to one token.
func compactForm(token string) (int, bool) {
	dots, first, start := 0, -1, 0
	for i := 0; i <= len(token); i++ {
		if i < len(token) && token[i] != '.' {
			if !b64urlChar(token[i]) {
				return 0, false
			}
			continue
		}
		if i == start || !canonicalSegment(token[start:i]) {
			return 0, false
		}
		if i < len(token) {
			dots++
			if first < 0 {
				first = i
			}
		}
		start = i + 1
	}
	return first, dots == 2
}

func canonicalSegment(s string) bool {
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		return b64val(s[len(s)-1])&0x0f == 0
	case 3:
		return b64val(s[len(s)-1])&0x03 == 0
	}
	return true
}

func b64val(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

// diagnose says why a header segment is none of the keyring's: only for
// the log, on a token already refused.
func diagnose(segment string, want kind, known func(kid string) bool) Reason {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil {
		return ReasonMalformed
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return ReasonMalformed
	}
	var alg, kid, typ string
	if json.Unmarshal(h["alg"], &alg) != nil || alg != string(jose.EdDSA) {
		return ReasonAlgorithm
	}
	for name := range h {
		if name != "alg" && name != "kid" && name != "typ" {
			return ReasonForbiddenHeader
		}
	}
	if json.Unmarshal(h["kid"], &kid) != nil || !known(kid) {
		return ReasonUnknownKey
	}
	if json.Unmarshal(h["typ"], &typ) != nil || typ != want.typ() {
		return ReasonWrongType
	}
	return ReasonMalformed // the right fields, written otherwise than rampart writes them
}
