package tlsconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Options selects where the HTTPS listener's certificate comes from. Exactly
// one source is used:
//
//   - CertFile and KeyFile set: those PEM files, reloaded when they change.
//   - ACME non-nil: certificates from an ACME CA for Hosts.
//   - neither: the self-signed development certificate (DevCert) for
//     localhost and Hosts. Browsers will warn; Warnings says so.
//
// Setting both files and ACME is an error.
type Options struct {
	// CertFile and KeyFile are PEM files (YAML tls.cert_file,
	// tls.key_file). The certificate file may hold the chain after the
	// leaf. Empty: no file certificate.
	CertFile, KeyFile string

	// ACME, when not nil, turns on ACME (YAML tls.acme).
	ACME *ACMEOptions

	// InsecureDevCertificate serves the development certificate (see
	// DevCert) when neither files nor ACME are given (YAML
	// tls.insecure_dev_certificate). Default false: with no certificate
	// source, Validate refuses the Options. Browsers warn about the
	// certificate; it is for trying rampart, not for production.
	InsecureDevCertificate bool

	// Hosts are the public host names served (YAML top-level hosts). ACME
	// requests certificates for exactly these names; the development
	// certificate adds them to localhost.
	Hosts []string

	// StateDir is rampart's state directory; the development certificate
	// and the ACME cache live below it. Required unless CertFile is set.
	StateDir string

	// MinVersion is the lowest TLS version accepted (YAML tls.min_version:
	// "1.2" or "1.3"). Zero means TLS 1.2, which every browser of the last
	// decade speaks; "1.3" shuts out some older API clients. Anything
	// below 1.2 is refused.
	MinVersion uint16

	// ReloadInterval is how often certificate files are checked for
	// changes (YAML tls.reload_interval). Zero means
	// DefaultReloadInterval (5s).
	ReloadInterval time.Duration

	// Logger receives reload and ACME errors. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is a compiled TLS setup: the tls.Config for the HTTPS listener and,
// with ACME, the HTTP-01 challenge handler for the plain-HTTP listener.
type Server struct {
	cfg      *tls.Config
	files    *FileCert
	acme     *autocert.Manager
	interval time.Duration
	tickets  *ticketKeys
	rotation time.Duration // TicketKeyRotation; shorter in tests
	dev      *tls.Certificate
	hosts    []string
}

// ParseVersion converts a YAML tls.min_version ("1.2", "1.3") to a
// crypto/tls version. Empty means TLS 1.2.
func ParseVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("%q is not a TLS version rampart allows: \"1.2\" or \"1.3\"", s)
}

// New validates o (Validate) and loads the certificate source.
func New(o Options) (*Server, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if o.MinVersion == 0 {
		o.MinVersion = tls.VersionTLS12
	}
	s := &Server{interval: o.ReloadInterval, tickets: newTicketKeys(), rotation: TicketKeyRotation, hosts: o.Hosts}
	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	switch {
	case o.CertFile != "":
		f, err := LoadFiles(o.CertFile, o.KeyFile, logger)
		if err != nil {
			return nil, err
		}
		s.files = f
		getCert = f.GetCertificate
	case o.ACME != nil:
		m, err := NewACME(o.Hosts, o.StateDir, *o.ACME)
		if err != nil {
			return nil, err
		}
		// autocert writes its files 0600 in a 0700 directory; a chmod -R
		// or a restore from a backup may have opened them since.
		tightenDir(filepath.Join(o.StateDir, ACMEDir), logger,
			"if other users may have read it, delete the file and restart: a certificate is obtained again (revoke the old one), an account key is made anew")
		s.acme = m
		getCert = m.GetCertificate
	default: // InsecureDevCertificate, checked by Validate
		c, err := devCert(o.StateDir, o.Hosts, logger)
		if err != nil {
			return nil, err
		}
		s.dev = c
		getCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c, nil }
	}
	s.cfg = ServerConfig(getCert)
	s.cfg.MinVersion = o.MinVersion
	// Session tickets with keys rotated every TicketKeyRotation by Run,
	// whatever the certificate source (see tickets.go).
	s.tickets.install(s.cfg)
	if s.acme != nil {
		// TLS-ALPN-01: the CA connects with only "acme-tls/1" offered and
		// autocert answers with a challenge certificate. Listed last, it
		// is never chosen for a browser.
		s.cfg.NextProtos = append(s.cfg.NextProtos, acme.ALPNProto)
	}
	return s, nil
}

// TLSConfig returns the configuration for the HTTPS listener. It is shared:
// do not modify it after the listener starts. Its session tickets are
// sealed with keys that Run rotates; clones of it (net/http serves a
// clone) use the same keys.
func (s *Server) TLSConfig() *tls.Config { return s.cfg }

// ChallengeHandler returns the ACME HTTP-01 handler to mount on the
// plain-HTTP listener for /.well-known/acme-challenge/, or nil without
// ACME.
func (s *Server) ChallengeHandler() http.Handler {
	if s.acme == nil {
		return nil
	}
	return s.acme.HTTPHandler(nil)
}

// Run keeps the certificate source fresh and the session ticket keys
// short-lived until ctx is done: it polls certificate files for changes
// (ACME renewal runs inside autocert and the development certificate
// needs nothing) and replaces the ticket key every TicketKeyRotation. It
// returns once both have stopped. Without Run the first ticket key is
// never replaced: run it for as long as the listener serves.
func (s *Server) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.tickets.run(ctx, s.rotation)
	}()
	if s.files != nil {
		s.files.Watch(ctx, s.interval)
	} else {
		<-ctx.Done()
	}
	<-done
}

// Reload checks certificate files now (for SIGHUP or `rampart reload`);
// without files it does nothing.
func (s *Server) Reload() error {
	if s.files == nil {
		return nil
	}
	_, err := s.files.Reload()
	return err
}
