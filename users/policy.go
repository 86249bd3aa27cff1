package users

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinPasswordLength is the fewest characters a new password may have.
// NIST SP 800-63B (revision 4) requires 15 for a password that is the only
// factor, 8 with a second one; a user of the file may have no TOTP, so
// the stricter figure holds. Length is what makes a password hard to
// guess; there are no composition rules (NIST advises against them), and
// a passphrase of a few words passes easily.
const MinPasswordLength = 15

// CheckNewPassword reports why password should not be set for the user
// name: shorter than MinPasswordLength characters, longer than
// MaxPasswordBytes, not valid UTF-8, the user name itself (in any case),
// or a single character repeated. Verification accepts any password; this
// is for setting one.
func CheckNewPassword(name, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return fmt.Errorf("the password is not valid UTF-8")
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("the password is longer than %d bytes", MaxPasswordBytes)
	case n < MinPasswordLength:
		return fmt.Errorf("the password has %d characters, fewer than %d", n, MinPasswordLength)
	case strings.EqualFold(password, name):
		return fmt.Errorf("the password is the user name")
	case strings.Count(password, password[:1]) == len(password):
		return fmt.Errorf("the password is one character repeated")
	}
	return nil
}
