// Package certgen makes the certificates rampart generates itself: the
// development certificate (tlsconf) and the throwaway ones of tests
// (testcert). One place sets the key type, the serial number and how names
// become SANs.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
)

// Cert is a generated certificate and its ECDSA P-256 key.
type Cert struct {
	DER  []byte
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Create signs tmpl, with a fresh P-256 key, a random 128-bit serial
// number and names as its subject alternative names (IP addresses as IP
// SANs, the rest as DNS names), by parent; a nil parent makes the
// certificate self-signed.
func Create(tmpl *x509.Certificate, names []string, parent *Cert) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if tmpl.SerialNumber == nil {
		if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{DER: der, Cert: c, Key: key}, nil
}

// PEM returns the certificate and its PKCS #8 key, PEM-encoded.
func (c *Cert) PEM() (certPEM, keyPEM []byte, err error) {
	kder, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
