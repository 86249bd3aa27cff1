package check

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/safe"
)

// Run audits the HTTPS deployment at target (an https:// URL). It returns
// an error only when the audit cannot run at all: a malformed target, or no
// TLS connection to it. Everything else, including an unreachable HTTP
// port, is part of the report.
func Run(ctx context.Context, target string, o Options) (*Report, error) {
	u, hu, err := parseTargets(target, o)
	if err != nil {
		return nil, err
	}
	rep := &Report{Target: u.String(), NotTested: slices.Clone(tlsNotTested)}
	rep.NotTested = append(rep.NotTested,
		"HSTS preload list membership: the audit works offline (hsts-preloaded and redirection-all-redirects-preloaded are never awarded)",
		"<meta http-equiv> policies in the page: only response headers are read")

	// TLS first: without a handshake there is nothing to audit.
	addr := hostPort(u)
	info, tfs, verified, err := probeTLS(ctx, addr, u.Hostname(), o)
	if err != nil {
		return nil, err
	}
	rep.TLS = info
	rep.Findings = append(rep.Findings, tfs...)

	p := newProber(o, u, hu)
	defer p.client.CloseIdleConnections()

	// The page, as a browser lands on it.
	_, page, _, err := p.follow(ctx, u, mainBodyCap)
	if page == nil {
		if err == nil {
			err = errors.New("no response")
		}
		f := o.failure("request", u.Hostname(), hostPortPort(u), err)
		if f.Kind == FailOther {
			f.Msg = "GET " + u.String() + ": " + errString(err)
		}
		return nil, f
	}
	rep.FinalURL, rep.Status = page.url.String(), page.status
	h := page.header
	if page.status < 200 || page.status > 299 {
		rep.Findings = append(rep.Findings, Finding{ID: "final-status-not-2xx", Category: CategoryHeaders, Severity: Info,
			Title:    "the page answered " + http.StatusText(page.status) + ": the headers of that response were graded (the Observatory refuses non-2xx pages)",
			Evidence: page.url.String(),
			Fix:      "audit a URL that answers 200; error pages should carry the same security headers"})
	}

	// CORS, with a foreign Origin.
	corsH := http.Header{}
	if r, err := p.do(ctx, http.MethodGet, u, map[string]string{"Origin": foreignOrigin}, probeBodyCap); err == nil {
		corsH = r.header
	}

	// Redirect from plain HTTP.
	redir, rt, rfs := p.redirect(ctx, hu, verified)
	rep.Redirect = redir
	rep.Findings = append(rep.Findings, rfs...)

	// The Observatory tests, in its order.
	csp := observatoryCSP(h.Values("Content-Security-Policy"), h.Values("Content-Security-Policy-Report-Only"), page.url.Scheme == "https")
	cspT := test("content-security-policy", csp.result)
	cspT.Pass = cspT.Modifier >= 0
	hstsT, hfs := hstsTest(h, verified)
	cookieR := observatoryCookies(h.Values("Set-Cookie"), hstsT.Pass)
	cookieT := test("cookies", cookieR)
	cookieT.Pass = cookieT.Modifier >= 0
	corsT, cfs := corsTest(corsH, foreignOrigin)
	refT, reffs := referrerTest(h)
	sriT, sfs := sriTest(h.Get("Content-Type"), page.body, page.url)
	xctoT, xcfs := xctoTest(h)
	xfoT, xffs := xfoTest(h, csp)
	corpT, corpfs := corpTest(h)
	rep.Tests = []TestResult{cspT, cookieT, corsT, rt, refT, hstsT, sriT, xctoT, xfoT, corpT}
	rep.Score = Score(rep.Tests)
	rep.Grade = Grade(rep.Score)

	for _, f := range [][]Finding{cspFindings(h, csp), hfs, cookieFindings(h.Values("Set-Cookie")), cfs, reffs, sfs, xcfs, xffs, corpfs, otherHeaderFindings(h)} {
		rep.Findings = append(rep.Findings, f...)
	}

	// TRACE and well-known leaks.
	rep.Findings = append(rep.Findings, p.exposure(ctx, u)...)
	rep.Findings = append(rep.Findings, p.securityTxt(ctx, u, time.Now())...)

	sortFindings(rep.Findings)
	return rep, nil
}

func errString(err error) string {
	if err == nil {
		return "no response"
	}
	return err.Error()
}

// redirect probes the plain-HTTP URL twice: as a browser would (following
// the chain, for the Observatory's redirection test) and with a foreign
// Host header, to find an open redirect like nginx's
// "return 301 https://$host$request_uri" with a default server.
func (p *prober) redirect(ctx context.Context, hu *url.URL, verified bool) (RedirectInfo, TestResult, []Finding) {
	ri := RedirectInfo{URL: hu.String()}
	var fs []Finding
	first, last, route, err := p.follow(ctx, hu, probeBodyCap)
	for _, r := range route {
		ri.Route = append(ri.Route, r.String())
	}
	var result string
	switch {
	case last == nil:
		ri.Error = errString(err)
		result = "redirection-not-needed-no-http"
		fs = append(fs, Finding{ID: "http-unreachable", Category: CategoryRedirect, Severity: Info,
			Title:    "plain HTTP not reachable at " + hu.String() + "; redirect not tested",
			Evidence: ri.Error,
			Fix:      "if port 80 is served elsewhere, pass --http-url; otherwise a 301 to HTTPS helps users who type the bare name"})
	case !verified:
		result = "redirection-invalid-cert"
	case len(route) == 1:
		result = "redirection-missing"
	case route[len(route)-1].Scheme != "https":
		result = "redirection-not-to-https"
	case route[1].Scheme == "http":
		result = "redirection-not-to-https-on-initial-redirection"
	case route[0].Hostname() != route[1].Hostname():
		result = "redirection-off-host-from-http"
	default:
		result = "redirection-to-https"
	}
	if first != nil {
		ri.Status, ri.Location = first.status, first.header.Get("Location")
	}
	switch result {
	case "redirection-missing", "redirection-not-to-https":
		fs = append(fs, Finding{ID: "redirect-missing", Category: CategoryRedirect, Severity: Error,
			Title: "plain HTTP does not redirect to HTTPS", Evidence: strings.Join(ri.Route, " → "),
			Fix: "answer every http:// request with 301 to the same host on https://"})
	case "redirection-not-to-https-on-initial-redirection", "redirection-off-host-from-http":
		fs = append(fs, Finding{ID: "redirect-indirect", Category: CategoryRedirect, Severity: Warning,
			Title: "the first redirect is not to HTTPS on the same host, so HSTS is not set on it", Evidence: strings.Join(ri.Route, " → "),
			Fix: "redirect http://host/ to https://host/ first, then elsewhere"})
	case "redirection-invalid-cert":
		fs = append(fs, Finding{ID: "redirect-invalid-cert", Category: CategoryRedirect, Severity: Error,
			Title: "the redirect leads to a site whose certificate browsers reject",
			Fix:   "serve a trusted certificate"})
	}
	if last != nil {
		if r, err := p.do(ctx, http.MethodGet, hu, map[string]string{"Host": foreignHost}, probeBodyCap); err == nil {
			if loc, err := hu.Parse(r.header.Get("Location")); err == nil && strings.EqualFold(loc.Hostname(), foreignHost) {
				ri.ReflectsHost = true
				fs = append(fs, Finding{ID: "redirect-reflects-host", Category: CategoryRedirect, Severity: Error,
					Title:    "the HTTP→HTTPS redirect reflects any Host header (open redirect, cache-poisoning aid)",
					Evidence: "Host: " + foreignHost + " → Location: " + safe.Clean(r.header.Get("Location"), 120),
					Fix:      "redirect to a configured host name, never $host (rampart redirects configured hosts only)"})
			}
		}
	}
	t := test("redirection", result)
	t.Pass = result == "redirection-to-https" || result == "redirection-not-needed-no-http"
	return ri, t, fs
}

var (
	gitHead  = regexp.MustCompile(`^(ref: refs/|[0-9a-f]{40}\s*$)`)
	envLine  = regexp.MustCompile(`(?m)^\s*(export\s+)?[A-Z][A-Z0-9_]*\s*=`)
	werkzeug = regexp.MustCompile(`(?i)werkzeug|__debugger__|interactive console`)
)

// exposure checks TRACE and four well-known leaks, matching content so a
// catch-all route answering 200 for every path is not reported.
func (p *prober) exposure(ctx context.Context, u *url.URL) []Finding {
	var fs []Finding
	at := func(path string) *url.URL { return u.ResolveReference(&url.URL{Path: path}) }
	if r, err := p.do(ctx, http.MethodTrace, u, map[string]string{"X-Rampart-Trace": "probe"}, probeBodyCap); err == nil &&
		r.status >= 200 && r.status < 300 {
		fs = append(fs, Finding{ID: "trace-enabled", Category: CategoryExposure, Severity: Warning,
			Title:    "TRACE answered with 200: it echoes request headers (cross-site tracing)",
			Evidence: "TRACE " + u.Path + " → " + http.StatusText(r.status),
			Fix:      "refuse TRACE (and TRACK) with 405 at the edge; nginx does by default"})
	}
	probes := []struct {
		path, id, title, fix string
		sev                  Severity
		match                func([]byte) bool
	}{
		{"/.git/HEAD", "git-exposed", "/.git/ is served: the source code and its history can be downloaded", "deny /.git/ (and all dot-paths) at the gateway; deploy without the repository", Error,
			func(b []byte) bool { return gitHead.Match(bytes.TrimSpace(b)) }},
		{"/.env", "env-exposed", "/.env is served: secrets (SECRET_KEY, database URLs) are public", "deny dot-files at the gateway, keep .env outside the web root, and rotate every secret in it", Error,
			func(b []byte) bool { return !looksLikeHTML(b) && envLine.Match(b) }},
		{"/server-status", "server-status-exposed", "/server-status is public: it shows clients and URLs being served", "restrict it to the loopback or an admin network", Warning,
			func(b []byte) bool {
				return bytes.Contains(b, []byte("Server Status")) || bytes.Contains(b, []byte("Active connections:")) || bytes.Contains(b, []byte("Server Version:"))
			}},
		{"/console", "werkzeug-console", "the Werkzeug debugger console is reachable: remote code execution", "never run Flask with debug=True in production (FLASK_DEBUG=0)", Error,
			func(b []byte) bool { return werkzeug.Match(b) }},
	}
	for _, pr := range probes {
		r, err := p.do(ctx, http.MethodGet, at(pr.path), nil, probeBodyCap)
		if err != nil || r.status != http.StatusOK || !pr.match(r.body) {
			continue
		}
		fs = append(fs, Finding{ID: pr.id, Category: CategoryExposure, Severity: pr.sev, Title: pr.title,
			Evidence: "GET " + pr.path + " → 200", Fix: pr.fix})
	}
	return fs
}

// sortFindings orders by category, then severity, then ID, keeping the
// original order otherwise, so reports are stable.
func sortFindings(fs []Finding) {
	cats := Categories()
	catRank := func(c Category) int { return slices.Index(cats, c) }
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if d := catRank(a.Category) - catRank(b.Category); d != 0 {
			return d
		}
		if d := a.Severity.rank() - b.Severity.rank(); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
}
