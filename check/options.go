package check

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Options configures Run. The zero value is a strict audit: certificates
// must chain to the system roots, each probe times out after 10 seconds,
// and the redirect probe uses http://<host>/ on port 80.
type Options struct {
	// Timeout bounds each request or handshake (not the whole run).
	// Zero means 10 seconds.
	Timeout time.Duration

	// HTTPURL is the plain-HTTP URL probed for the redirect to HTTPS and
	// for Host reflection. Empty means http://<target host>/ on port 80.
	HTTPURL string

	// RootCAs verifies the server certificate. Nil means the system roots.
	RootCAs *x509.CertPool

	// InsecureAcceptCert grades the site as if its certificate were
	// trusted (for a self-signed development certificate). The untrusted
	// chain is still reported, as a warning instead of an error.
	InsecureAcceptCert bool

	// Now is the clock used for certificate expiry. Nil means time.Now.
	Now func() time.Time

	// Resolve sends connections for a name to a chosen address (curl's
	// --resolve), for every probe: TLS handshakes, the redirect probe,
	// the header and exposure requests. SNI, Host and the certificate
	// check keep the name. An entry for one port of a name also serves
	// its other ports, so no probe reaches the server DNS points at.
	Resolve []Resolve

	// DialContext opens every connection, after Resolve. Nil means a
	// net.Dialer with Timeout. Tests use it to keep names off the network.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

const defaultTimeout = 10 * time.Second

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return defaultTimeout
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// parseTargets validates the target and the redirect-probe URL.
func parseTargets(target string, o Options) (httpsURL, httpURL *url.URL, err error) {
	if o.Timeout < 0 {
		return nil, nil, errors.New("timeout: must be >= 0")
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, nil, errors.New("target: want an https:// URL, got " + target)
	}
	if u.Scheme != "https" {
		return nil, nil, errors.New("target: want an https:// URL (the audit starts from HTTPS; the http:// redirect is probed separately with --http-url)")
	}
	if u.User != nil {
		return nil, nil, errors.New("target: credentials in the URL are not sent; remove them")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if o.HTTPURL != "" {
		h, err := url.Parse(o.HTTPURL)
		if err != nil || h.Scheme != "http" || h.Host == "" {
			return nil, nil, errors.New("http-url: want an http:// URL, got " + o.HTTPURL)
		}
		if h.Path == "" {
			h.Path = "/"
		}
		return u, h, checkResolve(o, u, h)
	}
	h := &url.URL{Scheme: "http", Host: u.Hostname(), Path: u.Path, RawQuery: u.RawQuery}
	if strings.Contains(h.Host, ":") { // an IPv6 literal: Hostname dropped its brackets
		h.Host = "[" + h.Host + "]"
	}
	return u, h, checkResolve(o, u, h)
}

// checkResolve refuses a --resolve entry no probe would use: a typo in the
// name would otherwise send the audit to the server DNS points at.
func checkResolve(o Options, targets ...*url.URL) error {
	for _, r := range o.Resolve {
		used := false
		for _, t := range targets {
			used = used || strings.EqualFold(strings.TrimSuffix(t.Hostname(), "."), r.Host)
		}
		if !used {
			return fmt.Errorf("--resolve %s: %s is neither the target's host nor --http-url's", r, r.Host)
		}
	}
	return nil
}
