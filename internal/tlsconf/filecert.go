package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often FileCert.Watch looks at the certificate
// files when no interval is given.
const DefaultReloadInterval = 5 * time.Second

// FileCert serves a certificate and key read from PEM files and reloads them
// when they change on disk, without a restart and without touching open
// connections: GetCertificate returns whichever pair is current when a
// handshake starts, and a connection keeps the certificate it negotiated.
//
// A new pair that does not load (unreadable file, key not matching the
// certificate, certificate expired or not yet valid) is refused: the
// previous pair stays in service and the failure is logged at error level.
// Serving a broken or expired certificate would take the site down for every
// client, while the old one is still valid for a while; the operator sees
// the error and fixes the files. Renewal tools that write the certificate
// and the key in two steps may be seen half-written; that state is refused
// like any bad pair and picked up on the next change.
type FileCert struct {
	certFile, keyFile string
	logger            *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serialises Reload
	seen fileStamp  // stamp of the files last tried, good or bad
}

type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// LoadFiles reads certFile and keyFile (PEM; the certificate file may hold
// the chain after the leaf) and returns a FileCert serving them. It fails if
// they do not load now: a gateway must not start without a certificate.
// logger nil means slog.Default().
func LoadFiles(certFile, keyFile string, logger *slog.Logger) (*FileCert, error) {
	if certFile == "" {
		return nil, errors.New("cert_file: must be set when key_file is set")
	}
	if keyFile == "" {
		return nil, errors.New("key_file: must be set when cert_file is set")
	}
	if logger == nil {
		logger = slog.Default()
	}
	f := &FileCert{certFile: certFile, keyFile: keyFile, logger: logger}
	st, err := f.stamp()
	if err != nil {
		return nil, err
	}
	c, err := loadPair(certFile, keyFile, time.Now())
	if err != nil {
		return nil, err
	}
	f.seen = st
	f.cur.Store(c)
	return f, nil
}

// GetCertificate returns the current certificate. It has the signature of
// tls.Config.GetCertificate.
func (f *FileCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cur.Load(), nil
}

// Current returns the certificate in service.
func (f *FileCert) Current() *tls.Certificate { return f.cur.Load() }

// Reload checks the files now and swaps in the new pair if they changed
// (modification time or size) and load. It reports whether a new pair went
// into service. A changed pair that fails to load is logged and returned as
// the error; the previous pair stays in service and the same broken files
// are not retried until they change again.
func (f *FileCert) Reload() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stamp()
	if err != nil {
		f.logger.Error("tls: certificate files unreadable; keeping the current certificate",
			"cert_file", f.certFile, "key_file", f.keyFile, "err", err)
		return false, err
	}
	if st == f.seen {
		return false, nil
	}
	f.seen = st
	c, err := loadPair(f.certFile, f.keyFile, time.Now())
	if err != nil {
		f.logger.Error("tls: new certificate refused; keeping the current certificate",
			"cert_file", f.certFile, "key_file", f.keyFile, "err", err)
		return false, err
	}
	f.cur.Store(c)
	f.logger.Info("tls: certificate reloaded",
		"cert_file", f.certFile, "subject", c.Leaf.Subject.String(),
		"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}

// Watch polls the files every interval (DefaultReloadInterval if interval
// <= 0) and reloads them when they change, until ctx is done. Polling, not
// inotify: it works the same on every platform, through symlink swaps
// (Kubernetes secrets, certbot's live/ directory) and on network file
// systems, and a stat every few seconds costs nothing.
func (f *FileCert) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Reload()
		}
	}
}

func (f *FileCert) stamp() (fileStamp, error) {
	ci, err := os.Stat(f.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("cert_file: %w", err)
	}
	ki, err := os.Stat(f.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("key_file: %w", err)
	}
	return fileStamp{ci.ModTime(), ki.ModTime(), ci.Size(), ki.Size()}, nil
}

// loadPair loads and checks a certificate/key pair: the key must match the
// leaf, and the leaf must be valid at now.
func loadPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file/key_file: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
	}
	if now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("cert_file: certificate expired on %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.Leaf.NotBefore) {
		return nil, fmt.Errorf("cert_file: certificate not valid before %s", c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &c, nil
}
