package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// mainBodyCap bounds the page read for the SRI test.
	mainBodyCap = 1 << 20
	// probeBodyCap bounds what is read of an exposure probe.
	probeBodyCap = 16 << 10
	// maxHops bounds redirects followed, as a browser would (it allows 20).
	maxHops = 5
	// foreignHost is sent as Host and as Origin to detect reflection.
	foreignHost   = "evil.example"
	foreignOrigin = "https://evil.example"
	userAgent     = "Mozilla/5.0 (compatible; rampart-check/1)"
)

type prober struct {
	client  *http.Client
	timeout time.Duration
	// allowed are the hosts (host:port) requests may go to: the target's
	// and the redirect probe's. A redirect elsewhere is recorded, not
	// followed.
	allowed map[string]bool
}

func newProber(o Options, allowed ...*url.URL) *prober {
	tr := &http.Transport{
		// The certificate is verified once by verifyCert with the chosen
		// roots; requests here only read headers and send no credentials.
		// It offers every version and suite so that a server stuck on TLS
		// 1.0 or RSA key exchange can still be audited.
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, CipherSuites: allSuiteIDs()},
		ForceAttemptHTTP2:      true,
		DialContext:            o.dial, // --resolve applies to every request
		TLSHandshakeTimeout:    o.timeout(),
		ResponseHeaderTimeout:  o.timeout(),
		MaxResponseHeaderBytes: 256 << 10,
		Proxy:                  nil, // probe the deployment itself, not a proxy
	}
	p := &prober{
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		timeout: o.timeout(),
		allowed: map[string]bool{},
	}
	for _, u := range allowed {
		p.allowed[hostPort(u)] = true
	}
	return p
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

type response struct {
	url    *url.URL
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads at most limit bytes of the body.
func (p *prober) do(ctx context.Context, method string, u *url.URL, hdr map[string]string, limit int64) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	return &response{url: u, status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// follow GETs u and follows redirects among allowed hosts, up to maxHops.
// route holds every URL visited or pointed to, starting with u.
func (p *prober) follow(ctx context.Context, u *url.URL, limit int64) (first, last *response, route []*url.URL, err error) {
	route = []*url.URL{u}
	for hop := 0; ; hop++ {
		r, err := p.do(ctx, http.MethodGet, u, nil, limit)
		if err != nil {
			return first, last, route, err
		}
		if first == nil {
			first = r
		}
		last = r
		loc := r.header.Get("Location")
		if r.status < 300 || r.status > 399 || loc == "" || hop == maxHops {
			return first, last, route, nil
		}
		next, err := u.Parse(loc)
		if err != nil {
			return first, last, route, nil
		}
		route = append(route, next)
		if !p.allowed[hostPort(next)] || (next.Scheme != "http" && next.Scheme != "https") {
			return first, last, route, errOffHost
		}
		u = next
	}
}

var errOffHost = errors.New("redirect to another host not followed")

// looksLikeHTML reports whether a body is an HTML page (a catch-all route
// answering 200 for every path is not an exposure).
func looksLikeHTML(b []byte) bool {
	s := bytes.ToLower(bytes.TrimSpace(b[:min(len(b), 512)]))
	return bytes.HasPrefix(s, []byte("<!doctype html")) || bytes.HasPrefix(s, []byte("<html")) || bytes.Contains(s, []byte("<body"))
}

// hostPortPort is u's port, or the scheme's default.
func hostPortPort(u *url.URL) string {
	_, port, _ := net.SplitHostPort(hostPort(u))
	return port
}
