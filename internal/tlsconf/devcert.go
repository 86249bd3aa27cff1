package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/certgen"
)

// Development certificate lifetime and renewal margin. 90 days keeps a
// leaked development key short-lived; it is regenerated once fewer than 30
// days remain, so a running instance never serves an expired one on a
// restart.
const (
	devCertLifetime    = 90 * 24 * time.Hour
	devCertRenewBefore = 30 * 24 * time.Hour
)

// DevCertDir is the subdirectory of the state directory holding the
// development certificate (cert.pem, key.pem).
const DevCertDir = "dev-cert"

// devDefaultNames are always in the development certificate.
var devDefaultNames = []string{"localhost", "127.0.0.1", "::1"}

// DevCert returns a self-signed ECDSA P-256 certificate for localhost,
// 127.0.0.1, ::1 and hosts, cached in <stateDir>/dev-cert (directory 0700,
// key 0600) and reused across runs. A new one is generated when none is
// cached, when the cached one expires within 30 days, when it does not
// load, or when its names differ from the requested ones.
//
// Why self-signed rather than a local CA plus a leaf: trusting a local CA
// means trusting its key for every name on the internet, so anyone who
// reads the state directory can intercept all of the developer's TLS
// traffic. A self-signed certificate (not a CA: BasicConstraints CA=false)
// that the developer trusts only vouches for the names it lists. The cost is
// that the developer trusts a new certificate when the names change or it is
// renewed; for development that is acceptable.
//
// A cached key readable by group or others (a chmod -R, a restore from a
// backup) is made private before it is used, with a warning in the log.
func DevCert(stateDir string, hosts []string) (*tls.Certificate, error) {
	return devCert(stateDir, hosts, slog.Default())
}

func devCert(stateDir string, hosts []string, logger *slog.Logger) (*tls.Certificate, error) {
	if stateDir == "" {
		return nil, errors.New("state_dir: must be set to keep the development certificate")
	}
	names, err := devNames(hosts)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(stateDir, DevCertDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	// MkdirAll keeps the mode of a directory that already exists; tighten
	// it, the private key lives there.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	certFile := filepath.Join(dir, "cert.pem")
	keyFile := filepath.Join(dir, "key.pem")
	tightenKeyFile(keyFile, logger, "if other users may have read it, delete "+dir+" and restart: rampart makes a new key")
	now := time.Now()
	if c, err := loadPair(certFile, keyFile, now); err == nil &&
		c.Leaf.NotAfter.Sub(now) > devCertRenewBefore &&
		slices.Equal(certNames(c.Leaf), names) {
		return c, nil
	}
	certPEM, keyPEM, err := newDevCert(names, now)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// devNames returns the sorted, de-duplicated, lower-cased name list.
func devNames(hosts []string) ([]string, error) {
	names := append([]string(nil), devDefaultNames...)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			names = append(names, ip.String())
			continue
		}
		n, err := normalizeHost(h)
		if err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// certNames returns the DNS and IP SANs of c in devNames form.
func certNames(c *x509.Certificate) []string {
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func newDevCert(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	c, err := certgen.Create(&x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"rampart development"}, CommonName: "rampart development certificate"},
		NotBefore:   now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:    now.Add(devCertLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// CA=false, explicitly: this certificate can sign nothing else.
		BasicConstraintsValid: true,
	}, names, nil)
	if err != nil {
		return nil, nil, err
	}
	return c.PEM()
}

// writeFileAtomic writes data to a temporary file created with mode perm in
// the same directory and renames it over name, so a reader never sees a
// half-written file and the key is never readable by others, not even
// briefly.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
