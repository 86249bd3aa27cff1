package session

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// testSecret is a fixed secret for tests (a real one comes from a random
// source).
var testSecret = []byte("test secret: 0123456789abcdef0123456789abcdef")

// base is the middle of a 24h epoch, so that tests that do not mean to
// cross a rotation do not.
var base = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// newTestManager builds a Manager on a MemoryStore with a fake clock at
// base; edit adjusts the options first.
func newTestManager(t testing.TB, edit func(*Options)) (*Manager, *clock, *MemoryStore) {
	t.Helper()
	c := &clock{t: base}
	st := NewMemoryStore()
	o := Options{Secret: testSecret, Now: c.Now}
	if edit != nil {
		edit(&o)
	}
	m, err := New(o, st)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, c, st
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// forge builds a compact JWS from a header and claims of the caller's
// choosing, signed by sign (nil: an empty signature).
func forge(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64(sig)
}

// validClaims are the claims of a good access token of m at now.
func validClaims(m *Manager, now time.Time) map[string]any {
	return map[string]any{
		"iss": m.o.Issuer, "sub": "alice", "aud": m.o.Audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(),
		"sid": "c2Vzc2lvbi1pZC0xMjM0NQ", "roles": []string{"staff"}, "typ": TypeAccess,
	}
}

// ourKey is the private key m signs with at now: what an attacker does
// not have, used to show that a test's token is refused for the one thing
// it changes.
func ourKey(t testing.TB, m *Manager, now time.Time) (ed25519.PrivateKey, string) {
	t.Helper()
	ep := m.keys.epochOf(now)
	priv, err := deriveKey(testSecret, m.keys.period, ep)
	if err != nil {
		t.Fatal(err)
	}
	return priv, keyID(priv.Public().(ed25519.PublicKey))
}

func ourHeader(kid, typ string) map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": kid, "typ": typ}
}

func edSigner(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

func wantReason(t testing.TB, err error, want Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refused (%v)", want)
	}
	if got := ReasonOf(err); got != want {
		t.Fatalf("refused for %v (%v), want %v", got, err, want)
	}
}
