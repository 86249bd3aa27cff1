package tlsconf

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Leaves names each configured host with the certificate in service, and
// follows a reload of the files.
func TestLeaves_Files(t *testing.T) {
	certFile, keyFile := filePaths(t)
	now := time.Now()
	first := writePair(t, certFile, keyFile, "a.example", now.Add(-time.Hour), now.Add(24*time.Hour))
	s, err := New(Options{CertFile: certFile, KeyFile: keyFile, Hosts: []string{"a.example", "b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Leaves(context.Background())
	if len(got) != 2 || got[0].Name != "a.example" || got[1].Name != "b.example" || got[0].Cert.SerialNumber.Cmp(first) != 0 {
		t.Fatalf("leaves %+v", got)
	}
	second := writePair(t, certFile, keyFile, "a.example", now.Add(-time.Hour), now.Add(48*time.Hour))
	bumpMtime(t, certFile, keyFile)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	got = s.Leaves(context.Background())
	if got[0].Cert.SerialNumber.Cmp(second) != 0 {
		t.Errorf("after reload, serial %v, want %v", got[0].Cert.SerialNumber, second)
	}
}

// Without hosts, the one certificate is named "default".
func TestLeaves_DevCertWithoutHosts(t *testing.T) {
	s, err := New(Options{InsecureDevCertificate: true, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Leaves(context.Background())
	if len(got) != 1 || got[0].Name != "default" || got[0].Cert == nil || got[0].Cert.NotAfter.Before(time.Now()) {
		t.Fatalf("leaves %+v", got)
	}
}

// With ACME, a host's certificate comes from the cache, and a host
// without one yet is left out: nothing is asked of the CA.
func TestLeaves_ACMEFromCache(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{ACME: &ACMEOptions{DirectoryURL: "https://127.0.0.1:1/dir"}, Hosts: []string{"a.example.com", "b.example.com"}, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Leaves(context.Background()); len(got) != 0 {
		t.Fatalf("empty cache: leaves %+v", got)
	}
	certFile, keyFile := filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem")
	serial := writePair(t, certFile, keyFile, "b.example.com", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	key, _ := os.ReadFile(keyFile)
	cert, _ := os.ReadFile(certFile)
	// autocert's cache entry: the key ("EC PRIVATE KEY" or PKCS#8), then the chain.
	if err := s.acme.Cache.Put(context.Background(), "b.example.com", append(key, cert...)); err != nil {
		t.Fatal(err)
	}
	got := s.Leaves(context.Background())
	if len(got) != 1 || got[0].Name != "b.example.com" || got[0].Cert.SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("leaves %+v", got)
	}
	// A corrupt entry is skipped, not a panic.
	s.acme.Cache.Put(context.Background(), "a.example.com", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	if got := s.Leaves(context.Background()); len(got) != 1 {
		t.Fatalf("leaves %+v", got)
	}
}
