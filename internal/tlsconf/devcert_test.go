package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestDevCert(t *testing.T) {
	state := t.TempDir()
	c, err := DevCert(state, []string{"App.Example.", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	want := []string{"127.0.0.1", "192.0.2.1", "::1", "app.example", "localhost"}
	if got := certNames(leaf); !slices.Equal(got, want) {
		t.Errorf("names = %v, want %v", got, want)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.IsCA {
		t.Error("development certificate must not be a CA")
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	// A developer who trusts this one certificate can connect by name.
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{"localhost", "app.example", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("verify as %s: %v", name, err)
		}
	}
	dir := filepath.Join(state, DevCertDir)
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(dir, "key.pem")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}

	// Reused across runs.
	c2, err := DevCert(state, []string{"app.example", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c2.Certificate[0], c.Certificate[0]) {
		t.Error("cached certificate not reused")
	}
	// Host list changed: regenerated.
	c3, err := DevCert(state, []string{"other.example"})
	if err != nil {
		t.Fatal(err)
	}
	leaf3, _ := x509.ParseCertificate(c3.Certificate[0])
	if !slices.Contains(leaf3.DNSNames, "other.example") || slices.Contains(leaf3.DNSNames, "app.example") {
		t.Errorf("names after change = %v", leaf3.DNSNames)
	}
}

func TestDevCert_NearExpiryRegenerated(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, DevCertDir)
	os.MkdirAll(dir, 0o755) // too open: must be tightened
	now := time.Now()
	old := writePair(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "localhost", now.Add(-80*24*time.Hour), now.Add(10*24*time.Hour))
	c, err := DevCert(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	if leaf.SerialNumber.Cmp(old) == 0 {
		t.Error("certificate expiring in 10 days was reused")
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v not tightened", fi.Mode().Perm())
	}
}

func TestDevCert_BadHostRefused(t *testing.T) {
	for _, h := range []string{"evil.example/x", "a b", "user@host", "*.example", "[::1]", ""} {
		if _, err := DevCert(t.TempDir(), []string{h}); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
	if _, err := DevCert("", nil); err == nil {
		t.Error("empty state dir accepted")
	}
}
