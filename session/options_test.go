package session

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/field"
)

func TestValidate_ZeroOptionsRefusedForTheSecretOnly(t *testing.T) {
	errs := Options{}.Validate()
	if len(errs) != 1 || errs[0].Path != "Secret" || errs[0].Warning {
		t.Fatalf("Validate(zero) = %v, want one error on Secret", errs)
	}
}

func TestValidate_Findings(t *testing.T) {
	long := strings.Repeat("x", MaxNameLen+1)
	for _, tc := range []struct {
		name    string
		edit    func(*Options)
		path    string
		warning bool
	}{
		{"short secret", func(o *Options) { o.Secret = []byte("0123456789abcdef0123456789abcde") }, "Secret", false},
		{"issuer too long", func(o *Options) { o.Issuer = long }, "Issuer", false},
		{"issuer with a quote", func(o *Options) { o.Issuer = `a"b` }, "Issuer", false},
		{"audience with a space", func(o *Options) { o.Audience = "a b" }, "Audience", false},
		{"audience with a control character", func(o *Options) { o.Audience = "a\nb" }, "Audience", false},
		{"access ttl negative", func(o *Options) { o.AccessTTL = -time.Second }, "AccessTTL", false},
		{"access ttl below a minute", func(o *Options) { o.AccessTTL = 30 * time.Second }, "AccessTTL", false},
		{"access ttl above a day", func(o *Options) { o.AccessTTL = 25 * time.Hour }, "AccessTTL", false},
		{"key rotation not whole seconds", func(o *Options) { o.KeyRotation = 24*time.Hour + time.Millisecond }, "KeyRotation", false},
		{"key rotation faster than tokens expire", func(o *Options) { o.KeyRotation = 30 * time.Minute }, "KeyRotation", false},
		{"key rotation above a year", func(o *Options) { o.KeyRotation = 366 * 24 * time.Hour }, "KeyRotation", false},
		{"refresh grace above a minute", func(o *Options) { o.RefreshGrace = 2 * time.Minute }, "RefreshGrace", false},
		{"refresh grace negative", func(o *Options) { o.RefreshGrace = -time.Second }, "RefreshGrace", false},
		{"idle timeout not above access ttl", func(o *Options) { o.IdleTimeout = time.Hour }, "IdleTimeout", false},
		{"idle timeout negative", func(o *Options) { o.IdleTimeout = -time.Hour }, "IdleTimeout", false},
		{"absolute timeout below access ttl", func(o *Options) { o.AbsoluteTimeout = 30 * time.Minute }, "AbsoluteTimeout", false},
		{"absolute timeout above 30 days", func(o *Options) { o.AbsoluteTimeout = 31 * 24 * time.Hour }, "AbsoluteTimeout", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Secret: testSecret}
			tc.edit(&o)
			errs := o.Validate()
			if len(errs) != 1 || errs[0].Path != tc.path || errs[0].Warning != tc.warning {
				t.Fatalf("Validate = %#v, want one finding on %s (warning %v)", errs, tc.path, tc.warning)
			}
			_, err := New(o, NewMemoryStore())
			if tc.warning != (err == nil) {
				t.Fatalf("New = %v; Validate found %v", err, errs)
			}
			if err != nil {
				var got field.Errors
				if !errors.As(err, &got) || got.Error() != errs.Error() {
					t.Fatalf("New refused with %v, Validate found %v", err, errs)
				}
			}
		})
	}
}

func TestValidate_ShortSecretNotEchoed(t *testing.T) {
	secret := []byte("hunter2-hunter2-hunter2")
	errs := Options{Secret: secret}.Validate()
	if strings.Contains(errs.Error(), string(secret)) {
		t.Fatalf("the secret is in the message: %v", errs)
	}
}

func TestNew_RequiresAStore(t *testing.T) {
	if _, err := New(Options{Secret: testSecret}, nil); err == nil {
		t.Fatal("New accepted a nil Store")
	}
}

func TestNew_KeepsNoReferenceToTheCallersSecret(t *testing.T) {
	secret := bytes.Clone(testSecret)
	c := &clock{t: base}
	m, err := New(Options{Secret: secret, Now: c.Now}, NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	for i := range secret {
		secret[i] = 0
	}
	m.keys.ring.Store(nil) // force a new derivation
	if _, err := m.Verify(tok); err != nil {
		t.Fatalf("the caller clearing its secret changed the keys: %v", err)
	}
}

func TestNew_DefaultsApplied(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	tok, exp, err := m.Issue("alice", []string{"staff"}, "sid")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(base.Add(DefaultAccessTTL)) {
		t.Errorf("expiry %v, want %v", exp, base.Add(DefaultAccessTTL))
	}
	c, err := m.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != DefaultIssuer || c.Audience != DefaultAudience {
		t.Errorf("iss %q aud %q, want %q %q", c.Issuer, c.Audience, DefaultIssuer, DefaultAudience)
	}
	if m.o.KeyRotation != DefaultKeyRotation || m.o.RefreshGrace != DefaultRefreshGrace ||
		m.o.IdleTimeout != DefaultIdleTimeout || m.o.AbsoluteTimeout != DefaultAbsoluteTimeout {
		t.Errorf("defaults not applied: %+v", m.o)
	}
}
