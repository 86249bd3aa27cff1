package tlsconf

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEDir is the subdirectory of the state directory holding the ACME
// account key and certificates (autocert's DirCache: directory 0700,
// files 0600).
const ACMEDir = "acme"

// ACMEOptions configures certificates obtained automatically from an ACME
// certificate authority. The host names come from Options.Hosts.
type ACMEOptions struct {
	// Email is the contact address registered with the CA (YAML
	// tls.acme.email). Empty registers no contact: the CA cannot warn about
	// problems with the account or certificates.
	Email string

	// DirectoryURL is the CA's ACME directory (YAML tls.acme.directory_url).
	// Empty means Let's Encrypt's production directory. It must be https.
	DirectoryURL string

	// HTTPClient talks to the CA. Nil means http.DefaultClient. Not a YAML
	// setting: it exists for a private CA whose root is not in the system
	// pool, and for tests.
	HTTPClient *http.Client
}

// NewACME returns an autocert.Manager that obtains and renews certificates
// for hosts, and only for them, caching the account key and certificates in
// <stateDir>/acme so that restarts do not hit the CA's rate limits.
//
// autocert with a nil HostPolicy asks the CA for a certificate for any name
// a client puts in its SNI: anyone can make the server request certificates
// for names pointing at it, burning the account's rate limit (and a wildcard
// DNS record turns that into a denial of service). Here the policy is always
// an explicit whitelist, and an empty host list is an error, not "every
// host".
//
// Configuring ACME accepts the CA's terms of service on the operator's
// behalf (autocert.AcceptTOS); that is the point of configuring it.
//
// Both challenges are available: TLS-ALPN-01 needs "acme-tls/1" in the
// listener's NextProtos (New adds it), HTTP-01 needs the Manager's
// HTTPHandler on port 80 for /.well-known/acme-challenge/.
func NewACME(hosts []string, stateDir string, o ACMEOptions) (*autocert.Manager, error) {
	names, err := acmeHosts(hosts)
	if err != nil {
		return nil, err
	}
	dirURL := o.DirectoryURL
	if dirURL == "" {
		dirURL = autocert.DefaultACMEDirectory
	}
	if u, err := url.Parse(dirURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("tls.acme.directory_url: %q must be an https:// URL", o.DirectoryURL)
	}
	if o.Email != "" && (!strings.Contains(o.Email, "@") || strings.ContainsAny(o.Email, " \t\r\n<>,;:")) {
		return nil, fmt.Errorf("tls.acme.email: %q is not an email address", o.Email)
	}
	if stateDir == "" {
		return nil, errors.New("state_dir: must be set to keep the ACME account and certificates")
	}
	dir := filepath.Join(stateDir, ACMEDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(names...),
		Email:      o.Email,
		Client: &acme.Client{
			DirectoryURL: dirURL,
			HTTPClient:   o.HTTPClient,
			UserAgent:    "rampart",
		},
	}, nil
}

// acmeHosts validates the ACME host list. Names must be fully qualified
// (autocert refuses single-label SNI names) and may not be wildcards (they
// need DNS-01, which autocert does not do).
func acmeHosts(hosts []string) ([]string, error) {
	if len(hosts) == 0 {
		return nil, errors.New("hosts: ACME needs at least one host name; an empty list would mean no certificate at all, never \"any host\"")
	}
	names := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n, err := normalizeHost(h)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(n, ".") {
			return nil, fmt.Errorf("hosts: %q: ACME needs a fully qualified name (with a dot)", h)
		}
		names = append(names, n)
	}
	return names, nil
}
