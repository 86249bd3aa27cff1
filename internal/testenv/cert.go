package testenv

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
)

// WriteCert writes a throwaway CA-signed certificate for names into dir,
// valid for 90 days, and returns its files and the roots that verify it.
func WriteCert(t testing.TB, dir string, names ...string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	p, err := testcert.Write(dir, 90*24*time.Hour, names...)
	if err != nil {
		t.Fatal(err)
	}
	return p.CertFile, p.KeyFile, p.Roots
}
