package session

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/safe"
)

// Options configure a Manager. Secret is required; every other zero field
// means the default written beside it. Validate reports each problem by
// its Go field path; New makes the same checks.
type Options struct {
	// Secret is the gateway's secret (at least MinSecretLen bytes, from a
	// random source). Every signing key is derived from it (HKDF-SHA256,
	// one Ed25519 key per KeyRotation period), so instances sharing it sign
	// and verify alike without a private key ever being stored or sent.
	// Changing it ends every access token at once (sessions continue: the
	// next refresh issues a token under the new keys).
	Secret []byte

	// Issuer is the iss claim of every token, checked on verification.
	// Zero means "rampart". At most MaxNameLen bytes of printable ASCII.
	Issuer string

	// Audience is the aud claim of access tokens, checked on
	// verification. Zero means "rampart". Assertions carry the audience
	// given to Assert instead, so neither can stand for the other.
	Audience string

	// AccessTTL is the life of an access token. Zero means 1h, the seed
	// guide's (flask-jwt-extended's JWT_ACCESS_TOKEN_EXPIRES). Between 1m
	// and 24h: a revoked session is refused at once anyway (the in-memory
	// revocation set), so a longer life mostly widens what a stolen cookie
	// is worth while the revocation set must hold each logout that long.
	AccessTTL time.Duration

	// KeyRotation is how long one signing key signs. Zero means 24h: the
	// next key is in JWKS a whole period before it signs, so an
	// application caching the JWKS for up to a day never meets an unknown
	// kid; a key keeps verifying for AccessTTL (plus Leeway) after its
	// period, so rotation logs no one out. Keys are derived, not stored,
	// so rotation bounds what one key signs; a leaked Secret needs a new
	// Secret. Whole seconds, at least AccessTTL, at most 365 days.
	KeyRotation time.Duration

	// RefreshGrace is how long a refresh token just rotated is still
	// honoured, with a new access token but no new refresh token: a second
	// tab refreshing at the same moment gets in, and the browser keeps the
	// successor cookie the first response set. Zero means 10s; at most 1m,
	// since within it a stolen, already-rotated token also gets an access
	// token (never a refresh token).
	RefreshGrace time.Duration

	// IdleTimeout ends a session whose refresh token has not been used for
	// this long. Zero means 24h: an active user refreshes about once per
	// AccessTTL, so the session survives a night but not an abandoned
	// browser for a whole day. Longer than AccessTTL (otherwise every
	// session would end at its first access token's expiry).
	IdleTimeout time.Duration

	// AbsoluteTimeout ends every session this long after login, however
	// active. Zero means 7 days: a weekly password (and TOTP) prompt, well
	// inside OWASP ASVS's 30 days for level 1; a stolen refresh token that
	// evades reuse detection lives no longer. At least AccessTTL;
	// Validate warns above 30 days.
	AbsoluteTimeout time.Duration

	// Roles, when set, is asked at every refresh for the user's current
	// roles; ok false (a user removed or disabled) refuses the refresh and
	// revokes the session. Nil keeps the roles the session began with, so
	// a change of roles or a disabled user takes effect only at the next
	// login.
	Roles func(user string) (roles []string, ok bool)

	// Log receives the revocation feed's errors (the store unreachable,
	// the feed resumed). Nil means slog.Default().
	Log *slog.Logger

	// Now returns the current time. Nil means time.Now. Tests inject
	// their own.
	Now func() time.Time
}

// Defaults and bounds.
const (
	MinSecretLen           = 32
	DefaultIssuer          = "rampart"
	DefaultAudience        = "rampart"
	DefaultAccessTTL       = time.Hour
	DefaultKeyRotation     = 24 * time.Hour
	DefaultRefreshGrace    = 10 * time.Second
	DefaultIdleTimeout     = 24 * time.Hour
	DefaultAbsoluteTimeout = 7 * 24 * time.Hour

	// AssertionTTL is the life of an assertion: the application checks it
	// as the request arrives, so a minute covers clock skew, and a leaked
	// one is soon worthless.
	AssertionTTL = time.Minute

	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = time.Minute

	// MaxTokenLen bounds a token, checked before any parsing: a cookie's
	// name and value must fit in 4096 bytes, and a larger header is not
	// worth decoding. Issue never produces a longer token.
	MaxTokenLen = 3840

	// MaxRoles, MaxRoleLen, MaxUserLen and MaxNameLen bound what a token
	// carries, so that a token always fits in MaxTokenLen.
	MaxRoles   = 32
	MaxRoleLen = 32
	MaxUserLen = 128
	MaxNameLen = 128
)

const (
	minAccessTTL    = time.Minute
	maxAccessTTL    = 24 * time.Hour
	maxKeyRotation  = 365 * 24 * time.Hour
	maxRefreshGrace = time.Minute
	warnAbsolute    = 30 * 24 * time.Hour
)

// Validate checks o and returns every problem, errors and warnings, each
// on the Go path of its field ("Secret", "AccessTTL"). New makes exactly
// these checks and refuses o when one is an error. The Secret is never
// repeated in a message.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	switch {
	case len(o.Secret) == 0:
		errs.Errorf("Secret", "generate one: head -c 32 /dev/urandom | base64", "is required")
	case len(o.Secret) < MinSecretLen:
		errs.Errorf("Secret", "generate one: head -c 32 /dev/urandom | base64", "must be at least %d bytes, got %d", MinSecretLen, len(o.Secret))
	}
	checkName(&errs, "Issuer", o.Issuer)
	checkName(&errs, "Audience", o.Audience)
	d := o.withDefaults()
	switch {
	case o.AccessTTL < 0, o.AccessTTL != 0 && o.AccessTTL < minAccessTTL, o.AccessTTL > maxAccessTTL:
		errs.Errorf("AccessTTL", "1h is the default", "must be between %v and %v, got %v", minAccessTTL, maxAccessTTL, o.AccessTTL)
		return errs // the other durations are checked against it
	}
	switch {
	case o.KeyRotation < 0, o.KeyRotation > maxKeyRotation, o.KeyRotation%time.Second != 0:
		errs.Errorf("KeyRotation", "24h is the default", "must be a whole number of seconds up to %v, got %v", maxKeyRotation, o.KeyRotation)
	case d.KeyRotation < d.AccessTTL:
		errs.Errorf("KeyRotation", "rotate keys no faster than access tokens expire", "%v is shorter than AccessTTL (%v)", d.KeyRotation, d.AccessTTL)
	}
	if o.RefreshGrace < 0 || o.RefreshGrace > maxRefreshGrace {
		errs.Errorf("RefreshGrace", "10s is the default", "must be between 0 and %v, got %v", maxRefreshGrace, o.RefreshGrace)
	}
	switch {
	case o.IdleTimeout < 0:
		errs.Errorf("IdleTimeout", "24h is the default", "must not be negative, got %v", o.IdleTimeout)
	case d.IdleTimeout <= d.AccessTTL:
		errs.Errorf("IdleTimeout", "an active user refreshes once per AccessTTL; make it longer",
			"%v is not longer than AccessTTL (%v): every session would end when its first access token does", d.IdleTimeout, d.AccessTTL)
	}
	switch {
	case o.AbsoluteTimeout < 0:
		errs.Errorf("AbsoluteTimeout", "7 days is the default", "must not be negative, got %v", o.AbsoluteTimeout)
	case d.AbsoluteTimeout < d.AccessTTL:
		errs.Errorf("AbsoluteTimeout", "make it at least AccessTTL", "%v is shorter than AccessTTL (%v)", d.AbsoluteTimeout, d.AccessTTL)
	case d.AbsoluteTimeout > warnAbsolute:
		errs.Warnf("AbsoluteTimeout", "OWASP ASVS asks for re-authentication at least every 30 days",
			"%v lets a session, and a stolen refresh token, live longer than 30 days", d.AbsoluteTimeout)
	}
	return errs
}

// withDefaults is o with every zero field replaced by its default.
func (o Options) withDefaults() Options {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if o.KeyRotation == 0 {
		o.KeyRotation = DefaultKeyRotation
	}
	if o.RefreshGrace == 0 {
		o.RefreshGrace = DefaultRefreshGrace
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.AbsoluteTimeout == 0 {
		o.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// checkName checks an issuer or an audience: printable ASCII, so that it
// is the same text in the token, in the JWKS consumer's configuration and
// in a log line, and bounded, so that every token fits in MaxTokenLen.
func checkName(errs *field.Errors, path, s string) {
	if err := validName(s); err != nil {
		errs.Errorf(path, "", "%v", err)
	}
}

func validName(s string) error {
	if len(s) > MaxNameLen {
		return fmt.Errorf("must be at most %d bytes, got %d", MaxNameLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || strings.IndexByte(`"\<>&`, c) >= 0 {
			return fmt.Errorf(`must be printable ASCII without spaces or any of " \ < > &`)
		}
	}
	return nil
}

// validUser: a user name goes into the sub claim and, at the gateway, into
// a request header for the application: printable Unicode (spaces
// included, no control or format characters), bounded.
func validUser(s string) error {
	if s == "" || len(s) > MaxUserLen {
		return fmt.Errorf("user must be 1-%d bytes, got %d", MaxUserLen, len(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("user is not valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("user holds a character that is not printable (%U)", r)
		}
	}
	return nil
}

// validRoles: each role letters, digits, '_', '-' or '.' (no comma, no
// space: the gateway joins them with commas in a header; nothing JSON
// escapes, so their size in a token is their length), bounded in length
// and number.
func validRoles(roles []string) error {
	if len(roles) > MaxRoles {
		return fmt.Errorf("at most %d roles, got %d", MaxRoles, len(roles))
	}
	for _, r := range roles {
		if !validRole(r) {
			return fmt.Errorf("role %q must be 1-%d letters, digits, '_', '-' or '.'", safe.Clean(r, 64), MaxRoleLen)
		}
	}
	return nil
}

func validRole(r string) bool {
	if r == "" || len(r) > MaxRoleLen {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; !b64urlChar(c) && c != '.' {
			return false
		}
	}
	return true
}

// validSID: a session id is base64url (Start makes 22 characters).
func validSID(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("session id must be 1-64 characters, got %d", len(s))
	}
	for i := 0; i < len(s); i++ {
		if !b64urlChar(s[i]) {
			return fmt.Errorf("session id must be base64url characters")
		}
	}
	return nil
}

func b64urlChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
