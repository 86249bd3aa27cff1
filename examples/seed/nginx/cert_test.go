package nginx_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
)

// writeTestCert writes a throwaway CA-signed certificate for names in dir.
func writeTestCert(t *testing.T, dir string, names ...string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	p, err := testcert.Write(dir, 24*time.Hour, names...)
	if err != nil {
		t.Fatal(err)
	}
	return p.CertFile, p.KeyFile, p.Roots
}
