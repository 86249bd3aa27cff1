package session

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/hkdf"
)

// The typ of each kind of token, in its JOSE header and in its typ claim
// alike (explicit typing, RFC 8725 §3.11): a token of one kind never
// verifies as the other, whatever its audience.
const (
	TypeAccess    = "rampart+access"
	TypeAssertion = "rampart+assertion"
)

// kind indexes the two token types.
type kind uint8

const (
	kindAccess kind = iota
	kindAssertion
	kinds
)

func (k kind) typ() string {
	if k == kindAssertion {
		return TypeAssertion
	}
	return TypeAccess
}

// keyInfo is HKDF's info for the key of one period: a version (a change
// of derivation gets new keys, never a key shared between two schemes),
// the period's length (two configurations with different rotations never
// derive the same key for different times) and the epoch.
func keyInfo(period, epoch int64) []byte {
	return fmt.Appendf(nil, "rampart session signing key v1 period=%d epoch=%d", period, epoch)
}

// deriveKey derives the Ed25519 key of one epoch from the secret: every
// instance sharing the secret has the same keys, and no private key is
// ever stored.
func deriveKey(secret []byte, period, epoch int64) (ed25519.PrivateKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, keyInfo(period, epoch)), seed); err != nil {
		return nil, fmt.Errorf("session: deriving the signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// keyID is the kid of a public key: base64url(SHA-256(key)), 16
// characters (96 bits), so a kid names one key and says nothing else.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// signingKey is the key of one epoch.
type signingKey struct {
	epoch int64
	kid   string
	pub   ed25519.PublicKey
	// from and until bound when the key verifies: from a Leeway before
	// its period (a peer whose clock is ahead signs with it early) to the
	// end of its period plus the longest token life and the Leeway (the
	// last token it signed has expired by then).
	from, until time.Time
	signers     [kinds]jose.Signer
}

// headerEntry is what the JOSE header segment of a token names: a key and
// a kind.
type headerEntry struct {
	key  *signingKey
	kind kind
}

// keyring is the keys around one epoch: the previous ones that can still
// have unexpired tokens, the current one (signing), and the next one
// (published, not yet signing).
type keyring struct {
	epoch   int64
	current *signingKey
	keys    []*signingKey // oldest first; the next epoch's last
	// byHeader maps the exact header segment of each key and kind
	// (base64url of {"alg":"EdDSA","kid":...,"typ":...}, as this package
	// serializes it) to its key: a token whose header is not one of these
	// strings is refused before anything of it is decoded.
	byHeader map[string]headerEntry
	byKid    map[string]*signingKey
	jwks     []byte
}

// keys holds the keyring of the current epoch and replaces it when the
// epoch changes.
type keys struct {
	secret []byte
	period int64         // seconds
	keep   time.Duration // a key verifies this long after its period
	back   int64         // previous epochs kept
	mu     sync.Mutex
	ring   atomic.Pointer[keyring]
}

func newKeys(secret []byte, period time.Duration, longest time.Duration) *keys {
	k := &keys{secret: append([]byte(nil), secret...), period: int64(period / time.Second), keep: longest + Leeway}
	k.back = int64((k.keep + period - 1) / period)
	return k
}

func (k *keys) epochOf(t time.Time) int64 {
	s := t.Unix()
	e := s / k.period
	if s%k.period < 0 {
		e--
	}
	return e
}

func (k *keys) start(epoch int64) time.Time { return time.Unix(epoch*k.period, 0) }

// at is the keyring for the time now.
func (k *keys) at(now time.Time) (*keyring, error) {
	e := k.epochOf(now)
	if r := k.ring.Load(); r != nil && r.epoch == e {
		return r, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.ring.Load()
	if old != nil && old.epoch == e {
		return old, nil
	}
	r, err := k.build(e, old)
	if err != nil {
		return nil, err
	}
	k.ring.Store(r)
	return r, nil
}

func (k *keys) build(e int64, old *keyring) (*keyring, error) {
	r := &keyring{epoch: e, byHeader: map[string]headerEntry{}, byKid: map[string]*signingKey{}}
	reuse := map[int64]*signingKey{}
	if old != nil {
		for _, sk := range old.keys {
			reuse[sk.epoch] = sk
		}
	}
	set := jose.JSONWebKeySet{}
	for ep := e - k.back; ep <= e+1; ep++ {
		sk := reuse[ep]
		if sk == nil {
			var err error
			if sk, err = k.newKey(ep); err != nil {
				return nil, err
			}
		}
		r.keys = append(r.keys, sk)
		r.byKid[sk.kid] = sk
		for kd := kind(0); kd < kinds; kd++ {
			h, err := headerSegment(sk.signers[kd])
			if err != nil {
				return nil, err
			}
			r.byHeader[h] = headerEntry{key: sk, kind: kd}
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: sk.pub, KeyID: sk.kid, Algorithm: string(jose.EdDSA), Use: "sig"})
		if ep == e {
			r.current = sk
		}
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("session: encoding the JWKS: %w", err)
	}
	r.jwks = jwks
	return r, nil
}

func (k *keys) newKey(ep int64) (*signingKey, error) {
	priv, err := deriveKey(k.secret, k.period, ep)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	sk := &signingKey{
		epoch: ep,
		kid:   keyID(pub),
		pub:   pub,
		from:  k.start(ep).Add(-Leeway),
		until: k.start(ep + 1).Add(k.keep),
	}
	for kd := kind(0); kd < kinds; kd++ {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(kd.typ())).WithHeader("kid", sk.kid)
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
		if err != nil {
			return nil, fmt.Errorf("session: making the signer: %w", err)
		}
		sk.signers[kd] = s
	}
	return sk, nil
}

// headerSegment is the header segment every token of signer has, taken
// from go-jose's own serialization so that the two cannot differ.
func headerSegment(s jose.Signer) (string, error) {
	obj, err := s.Sign([]byte("{}"))
	if err != nil {
		return "", fmt.Errorf("session: signing: %w", err)
	}
	c, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("session: serializing: %w", err)
	}
	h, _, _ := strings.Cut(c, ".")
	return h, nil
}
