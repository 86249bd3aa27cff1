// Package session issues and verifies rampart's session tokens: short
// access tokens (JWT, EdDSA) for a cookie, opaque refresh tokens rotated on
// every use with reuse detection, revocation of a session or of every
// session of a user, and assertions for the application behind the
// gateway. What sessions need across requests and instances (refresh-token
// families, revocations) is in a Store: MemoryStore serves one process;
// session/storetest checks any implementation against the Store's
// contract.
//
// # Keys
//
// No key is stored. The Ed25519 key of each KeyRotation period (an epoch)
// is derived from the Secret with HKDF-SHA256 (info "rampart session
// signing key v1", the period and the epoch), so every instance sharing the
// Secret signs and verifies alike. A token is signed with the current
// epoch's key; it verifies under its kid (base64url of the public key's
// SHA-256, 16 characters) while the key can still have unexpired tokens.
// JWKS publishes those keys and the next epoch's, a whole period before it
// signs.
//
// # Access tokens
//
// Header {"alg":"EdDSA","kid":...,"typ":"rampart+access"}; claims sub,
// roles, sid, auth_time, iat, nbf, exp, iss, aud and typ (the header's typ
// again). Verify refuses anything else: a token longer than MaxTokenLen
// before parsing it, a header that is not exactly one this package writes
// (so alg none, HS256 keyed with the public key, RS256, ES256, an
// embedded jwk, a jku or x5u to fetch, an unknown or path-like kid never
// reach a verifier, and nothing is ever fetched), a bad signature, a wrong
// typ, iss or aud, a missing exp, nbf or iat, a time outside them with
// Leeway, a revoked session. Each refusal is an *Error with a Reason for
// the log.
//
// # Refresh tokens
//
// 32 random bytes, base64url; the store keeps their SHA-256 only. Each
// session is a family: Refresh rotates the token (Store.Rotate, atomic),
// gives the previous token a grace window for concurrent refreshes (a new
// access token, no new refresh token), and revokes the family when an
// older token comes back (ReasonReused: log authn_token_reuse). Sessions
// end after IdleTimeout without a refresh, and AbsoluteTimeout after
// login.
//
// # Revocation
//
// Logout and LogoutUser revoke through the store, which announces each
// revocation to every instance sharing it; Verify consults an in-memory set
// fed by that announcement (a map lookup, no store round trip), so a
// revoked session's access token is refused at once, not when it expires.
//
// # Assertions
//
// Assert signs, for the application, who the request is from: same keys,
// typ "rampart+assertion", the application's audience, a life of
// AssertionTTL. The application verifies it against JWKS:
// NewAssertionVerifier builds a verifier from the JWKS alone (the secret
// stays with the gateway) that makes VerifyAssertion's checks.
package session
