package users

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP codes are RFC 6238 with the parameters every authenticator app
// supports (Google Authenticator ignores any other): 6 digits, a 30-second
// step, HMAC-SHA1. SHA1 is not a weakness here: HMAC-SHA1 is still a sound
// PRF, and the code's strength is its 6 digits, bounded by the step's
// single use and by the login back-off.
const (
	TOTPDigits = 6
	TOTPPeriod = 30 // seconds
	// TOTPSecretBytes is the size of a new secret: 160 bits, RFC 4226's
	// recommendation (the HMAC-SHA1 block output).
	TOTPSecretBytes = 20
	// MinTOTPSecretBytes is the shortest secret the users file accepts,
	// RFC 4226's minimum of 128 bits.
	MinTOTPSecretBytes = 16
	// MaxTOTPSecretBytes bounds what the file may hold.
	MaxTOTPSecretBytes = 64
)

// NewTOTPSecret makes a random TOTP secret for the account name at issuer
// and returns it in base32 (what the users file stores) and as an
// otpauth:// URI (what an authenticator app scans, as a QR code, or takes
// pasted). issuer is what the app shows above the code, e.g. the site's
// name.
func NewTOTPSecret(issuer, name string) (secret, uri string, err error) {
	if err := checkLabel("issuer", issuer); err != nil {
		return "", "", err
	}
	if err := checkLabel("name", name); err != nil {
		return "", "", err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: name,
		Period:      TOTPPeriod,
		SecretSize:  TOTPSecretBytes,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("users: totp: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// checkLabel refuses what would break the otpauth:// label
// "issuer:name": a colon, control characters, more than 64 bytes.
func checkLabel(what, s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("users: totp: the %s must be 1 to 64 bytes", what)
	}
	for _, r := range s {
		if r == ':' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("users: totp: the %s must not contain ':' or control characters", what)
		}
	}
	return nil
}

// ValidateTOTP reports whether code is the TOTP code of secret (base32) at
// time at, within one step either side (clocks drift, and a user takes a
// few seconds to type), and whether that step is being used for the first
// time.
//
// useOnce is called with the step the code belongs to (Unix time / 30),
// only when the code matches, and must report true the first time a step
// is offered for this user and false afterwards: the caller keeps the
// used steps (for at least three steps, 90 s) keyed by user, and makes
// the check-and-record atomic. A code seen by an onlooker or a proxy is
// then refused even within its step. A stricter caller may also refuse
// any step not after the last one accepted (RFC 6238 §5.2). useOnce nil
// refuses every code.
//
// code is the digits the user typed; spaces are ignored ("123 456" as
// apps show it). Anything else than 6 digits, or a secret that is not
// base32, is refused.
func ValidateTOTP(secret, code string, at time.Time, useOnce func(step int64) bool) bool {
	if useOnce == nil {
		return false
	}
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != TOTPDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	if _, err := decodeTOTPSecret(secret); err != nil {
		return false
	}
	cur := at.Unix() / TOTPPeriod
	if at.Unix() < 0 && at.Unix()%TOTPPeriod != 0 {
		cur-- // floor
	}
	// Every step is computed, matching or not: which one matched does not
	// show in the time taken. The current step wins a tie.
	matched, found := int64(0), false
	for _, step := range [...]int64{cur, cur - 1, cur + 1} {
		ok, err := totp.ValidateCustom(code, secret, time.Unix(step*TOTPPeriod, 0), totp.ValidateOpts{
			Period:    TOTPPeriod,
			Skew:      0,
			Digits:    otp.DigitsSix,
			Algorithm: otp.AlgorithmSHA1,
		})
		if err == nil && ok && !found {
			matched, found = step, true
		}
	}
	return found && useOnce(matched)
}

var errTOTPSecret = errors.New("not base32 (A–Z, 2–7)")

// decodeTOTPSecret decodes a base32 secret as authenticator apps write
// it: upper or lower case, with or without '=' padding.
func decodeTOTPSecret(s string) ([]byte, error) {
	if len(s) > base32.StdEncoding.EncodedLen(MaxTOTPSecretBytes) {
		return nil, fmt.Errorf("longer than %d bytes", MaxTOTPSecretBytes)
	}
	s = strings.TrimRight(strings.ToUpper(s), "=")
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, errTOTPSecret
	}
	return b, nil
}
