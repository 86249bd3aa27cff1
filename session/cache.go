package session

import (
	"strings"
	"sync"
)

// verifiedCacheSize bounds the verified-token cache: at most this many
// access tokens (a few hundred bytes each, with their claims).
const verifiedCacheSize = 10000

// verifiedCache remembers the access tokens Verify has fully verified, by
// their exact text, so that the same cookie on the next request costs a
// map lookup instead of an Ed25519 verification (about 60 µs, most of
// Verify). Only a token that passed every check is entered, and only the
// identical string finds it: a forged or altered token never does. What
// can change after verification is checked again on every hit: the time
// (exp, nbf, iat with Leeway) and the revocations. When full, an arbitrary
// entry makes room (Go's map iteration order is random): an attacker can
// only add tokens that verify, so at worst the cache stops helping.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]Claims
}

func (c *verifiedCache) get(token string) (Claims, bool) {
	c.mu.RLock()
	cl, ok := c.entries[token]
	c.mu.RUnlock()
	return cl, ok
}

func (c *verifiedCache) put(token string, cl Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]Claims)
	}
	if len(c.entries) >= verifiedCacheSize {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	// A copy: the caller's string may be a slice of a whole Cookie header.
	c.entries[strings.Clone(token)] = cl
}

func (c *verifiedCache) remove(token string) {
	c.mu.Lock()
	delete(c.entries, token)
	c.mu.Unlock()
}

func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
