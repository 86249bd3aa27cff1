package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
)

// Leaf is the certificate in service for one configured host name.
type Leaf struct {
	// Name is the configured host name ("default" when no host is
	// configured): a name from the configuration, never from a client.
	Name string
	Cert *x509.Certificate
}

// Leaves returns the certificates in service, one per configured host
// (Options.Hosts), in the hosts' order, for metrics and readiness checks:
// with certificate files or the development certificate, the one
// certificate (reloaded files included) for every host; with ACME, each
// host's certificate as cached, and none for a host that has not got one
// yet. It never asks a CA for anything.
func (s *Server) Leaves(ctx context.Context) []Leaf {
	names := s.hosts
	if len(names) == 0 {
		names = []string{"default"}
	}
	var one *tls.Certificate
	switch {
	case s.files != nil:
		one = s.files.Current()
	case s.dev != nil:
		one = s.dev
	case s.acme != nil:
		var out []Leaf
		for _, h := range s.hosts {
			if c := s.cachedACME(ctx, h); c != nil {
				out = append(out, Leaf{Name: h, Cert: c})
			}
		}
		return out
	}
	leaf := leafOf(one)
	if leaf == nil {
		return nil
	}
	out := make([]Leaf, len(names))
	for i, n := range names {
		out[i] = Leaf{Name: n, Cert: leaf}
	}
	return out
}

// leafOf is c's parsed leaf certificate, or nil.
func leafOf(c *tls.Certificate) *x509.Certificate {
	if c == nil {
		return nil
	}
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// cachedACME returns host's certificate from the ACME cache, the ECDSA
// one (autocert's default) or else the RSA one, or nil.
func (s *Server) cachedACME(ctx context.Context, host string) *x509.Certificate {
	if s.acme.Cache == nil {
		return nil
	}
	for _, key := range []string{host, host + "+rsa"} {
		data, err := s.acme.Cache.Get(ctx, key)
		if err != nil {
			continue
		}
		// autocert stores the private key, then the chain, leaf first.
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				return c
			}
			break
		}
	}
	return nil
}
