package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/field"
)

// Validate reports what is wrong with o, and what is valid but weaker than
// it should be, by Go field path ("CertFile", "ACME.DirectoryURL",
// "Hosts[1]"). It loads the certificate files to check them, and looks at
// the modes of the private keys. New refuses o on any error; the warnings
// are for `rampart config check`.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	switch o.MinVersion {
	case 0, tls.VersionTLS12, tls.VersionTLS13:
	default:
		errs.Errorf("MinVersion", `use "1.2" (the default) or "1.3"`, "%#04x is not allowed: TLS 1.0 and 1.1 are broken", o.MinVersion)
	}
	if o.ReloadInterval < 0 {
		errs.Errorf("ReloadInterval", "remove it for the default (5s)", "must not be negative")
	}
	files := o.CertFile != "" || o.KeyFile != ""
	switch {
	case files:
		o.validateFiles(&errs)
	case o.ACME != nil:
		o.validateACME(&errs)
	case o.InsecureDevCertificate:
		errs.Warnf("InsecureDevCertificate", "give certificate files, or use ACME",
			"serving a self-signed development certificate: browsers will warn and clients must skip verification")
		o.validateStateKeys(&errs, filepath.Join(o.StateDir, DevCertDir, "key.pem"))
	default:
		errs.Errorf("", "give certificate files, or use ACME for public names; for local testing only, allow the development certificate",
			"no certificate source: hosts %v cannot get a certificate from a public CA", o.Hosts)
	}
	return errs
}

func (o Options) validateFiles(errs *field.Errors) {
	if o.CertFile == "" || o.KeyFile == "" {
		missing := "CertFile"
		if o.KeyFile == "" {
			missing = "KeyFile"
		}
		errs.Errorf(missing, "give both the certificate chain and its private key", "is required with the other certificate file")
		return
	}
	if o.ACME != nil {
		errs.Errorf("ACME", "use certificate files or ACME, not both", "cannot be used with certificate files")
	}
	pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		errs.Errorf("CertFile", "give a PEM certificate chain and its matching PEM private key", "cannot load the key pair: %v", err)
	} else {
		checkCertificate(errs, pair.Leaf, o.Hosts, time.Now())
	}
	checkKeyMode(errs, o.KeyFile)
}

// checkCertificate reports a certificate that browsers would refuse for a
// configured host, or that is about to.
func checkCertificate(errs *field.Errors, leaf *x509.Certificate, hosts []string, now time.Time) {
	if leaf == nil {
		return
	}
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		errs.Errorf("CertFile", "renew the certificate", "the certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	case left < 14*24*time.Hour:
		errs.Warnf("CertFile", "renew the certificate, and check why renewal has not happened", "the certificate expires on %s, in %d days",
			leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	for _, h := range hosts {
		if err := leaf.VerifyHostname(h); err != nil {
			errs.Warnf("CertFile", "use a certificate whose names include every configured host, or remove the host",
				"the certificate does not cover host %q: browsers will refuse it", h)
		}
	}
}

// checkKeyMode reports a private key file that users other than its owner
// can read: an error when every user of the machine can, a warning when a
// group can or only a directory's mode stops the others. The file is the
// operator's; rampart does not change its mode.
func checkKeyMode(errs *field.Errors, path string) {
	e, err := CheckKeyFile(path)
	if err != nil || !e.Readable() {
		return // an unreadable file is reported by the key pair check
	}
	hint := "chmod 600 " + path + " and chown it to the user rampart runs as"
	switch {
	case e.Others && e.Blocker == "":
		errs.Errorf("KeyFile", hint+"; a key others could read should be replaced",
			"mode %#o lets every user of this machine read the private key %s", e.Mode, path)
	case e.Others:
		errs.Warnf("KeyFile", hint, "mode %#o lets every user read the private key %s; only the mode of %s stops them", e.Mode, path, e.Blocker)
	default:
		errs.Warnf("KeyFile", hint+", unless group "+e.Group+" exists to share it (ssl-cert on Debian)",
			"mode %#o lets group %s read the private key %s", e.Mode, e.Group, path)
	}
}

func (o Options) validateACME(errs *field.Errors) {
	if len(o.Hosts) == 0 {
		errs.Errorf("Hosts", "list the names to get certificates for", "ACME needs at least one host name")
	}
	// Let's Encrypt, the default CA, issues for public names only; a
	// private ACME CA (step-ca, a company's own) may issue for others.
	for i, h := range o.Hosts {
		if o.ACME.DirectoryURL == "" && !PublicName(h) {
			errs.Errorf(field.Index("Hosts", i), "use certificate files for local names and IP addresses, or a private ACME CA (tls.acme.directory_url)", "%q cannot get a certificate from a public CA", h)
		}
	}
	if u := o.ACME.DirectoryURL; u != "" {
		if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" || pu.Host == "" {
			errs.Errorf("ACME.DirectoryURL", "give the CA's https:// directory URL", "%q is not an https URL", u)
		}
	}
	dir := filepath.Join(o.StateDir, ACMEDir)
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	o.validateStateKeys(errs, files...)
}

// validateStateKeys reports private keys rampart keeps under the state
// directory (the development key, the ACME cache) that group or others
// can read. New makes them private, hence warnings, saying so.
func (o Options) validateStateKeys(errs *field.Errors, files ...string) {
	for _, f := range files {
		st, err := os.Lstat(f)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o077 == 0 {
			continue
		}
		errs.Warnf("StateDir", "chmod 600 "+f+"; if other users may have read it, delete it and rampart makes a new one",
			"%s holds a private key and has mode %#o, readable by other users; rampart makes it private (0600) when it starts", f, st.Mode().Perm())
	}
}

// PublicName reports whether a public certificate authority could issue a
// certificate for the host name h: not an IP address, not a single label,
// not a name under a suffix reserved for local or private use.
func PublicName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil || !strings.Contains(h, ".") {
		return false
	}
	for _, suffix := range []string{".localhost", ".local", ".test", ".internal", ".example", ".invalid", ".lan", ".home.arpa"} {
		if strings.HasSuffix(h, suffix) {
			return false
		}
	}
	return true
}
