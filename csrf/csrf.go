// Package csrf refuses cross-site request forgery: a page on another site
// making the victim's browser send an unsafe request (a form POST, a fetch)
// to this one, with the victim's cookies attached.
//
// # The origin check, on every unsafe request
//
// Every request whose method is not GET, HEAD or OPTIONS is checked with
// the rules of Go's http.CrossOriginProtection, which this package uses for
// them:
//
//   - Sec-Fetch-Site, sent by every browser since 2023, decides when present:
//     "same-origin" and "none" (the user typed the address) pass; anything
//     else is refused, "same-site" included, because a sibling subdomain
//     (another tenant, a forgotten staging host) is not this origin.
//   - Without it, the Origin header must name the Host the client used
//     (r.Host, the Host of the request as it reached this handler, never
//     X-Forwarded-Host or a Host rewritten for an upstream). "null" never
//     does.
//   - Origins in Options.TrustedOrigins pass either way.
//   - A request with neither header passes: current browsers send Origin
//     on every cross-origin unsafe request (Firefox, the last, since 2019),
//     so it is curl, a script or a server, which attach no victim's cookies
//     on their own, or a very old browser, for which Options.TokenPrefixes
//     exist. Refusing it would break every API client and protect no one
//     using a current browser.
//
// One rule is added to Go's: on a request that arrived over TLS, an Origin
// naming this host over plain http is refused. Go cannot tell the scheme
// from the Host header and lets it pass; this package knows it from r.TLS
// (a same-origin page of an https site has an https origin). Behind another
// TLS-terminating proxy r.TLS is nil and Go's rule applies.
//
// Options.InsecureBypassPrefixes name routes that are not checked, matched
// on the canonical path of package reqpath like every other rampart rule,
// so "/hooks/../admin" or "/hooks/..%2fadmin" never counts as under
// "/hooks/" (http.CrossOriginProtection's own bypass patterns, ServeMux
// patterns, are not used: they match paths differently).
//
// # The double-submit token, per route
//
// Under Options.TokenPrefixes, an unsafe request that belongs to a session
// (Options.SessionID returns its id) must also carry the session's token
// twice: in the header Options.HeaderName and in the cookie
// Options.CookieName, both equal to base64url(HMAC-SHA256(Secret,
// "rampart csrf v1" || session id)), compared in constant time. A page of
// this origin reads the cookie with a script and echoes it; a cross-site
// page can neither read the cookie nor send a custom header without a
// CORS preflight (which the application must not grant it), and a token
// taken from the attacker's own session does not match the victim's.
//
// A request for which SessionID returns "" gets no token check: the token
// protects the session SessionID names, and such a request carries none for
// a forgery to act as. Whether a route may be used without a session is for
// its access rule to decide, not this package. The origin check applies to
// it as to any request. Credentials the application checks by itself (its
// own session cookie, HTTP basic authentication) are covered by the origin
// check alone.
//
// # What it cannot protect
//
// GET, HEAD and OPTIONS are never checked: they are safe methods, which any
// page may cause (a link, an image, a redirect). An application that
// changes state on a GET (/logout, /delete?id=3, /transfer?to=...) is open
// to forgery whatever this package does; such routes must take POST.
// Nor does it stop a script running on this origin (an XSS), which reads
// the token and sends same-origin requests like the application's own.
//
// Check decides and Handler responds: a refusal is a 403 through httperr
// (the generic page, or problem+json for clients that ask for JSON) and a
// malicious_csrf security event, sampled per client, that never holds a
// token or a cookie value.
package csrf

import (
	"crypto/hmac"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// Reason says why a request was refused.
type Reason uint8

// Reasons a request is refused. Their String is the short name logged.
const (
	// CrossSite: Sec-Fetch-Site is "cross-site", a page of another site
	// sent the request.
	CrossSite Reason = iota + 1
	// SameSite: Sec-Fetch-Site is "same-site", a page of a sibling
	// subdomain (or another port or scheme of this host) sent it.
	SameSite
	// FetchSiteInvalid: Sec-Fetch-Site holds a value no browser sends.
	FetchSiteInvalid
	// OriginNull: no Sec-Fetch-Site and Origin "null", sent by sandboxed
	// frames, data: URLs and pages reached through a cross-site redirect.
	OriginNull
	// UntrustedOrigin: no Sec-Fetch-Site and an Origin that is neither
	// the request's host nor trusted.
	UntrustedOrigin
	// OriginScheme: no Sec-Fetch-Site, and an Origin naming this host
	// over plain http on a request that arrived over TLS.
	OriginScheme
	// TokenMissing: a request of a session under a token prefix without
	// the token header (or with it repeated).
	TokenMissing
	// TokenInvalid: the token header is not the session's token.
	TokenInvalid
	// CookieMissing: the token header came without the token cookie.
	CookieMissing
	// CookieInvalid: the token cookie is not the session's token.
	CookieInvalid
)

var reasonNames = [...]string{
	CrossSite:        "cross_site",
	SameSite:         "same_site",
	FetchSiteInvalid: "fetch_site_invalid",
	OriginNull:       "origin_null",
	UntrustedOrigin:  "untrusted_origin",
	OriginScheme:     "origin_scheme",
	TokenMissing:     "token_missing",
	TokenInvalid:     "token_invalid",
	CookieMissing:    "cookie_missing",
	CookieInvalid:    "cookie_invalid",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown"
}

// Error is a refused request.
type Error struct {
	Reason Reason
}

func (e *Error) Error() string { return "cross-site request refused: " + e.Reason.String() }

// errs are allocated once: a flood of forged requests costs no garbage.
var errs = func() (m [len(reasonNames)]*Error) {
	for i := range m {
		m[i] = &Error{Reason: Reason(i)}
	}
	return m
}()

// ReasonOf returns the Reason of an error from Check, or 0.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return 0
}

// Protection checks requests for cross-site forgery. Build it with New; it
// is immutable and safe for concurrent use. The zero Protection is the one
// New(Options{}) returns, logging to slog.Default() without sampling.
type Protection struct {
	// cop holds the trusted origins; no bypass pattern is ever added to
	// it (bypasses are reqpath prefixes, decided before it is asked).
	cop           http.CrossOriginProtection
	trusted       map[string]bool
	bypass, token []reqpath.Prefix
	secret        []byte
	sessionID     func(*http.Request) string
	cookie        string
	header        string
	log           *seclog.Logger
	sampler       *seclog.Sampler
}

// New validates o and returns the Protection.
func New(o Options) (*Protection, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	p := &Protection{
		trusted:   map[string]bool{},
		secret:    append([]byte(nil), o.Secret...),
		sessionID: o.SessionID,
		cookie:    o.CookieName,
		header:    o.HeaderName,
		log:       o.Log,
		sampler:   &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000},
	}
	for _, s := range o.TrustedOrigins {
		if err := p.cop.AddTrustedOrigin(s); err != nil {
			return nil, err // parseOrigin accepts a subset of what Go does
		}
		p.trusted[s] = true
	}
	for _, s := range o.InsecureBypassPrefixes {
		pre, _ := reqpath.ParsePrefix(s) // validated
		p.bypass = append(p.bypass, pre)
	}
	for _, s := range o.TokenPrefixes {
		pre, _ := reqpath.ParsePrefix(s) // validated
		p.token = append(p.token, pre)
	}
	return p, nil
}

func (p *Protection) cookieName() string {
	if p.cookie == "" {
		return DefaultCookieName
	}
	return p.cookie
}

func (p *Protection) headerName() string {
	if p.header == "" {
		return DefaultHeaderName
	}
	return p.header
}

// Check returns nil when r may proceed, and an *Error saying why not
// otherwise. Safe methods (GET, HEAD, OPTIONS) always pass.
func (p *Protection) Check(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	bypass, token := p.route(r)
	if bypass {
		return nil
	}
	if err := p.checkOrigin(r); err != nil {
		return err
	}
	if token {
		return p.checkToken(r)
	}
	return nil
}

// route says whether r's path is bypassed and whether it needs the token:
// the longest matching prefix of either list decides. A path without a
// canonical form (refused by reqpath in front, or a caller's own string)
// takes the safe choice: no bypass, and the token wherever tokens are
// required anywhere.
func (p *Protection) route(r *http.Request) (bypass, token bool) {
	if len(p.bypass) == 0 && len(p.token) == 0 {
		return false, false
	}
	path, err := reqpath.FromRequest(r)
	if err != nil {
		return false, len(p.token) > 0
	}
	b, t := reqpath.Longest(p.bypass, path), reqpath.Longest(p.token, path)
	if b >= 0 && (t < 0 || p.bypass[b].Len() > p.token[t].Len()) {
		return true, false
	}
	return false, t >= 0
}

// checkOrigin applies http.CrossOriginProtection's rules, names the reason
// of a refusal, and adds the scheme rule for requests that arrived over
// TLS.
func (p *Protection) checkOrigin(r *http.Request) error {
	fetchSite := r.Header.Get("Sec-Fetch-Site")
	if err := p.cop.Check(r); err != nil {
		switch fetchSite {
		case "cross-site":
			return errs[CrossSite]
		case "same-site":
			return errs[SameSite]
		case "":
		default:
			return errs[FetchSiteInvalid]
		}
		if r.Header.Get("Origin") == "null" {
			return errs[OriginNull]
		}
		return errs[UntrustedOrigin]
	}
	if fetchSite != "" || r.TLS == nil {
		// A browser's Sec-Fetch-Site compares schemes already.
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" || p.trusted[origin] {
		return nil
	}
	// CrossOriginProtection passed it, so its host is r.Host (or it is
	// trusted, handled above): only the scheme is left to compare.
	if u, err := url.Parse(origin); err == nil && u.Scheme != "https" {
		return errs[OriginScheme]
	}
	return nil
}

// checkToken requires the session's token in the header and the cookie.
func (p *Protection) checkToken(r *http.Request) error {
	if p.sessionID == nil {
		return nil
	}
	sid := p.sessionID(r)
	if sid == "" {
		// No session, nothing for a forged request to act as; the
		// route's access rule decides whether it may go on without one.
		return nil
	}
	want := []byte(p.TokenFor(sid))
	hv := r.Header.Values(p.headerName())
	if len(hv) != 1 || hv[0] == "" {
		return errs[TokenMissing]
	}
	cookies := r.CookiesNamed(p.cookieName())
	if len(cookies) == 0 {
		return errs[CookieMissing]
	}
	if !hmac.Equal([]byte(hv[0]), want) {
		return errs[TokenInvalid]
	}
	// Any cookie of the name may hold it: without the __Host- prefix a
	// sibling subdomain can add its own cookie of the same name, which
	// must not be enough to refuse this session's requests.
	for _, c := range cookies {
		if hmac.Equal([]byte(c.Value), want) {
			return nil
		}
	}
	return errs[CookieInvalid]
}

// Handler passes the requests Check accepts to next and refuses the others
// with 403 (httperr's generic page, or problem+json) and a malicious_csrf
// security event.
func (p *Protection) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Check(r); err != nil {
			p.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Protection) refuse(w http.ResponseWriter, r *http.Request, err error) {
	key := ""
	if a := clientip.FromRequest(r); a.IsValid() {
		key = clientip.Key(a).String()
	}
	if ok, suppressed := p.sampler.Allow(key); ok {
		// The Origin and Sec-Fetch-Site are what an operator needs to
		// tell an attack from a front end to trust; the token and the
		// cookie are credentials and are never logged.
		p.log.Event(r.Context(), r, slog.LevelWarn, seclog.MaliciousCSRF,
			"unsafe request refused: it may be a cross-site request forgery",
			slog.String("reason", ReasonOf(err).String()),
			slog.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")),
			slog.String("origin", r.Header.Get("Origin")),
			slog.Int("suppressed", suppressed))
	}
	httperr.Write(w, r, http.StatusForbidden, "", requestid.FromRequest(r))
}
