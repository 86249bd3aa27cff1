package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// tlsNotTested lists what Go's TLS client cannot offer, so the report says
// "not tested" rather than guessing. Go 1.27 still offers TLS 1.0 and 1.1,
// RC4, 3DES and RSA key exchange when a Config asks for them explicitly
// (the GODEBUG settings tls10server, tlsrsakex and tls3des only change
// defaults), so those are tested.
var tlsNotTested = []string{
	"SSL 3.0 and SSL 2.0: Go's TLS client cannot offer them",
	"finite-field DHE, AES-256-CBC-SHA384, CCM, CAMELLIA and ARIA cipher suites: not implemented by Go's TLS client",
	"TLS 1.3 cipher suites one by one: Go's client always offers all three (all are AEAD)",
}

var versions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// tls12Suites are every suite Go can negotiate below TLS 1.3.
func tls12Suites() []*tls.CipherSuite {
	var out []*tls.CipherSuite
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if s.ID>>8 == 0x13 { // TLS 1.3 suites are 0x13xx
			continue
		}
		out = append(out, s)
	}
	return out
}

func allSuiteIDs() []uint16 {
	var ids []uint16
	for _, s := range tls12Suites() {
		ids = append(ids, s.ID)
	}
	return ids
}

// weakSuite: no AEAD (CBC, RC4, 3DES) or no forward secrecy (RSA key
// exchange). Those are what the seed's nginx cipher string let through.
func weakSuite(name string) bool {
	return !strings.Contains(name, "_GCM_") && !strings.Contains(name, "CHACHA20") || !strings.Contains(name, "ECDHE")
}

// handshake performs one TLS handshake and closes the connection. The
// certificate is verified separately, so the handshake itself skips it.
// op says which step failed: "connect" or "handshake".
func handshake(ctx context.Context, o Options, addr, serverName string, cfg *tls.Config) (st tls.ConnectionState, op string, err error) {
	cfg.InsecureSkipVerify = true // verified by verifyCert, with the chosen roots
	cfg.ServerName = serverName
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	raw, err := o.dial(ctx, "tcp", addr)
	if err != nil {
		return st, "connect", err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	if err := c.HandshakeContext(ctx); err != nil {
		return st, "handshake", err
	}
	return c.ConnectionState(), "", nil
}

// probeTLS tests protocol versions, TLS 1.2 suites and the certificate.
// verified reports whether the chain and hostname are valid (or accepted
// with InsecureAcceptCert).
func probeTLS(ctx context.Context, addr, host string, o Options) (info TLSInfo, fs []Finding, verified bool, err error) {
	// The default handshake, as a browser would make it.
	st, op, err := handshake(ctx, o, addr, host, &tls.Config{MinVersion: tls.VersionTLS10, CipherSuites: allSuiteIDs(), NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		_, port, _ := net.SplitHostPort(addr)
		return info, nil, false, o.failure(op, host, port, err)
	}
	cert, cfs, verified := verifyCert(st, host, o)
	info.Certificate = cert
	fs = append(fs, cfs...)

	accepted := map[uint16]bool{}
	for _, v := range versions {
		cfg := &tls.Config{MinVersion: v, MaxVersion: v}
		if v < tls.VersionTLS13 {
			cfg.CipherSuites = allSuiteIDs()
		}
		st, _, err := handshake(ctx, o, addr, host, cfg)
		ok := err == nil && st.Version == v
		accepted[v] = ok
		info.Versions = append(info.Versions, VersionResult{Version: tls.VersionName(v), Accepted: ok})
		if ok && v == tls.VersionTLS13 {
			info.TLS13Suite = tls.CipherSuiteName(st.CipherSuite)
		}
		if ctx.Err() != nil {
			return info, fs, verified, ctx.Err()
		}
	}
	if accepted[tls.VersionTLS10] || accepted[tls.VersionTLS11] {
		var old []string
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			if accepted[v] {
				old = append(old, tls.VersionName(v))
			}
		}
		fs = append(fs, Finding{ID: "tls-legacy-version", Category: CategoryTLS, Severity: Error,
			Title:    "deprecated protocol accepted: " + strings.Join(old, ", ") + " (RFC 8996)",
			Evidence: strings.Join(old, ", "),
			Fix:      "accept TLS 1.2 and 1.3 only (nginx: ssl_protocols TLSv1.2 TLSv1.3; rampart does by default)"})
	}
	if !accepted[tls.VersionTLS13] {
		fs = append(fs, Finding{ID: "tls13-missing", Category: CategoryTLS, Severity: Warning,
			Title: "TLS 1.3 not accepted", Fix: "enable TLS 1.3"})
	}

	var weak, broken []string
	if accepted[tls.VersionTLS10] || accepted[tls.VersionTLS11] || accepted[tls.VersionTLS12] {
		for _, s := range tls12Suites() {
			cfg := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}}
			_, _, err := handshake(ctx, o, addr, host, cfg)
			w := weakSuite(s.Name)
			info.Suites = append(info.Suites, SuiteResult{Name: s.Name, Accepted: err == nil, Weak: w})
			if err == nil && w {
				if strings.Contains(s.Name, "RC4") || strings.Contains(s.Name, "3DES") {
					broken = append(broken, s.Name)
				} else {
					weak = append(weak, s.Name)
				}
			}
			if ctx.Err() != nil {
				return info, fs, verified, ctx.Err()
			}
		}
	}
	if len(broken) > 0 {
		fs = append(fs, Finding{ID: "tls-broken-cipher", Category: CategoryTLS, Severity: Error,
			Title:    "broken cipher suites accepted (RC4 / 3DES)",
			Evidence: strings.Join(broken, " "),
			Fix:      "offer ECDHE with AES-GCM or ChaCha20-Poly1305 only"})
	}
	if len(weak) > 0 {
		fs = append(fs, Finding{ID: "tls-weak-cipher", Category: CategoryTLS, Severity: Warning,
			Title:    "cipher suites without AEAD or forward secrecy accepted (CBC, RSA key exchange)",
			Evidence: strings.Join(weak, " "),
			Fix:      "offer ECDHE with AES-GCM or ChaCha20-Poly1305 only (nginx: ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20)"})
	}
	return info, fs, verified, nil
}

// verifyCert checks the chain against o.RootCAs (or the system roots), the
// hostname, and the expiry date.
func verifyCert(st tls.ConnectionState, host string, o Options) (*CertInfo, []Finding, bool) {
	var fs []Finding
	if len(st.PeerCertificates) == 0 {
		return nil, []Finding{{ID: "tls-no-certificate", Category: CategoryTLS, Severity: Error,
			Title: "the server sent no certificate", Fix: "configure a certificate"}}, false
	}
	leaf := st.PeerCertificates[0]
	now := o.now()
	ci := &CertInfo{
		Subject:  leaf.Subject.String(),
		Issuer:   leaf.Issuer.String(),
		DNSNames: leaf.DNSNames,
		NotAfter: leaf.NotAfter.UTC(),
		DaysLeft: int(leaf.NotAfter.Sub(now).Hours() / 24),
	}
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: o.RootCAs, Intermediates: inter, CurrentTime: now})
	ci.ChainValid = err == nil
	if err != nil {
		ci.ChainError = err.Error()
		sev, fix := Error, "serve a certificate that chains to a public root (ACME / Let's Encrypt), with its intermediates"
		if o.InsecureAcceptCert {
			sev, fix = Warning, "accepted because of --insecure; browsers will refuse it: "+fix
		}
		fs = append(fs, Finding{ID: "tls-cert-untrusted", Category: CategoryTLS, Severity: sev,
			Title: "certificate chain not trusted", Evidence: err.Error(), Fix: fix})
	}
	ci.HostnameOK = leaf.VerifyHostname(host) == nil
	if !ci.HostnameOK {
		fs = append(fs, Finding{ID: "tls-cert-hostname", Category: CategoryTLS, Severity: Error,
			Title:    "certificate does not match " + host,
			Evidence: "names: " + strings.Join(leaf.DNSNames, " "),
			Fix:      "issue the certificate for " + host})
	}
	switch {
	case now.After(leaf.NotAfter):
		fs = append(fs, Finding{ID: "tls-cert-expired", Category: CategoryTLS, Severity: Error,
			Title: "certificate expired", Evidence: "not after " + ci.NotAfter.Format(time.DateOnly),
			Fix: "renew it, and automate renewal (ACME)"})
	case leaf.NotAfter.Sub(now) < 14*24*time.Hour:
		fs = append(fs, Finding{ID: "tls-cert-expiring", Category: CategoryTLS, Severity: Warning,
			Title: fmt.Sprintf("certificate expires in %d days", ci.DaysLeft), Evidence: "not after " + ci.NotAfter.Format(time.DateOnly),
			Fix: "renew now, and check why automatic renewal did not"})
	}
	verified := (ci.ChainValid || o.InsecureAcceptCert) && ci.HostnameOK
	return ci, fs, verified
}
