package users

import (
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238's SHA1 secret, "12345678901234567890", in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// used is a use-once record as the caller keeps it: each step once.
type used map[int64]bool

func (u used) once(step int64) bool {
	if u[step] {
		return false
	}
	u[step] = true
	return true
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPRFC6238Vector(t *testing.T) {
	// RFC 6238 Appendix B: T = 59 s gives 94287082 with 8 digits; the
	// 6-digit code is its last six.
	at := time.Unix(59, 0)
	if !ValidateTOTP(rfcSecret, "287082", at, used{}.once) {
		t.Fatal("the RFC 6238 test vector is refused")
	}
	if !ValidateTOTP(strings.ToLower(rfcSecret), "287 082", at, used{}.once) {
		t.Fatal("a lower-case secret or a code typed with a space is refused")
	}
}

func TestTOTPSkewIsOneStep(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC)
	c := code(t, rfcSecret, at)
	for _, d := range []time.Duration{0, 30 * time.Second, -30 * time.Second, 44 * time.Second} {
		if !ValidateTOTP(rfcSecret, c, at.Add(d), used{}.once) {
			t.Errorf("code refused %v from its step", d)
		}
	}
	for _, d := range []time.Duration{-46 * time.Second, 60 * time.Second, 10 * time.Minute} {
		if ValidateTOTP(rfcSecret, c, at.Add(d), used{}.once) {
			t.Errorf("code accepted %v from its step: the window is wider than one step", d)
		}
	}
}

// An onlooker (or a phishing proxy) replays the code the user just typed.
// The step is used once: refused in the same step, and in the next one,
// where the code is still within the skew.
func TestTOTPReplayedCodeIsRefused(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := code(t, rfcSecret, at)
	u := used{}
	if !ValidateTOTP(rfcSecret, c, at, u.once) {
		t.Fatal("first use refused")
	}
	if ValidateTOTP(rfcSecret, c, at.Add(5*time.Second), u.once) {
		t.Error("the same code was accepted twice within its step")
	}
	if ValidateTOTP(rfcSecret, c, at.Add(35*time.Second), u.once) {
		t.Error("the code was accepted again in the next step")
	}
	if !u[at.Unix()/30] || len(u) != 1 {
		t.Errorf("useOnce saw %v, want only the code's own step %d", u, at.Unix()/30)
	}
	// The next step's code is a new code.
	if !ValidateTOTP(rfcSecret, code(t, rfcSecret, at.Add(30*time.Second)), at.Add(35*time.Second), u.once) {
		t.Error("the next step's code was refused")
	}
}

func TestTOTPRefusals(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := code(t, rfcSecret, at)
	called := false
	spy := func(int64) bool { called = true; return true }
	for name, tc := range map[string]struct{ secret, code string }{
		"WrongCode":     {rfcSecret, map[bool]string{true: "000000", false: "111111"}[c == "111111"]},
		"FiveDigits":    {rfcSecret, c[:5]},
		"SevenDigits":   {rfcSecret, c + "0"},
		"Letters":       {rfcSecret, "12a456"},
		"SignedNumber":  {rfcSecret, "+" + c[1:]},
		"Empty":         {rfcSecret, ""},
		"SecretNotB32":  {"not base32!", c},
		"SecretEmpty":   {"", c},
		"UnicodeDigits": {rfcSecret, "１２３４５６"},
	} {
		called = false
		if ValidateTOTP(tc.secret, tc.code, at, spy) {
			t.Errorf("%s: accepted", name)
		}
		if called {
			t.Errorf("%s: useOnce called for a code that does not match", name)
		}
	}
	if ValidateTOTP(rfcSecret, c, at, nil) {
		t.Error("a nil useOnce accepts codes: nothing stops a replay")
	}
}

func TestNewTOTPSecret(t *testing.T) {
	secret, uri, err := NewTOTPSecret("Example Co", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(b) != TOTPSecretBytes {
		t.Fatalf("secret %q decodes to %d bytes, %v", secret, len(b), err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != secret || q.Get("issuer") != "Example Co" ||
		q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("uri = %s", uri)
	}
	if !strings.Contains(u.Path, "Example Co:alice@example.com") {
		t.Errorf("label = %q", u.Path)
	}
	other, _, _ := NewTOTPSecret("Example Co", "alice@example.com")
	if other == secret {
		t.Error("two secrets are equal")
	}
	now := time.Now()
	if !ValidateTOTP(secret, code(t, secret, now), now, used{}.once) {
		t.Error("a code of the new secret is refused")
	}
	for _, bad := range [][2]string{{"", "alice"}, {"Ex:ample", "alice"}, {"Example", "a:lice"}, {"Example\n", "alice"}, {strings.Repeat("x", 65), "alice"}} {
		if _, _, err := NewTOTPSecret(bad[0], bad[1]); err == nil {
			t.Errorf("NewTOTPSecret(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
