package tlsconf

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func filePaths(t *testing.T) (string, string) {
	dir := t.TempDir()
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

func TestFileCert_Reload(t *testing.T) {
	cf, kf := filePaths(t)
	now := time.Now()
	s1 := writePair(t, cf, kf, "one.example", now.Add(-time.Hour), now.Add(time.Hour))
	logger, logs := testLogger()
	f, err := LoadFiles(cf, kf, logger)
	if err != nil {
		t.Fatal(err)
	}
	if f.Current().Leaf.SerialNumber.Cmp(s1) != 0 {
		t.Fatal("wrong initial certificate")
	}
	if changed, err := f.Reload(); changed || err != nil {
		t.Fatalf("unchanged files: Reload = %v, %v", changed, err)
	}
	s2 := writePair(t, cf, kf, "two.example", now.Add(-time.Hour), now.Add(time.Hour))
	bumpMtime(t, cf, kf)
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	c, _ := f.GetCertificate(nil)
	if c.Leaf.SerialNumber.Cmp(s2) != 0 {
		t.Fatal("new certificate not served")
	}
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("no reload log: %s", logs)
	}
}

// A half-written renewal (new certificate, old key) must not replace a
// working pair.
func TestFileCert_MismatchedKeyKeepsOld(t *testing.T) {
	cf, kf := filePaths(t)
	now := time.Now()
	s1 := writePair(t, cf, kf, "one.example", now.Add(-time.Hour), now.Add(time.Hour))
	logger, logs := testLogger()
	f, err := LoadFiles(cf, kf, logger)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, cf, "", "two.example", now.Add(-time.Hour), now.Add(time.Hour)) // cert only
	bumpMtime(t, cf)
	if changed, err := f.Reload(); changed || err == nil {
		t.Fatalf("Reload = %v, %v; want refusal", changed, err)
	}
	if f.Current().Leaf.SerialNumber.Cmp(s1) != 0 {
		t.Fatal("old certificate replaced by a mismatched pair")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "keeping the current certificate") {
		t.Errorf("refusal not logged as error: %s", logs)
	}
	// Same broken files: not retried, not logged again.
	before := logs.String()
	f.Reload()
	if logs.String() != before {
		t.Error("unchanged broken files logged again")
	}
}

func TestFileCert_ExpiredCertRefused(t *testing.T) {
	cf, kf := filePaths(t)
	now := time.Now()
	s1 := writePair(t, cf, kf, "one.example", now.Add(-time.Hour), now.Add(time.Hour))
	logger, _ := testLogger()
	f, err := LoadFiles(cf, kf, logger)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, cf, kf, "old.example", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	bumpMtime(t, cf, kf)
	if _, err := f.Reload(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("err = %v", err)
	}
	if f.Current().Leaf.SerialNumber.Cmp(s1) != 0 {
		t.Fatal("expired certificate went into service")
	}
	if _, err := LoadFiles(cf, kf, logger); err == nil {
		t.Fatal("LoadFiles accepted an expired certificate")
	}
}

func TestFileCert_GarbageRefused(t *testing.T) {
	cf, kf := filePaths(t)
	os.WriteFile(cf, []byte("not a certificate"), 0o644)
	os.WriteFile(kf, []byte("not a key"), 0o600)
	if _, err := LoadFiles(cf, kf, nil); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := LoadFiles(cf, "", nil); err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Fatalf("err = %v", err)
	}
}

func TestFileCert_WatchPicksUpChange(t *testing.T) {
	cf, kf := filePaths(t)
	now := time.Now()
	writePair(t, cf, kf, "one.example", now.Add(-time.Hour), now.Add(time.Hour))
	logger, _ := testLogger()
	f, err := LoadFiles(cf, kf, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { f.Watch(ctx, 10*time.Millisecond); close(stopped) }()
	s2 := writePair(t, cf, kf, "two.example", now.Add(-time.Hour), now.Add(time.Hour))
	bumpMtime(t, cf, kf)
	deadline := time.Now().Add(60 * time.Second) // guard only
	for f.Current().Leaf.SerialNumber.Cmp(s2) != 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("Watch did not pick up the new certificate")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(60 * time.Second): // guard only
		t.Fatal("Watch did not return after its context was cancelled")
	}
}

func BenchmarkFileCertGetCertificate(b *testing.B) {
	dir := b.TempDir()
	cf, kf := filepath.Join(dir, "c"), filepath.Join(dir, "k")
	writePair(b, cf, kf, "a.example", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	f, err := LoadFiles(cf, kf, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.GetCertificate(nil)
	}
}
