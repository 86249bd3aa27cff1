package session

import "errors"

// Reason says why a token was refused. It is for the server's log: a
// client is only ever told 401, whatever the reason.
type Reason uint8

// Reasons a token is refused.
const (
	_ Reason = iota
	// Access tokens and assertions.
	ReasonMalformed       // not a compact JWS of rampart's form (garbage, bad base64, extra characters)
	ReasonTooLong         // longer than MaxTokenLen; refused before any parsing
	ReasonAlgorithm       // alg other than EdDSA (none, HS256 with the public key, RS256, ES256, ...)
	ReasonForbiddenHeader // a header rampart never sets: jwk, jku, x5u, x5c, crit, ...
	ReasonUnknownKey      // no kid, or a kid that is not one of this secret's keys
	ReasonBadSignature    // the signature does not verify under the kid's key
	ReasonWrongType       // an access token where an assertion is expected, or the reverse
	ReasonWrongIssuer     // iss is not Options.Issuer
	ReasonWrongAudience   // aud is not the expected audience
	ReasonMissingClaim    // exp, nbf, iat, sub or sid absent
	ReasonExpired         // past exp (plus Leeway)
	ReasonNotYetValid     // before nbf or iat (minus Leeway)
	ReasonRevoked         // the session, or every session of the user, was ended
	// Refresh tokens.
	ReasonUnknownRefresh // a refresh token of no session (never issued, or forgotten)
	ReasonSessionExpired // the session passed its idle or absolute timeout
	ReasonReused         // a rotated refresh token presented again after the grace: the session is revoked
	ReasonUserDisabled   // Options.Roles no longer knows the user: the session is revoked
)

var reasonNames = [...]string{
	ReasonMalformed:       "malformed",
	ReasonTooLong:         "too_long",
	ReasonAlgorithm:       "algorithm",
	ReasonForbiddenHeader: "forbidden_header",
	ReasonUnknownKey:      "unknown_kid",
	ReasonBadSignature:    "bad_signature",
	ReasonWrongType:       "wrong_typ",
	ReasonWrongIssuer:     "wrong_iss",
	ReasonWrongAudience:   "wrong_aud",
	ReasonMissingClaim:    "missing_claim",
	ReasonExpired:         "expired",
	ReasonNotYetValid:     "not_yet_valid",
	ReasonRevoked:         "revoked",
	ReasonUnknownRefresh:  "unknown_refresh",
	ReasonSessionExpired:  "session_expired",
	ReasonReused:          "refresh_reuse",
	ReasonUserDisabled:    "user_disabled",
}

// String is the reason's name for a log field: "expired", "unknown_kid".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "invalid"
}

// Error is a refused token: what is wrong and, for a refresh token whose
// session was found, whose session it is (for the security log: a reuse
// is logged as authn_token_reuse with the user and session).
type Error struct {
	Reason  Reason
	Session string // the session id, when known
	User    string // the session's user, when known
}

func (e *Error) Error() string { return "session: token refused: " + e.Reason.String() }

// ReasonOf is the Reason of a refused token, or 0 when err is not a
// refusal (nil, or a failure of the store: the token may be good, the
// request should be retried, not logged out).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return 0
}

// refusal makes the error of a refused token.
func refusal(r Reason) error { return &Error{Reason: r} }
