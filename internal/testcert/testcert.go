// Package testcert makes throwaway certificates for tests and benchmarks on
// loopback: a fresh certificate authority and a leaf for the given names,
// written as PEM files, with a pool that trusts the authority. Nothing here
// is fit for production use, and nothing outside tests and bench imports it.
package testcert

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"time"

	"github.com/rampart-dev/rampart/internal/certgen"
)

// Pair is a leaf certificate and its key on disk, and the roots that
// verify it.
type Pair struct {
	CertFile, KeyFile string
	Roots             *x509.CertPool
	Leaf              *x509.Certificate
}

// Write creates a CA and an ECDSA P-256 leaf for names (DNS names or IP
// addresses), valid from an hour ago for validFor, and writes the leaf to
// dir/cert.pem and dir/key.pem (mode 0600).
func Write(dir string, validFor time.Duration, names ...string) (Pair, error) {
	now := time.Now()
	ca, err := certgen.Create(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "rampart test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}, nil, nil)
	if err != nil {
		return Pair{}, err
	}
	leaf, err := certgen.Create(&x509.Certificate{
		Subject:   pkix.Name{CommonName: names[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, names, ca)
	if err != nil {
		return Pair{}, err
	}
	certPEM, keyPEM, err := leaf.PEM()
	if err != nil {
		return Pair{}, err
	}
	p := Pair{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Roots: x509.NewCertPool(), Leaf: leaf.Cert}
	p.Roots.AddCert(ca.Cert)
	if err := os.WriteFile(p.CertFile, certPEM, 0o600); err != nil {
		return Pair{}, err
	}
	if err := os.WriteFile(p.KeyFile, keyPEM, 0o600); err != nil {
		return Pair{}, err
	}
	return p, nil
}
