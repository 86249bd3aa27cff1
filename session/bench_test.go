package session

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkVerify is the cost Verify adds to every authenticated request
// after a session's first: the same cookie again, found in the cache of
// verified tokens, its time and revocations checked again.
func BenchmarkVerify(b *testing.B) {
	m, _, _ := newTestManager(b, nil)
	tok, _, err := m.Issue("alice", []string{"staff", "admin"}, "c2Vzc2lvbi1pZC0xMjM0NQ")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyUncached is a token's first verification: length and
// form checks, the header lookup, go-jose's parse, the Ed25519 signature,
// the claims and the revocation set.
func BenchmarkVerifyUncached(b *testing.B) {
	m, _, _ := newTestManager(b, nil)
	tok, _, err := m.Issue("alice", []string{"staff", "admin"}, "c2Vzc2lvbi1pZC0xMjM0NQ")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.verify(tok, kindAccess, m.o.Audience); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRevocations10k is Verify with 10 000 revoked sessions
// and 1 000 revoked users in memory: the lookup stays O(1).
func BenchmarkVerifyRevocations10k(b *testing.B) {
	m, _, _ := newTestManager(b, nil)
	for i := range 10000 {
		m.revoked.add(Revocation{Session: "s" + strconv.Itoa(i), Until: base.Add(time.Hour)})
	}
	for i := range 1000 {
		m.revoked.add(Revocation{User: "u" + strconv.Itoa(i), Before: base, Until: base.Add(time.Hour)})
	}
	tok, _, err := m.Issue("alice", []string{"staff", "admin"}, "c2Vzc2lvbi1pZC0xMjM0NQ")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRefusedForgedHeader is the cost of a flood of forged
// tokens (alg none, unknown kid): refused before any signature check.
func BenchmarkVerifyRefusedForgedHeader(b *testing.B) {
	m, _, _ := newTestManager(b, nil)
	tok := forge(b, map[string]any{"alg": "none", "kid": "../../etc/passwd", "typ": TypeAccess}, validClaims(m, base), func([]byte) []byte { return []byte("x") })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkVerifyRefusedBadSignature: a well-formed token with a wrong
// signature costs a full verification.
func BenchmarkVerifyRefusedBadSignature(b *testing.B) {
	m, _, _ := newTestManager(b, nil)
	_, kid := ourKey(b, m, base)
	other, _ := deriveKey([]byte("another instance's secret, 32+ bytes long"), m.keys.period, m.keys.epochOf(base))
	tok := forge(b, ourHeader(kid, TypeAccess), validClaims(m, base), edSigner(other))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	m, _, _ := newTestManager(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Issue("alice", []string{"staff", "admin"}, "c2Vzc2lvbi1pZC0xMjM0NQ"); err != nil {
			b.Fatal(err)
		}
	}
}
