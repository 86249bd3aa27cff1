package session

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/hkdf"
)

// epochStart is the start of the epoch after base with default rotation.
var epochStart = base.Truncate(24 * time.Hour).Add(24 * time.Hour)

func TestDeriveKey_PinnedDerivation(t *testing.T) {
	// The derivation is a compatibility contract between instances of
	// different versions: pin its info string.
	r := hkdf.New(sha256.New, testSecret, nil, []byte("rampart session signing key v1 period=86400 epoch=20522"))
	seed := make([]byte, 32)
	if _, err := io.ReadFull(r, seed); err != nil {
		t.Fatal(err)
	}
	got, err := deriveKey(testSecret, 86400, 20522)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ed25519.NewKeyFromSeed(seed)) {
		t.Fatal("the derivation changed")
	}
	other, _ := deriveKey(testSecret, 3600, 20522)
	if bytes.Equal(got, other) {
		t.Fatal("two rotation periods derive the same key for one epoch number")
	}
}

func TestKeys_InstancesSharingTheSecretShareKeys(t *testing.T) {
	a, _, _ := newTestManager(t, nil)
	b, _, _ := newTestManager(t, nil)
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Fatal("two instances with one secret publish different keys")
	}
	tok, _, err := a.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); err != nil {
		t.Fatalf("a token of one instance is refused by the other: %v", err)
	}
}

func TestKeys_TokenSignedBeforeRotationVerifiesAfter(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	c.Set(epochStart.Add(-time.Second))
	before, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	c.Set(epochStart.Add(59 * time.Minute))
	if _, err := m.Verify(before); err != nil {
		t.Fatalf("a token signed a second before the rotation is refused after it: %v", err)
	}
	after, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	if kid(t, before) == kid(t, after) {
		t.Fatal("the same key signs after the rotation")
	}
	// Once every token of the old key has expired, the old key is
	// refused outright.
	c.Set(epochStart.Add(DefaultAccessTTL + Leeway))
	_, err = m.Verify(before)
	wantReason(t, err, ReasonExpired)
}

func TestKeys_NextKeyPublishedBeforeUse(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	jwks := parseJWKS(t, m.JWKS())
	c.Set(epochStart.Add(time.Second))
	tok, _, err := m.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	k, ok := jwks[kid(t, tok)]
	if !ok {
		t.Fatalf("the key signing after the rotation (%s) was not in the JWKS published a day before", kid(t, tok))
	}
	// An application verifying with the JWKS it fetched earlier accepts
	// the new token.
	if _, err := jwsVerify(tok, k); err != nil {
		t.Fatalf("the published key does not verify the token: %v", err)
	}
}

func TestKeys_PeerWithClockAheadSignsWithNextKey(t *testing.T) {
	m, c, _ := newTestManager(t, nil)
	peer, pc, _ := newTestManager(t, nil)
	c.Set(epochStart.Add(-30 * time.Second))
	pc.Set(epochStart.Add(time.Second)) // 31s ahead: already signing with the next key
	tok, _, err := peer.Issue("alice", nil, "sid")
	if err != nil {
		t.Fatal(err)
	}
	// Its iat/nbf are 31s ahead too, within Leeway.
	if _, err := m.Verify(tok); err != nil {
		t.Fatalf("a token of a peer whose clock is 31s ahead is refused: %v", err)
	}
	c.Set(epochStart.Add(-2 * time.Hour))
	_, err = m.Verify(tok)
	wantReason(t, err, ReasonNotYetValid)
}

func TestJWKS_CurrentPreviousAndNextPublicKeysOnly(t *testing.T) {
	m, _, _ := newTestManager(t, nil)
	raw := m.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	ring, _ := m.keys.at(base)
	want := map[string]bool{}
	for _, sk := range ring.keys {
		want[sk.kid] = true
	}
	// Defaults: one previous epoch (1h tokens, 24h rotation), the
	// current and the next.
	if len(set.Keys) != 3 || len(want) != 3 {
		t.Fatalf("JWKS has %d keys (ring %d), want 3", len(set.Keys), len(want))
	}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key holds private member %q: %v", private, k)
			}
		}
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || !want[k["kid"].(string)] {
			t.Errorf("JWKS key %v", k)
		}
	}
	if !want[ring.current.kid] || ring.keys[len(ring.keys)-1].epoch != ring.epoch+1 {
		t.Error("the ring misses the current or the next key")
	}
	raw[0] = 'X'
	if m.JWKS()[0] != '{' {
		t.Fatal("JWKS returns the Manager's own buffer")
	}
}

func kid(t *testing.T, tok string) string {
	t.Helper()
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return obj.Signatures[0].Header.KeyID
}

func parseJWKS(t *testing.T, raw []byte) map[string]jose.JSONWebKey {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS key %s is not public", k.KeyID)
		}
		out[k.KeyID] = k
	}
	return out
}

func jwsVerify(tok string, k jose.JSONWebKey) ([]byte, error) {
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, err
	}
	return obj.Verify(k)
}
