// Package users holds rampart's user accounts: the users file (YAML: names,
// argon2id password hashes, roles, a disabled flag, an optional TOTP
// secret), password hashing and verification, and TOTP codes.
//
// Everything that costs memory or CPU on behalf of a client is bounded:
// a hash's parameters are capped when it is decoded, so a hostile or
// corrupted hash in the file cannot make one verification cost unbounded
// memory or time; every hash and verification in the process shares one
// memory budget (see VerifyContext), so a login flood queues instead of
// exhausting RAM; and an unknown user costs the same hash as a wrong
// password (File.Check, VerifyUnknown), so timing does not tell who has an
// account.
//
// Nothing in this package logs or returns a password, a hash or a TOTP
// secret in an error message.
package users
