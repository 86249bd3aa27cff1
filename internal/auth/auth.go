// Package auth is authentication at the gateway: the login page and API,
// logout, refresh and the JWKS under /.well-known/rampart/, the access
// rules on paths, the identity sent to the application, and the defence
// against password guessing. Tokens are package session's, accounts
// package users', CSRF package csrf's; this package puts them in front of
// an application that knows none of them.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// Store is the state the gateway keeps: sessions (session.Store) and the
// login counters (Counters). internal/state's stores are both.
type Store interface {
	session.Store
	Counters
}

// Deps are what the gateway gives at run time.
type Deps struct {
	Store Store
	// CSRF, when it has a token secret, gets its cookie set at login and
	// cleared at logout. May be nil.
	CSRF *csrf.Protection
	// Sec receives the security events; Logger the operational ones.
	Sec    *seclog.Logger
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gate is authentication in service. Identify and Handler are its two
// stages (see the gateway's pipeline); Run keeps the users file, the
// revocations of changed users and the JWKS file current.
type Gate struct {
	o        Options
	headers  IdentityHeaders
	audience string
	users    *users.File
	sessions *session.Manager
	rules    *ruleSet
	throttle *throttle
	store    Store
	csrf     *csrf.Protection
	sec      *seclog.Logger
	logger   *slog.Logger
	now      func() time.Time
	sampler  *seclog.Sampler

	assertions assertionCache
}

// New validates o and opens the users file and the session manager.
func New(o Options, d Deps) (*Gate, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	if d.Store == nil {
		return nil, errors.New("auth: a state store is required")
	}
	g := &Gate{
		o:        o,
		headers:  o.Headers.withDefaults(),
		audience: o.AssertionAudience,
		store:    d.Store,
		csrf:     d.CSRF,
		sec:      d.Sec,
		logger:   d.Logger,
		now:      d.Now,
		// A client sending bad tokens on every request (a stale or
		// forged cookie) logs a few events a minute, not one per
		// request.
		sampler: &seclog.Sampler{Burst: 3, Interval: time.Minute},
	}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.audience == "" {
		g.audience = DefaultAssertionAudience
	}
	rules, err := compileRules(o.Rules)
	if err != nil {
		return nil, err
	}
	g.rules = rules
	uo := o.Users
	if uo.Logger == nil {
		uo.Logger = g.logger
	}
	uo.OnChange = g.usersChanged
	if g.users, err = users.Open(uo); err != nil {
		return nil, err
	}
	so := o.Session
	if so.Log == nil {
		so.Log = g.logger
	}
	if so.Now == nil {
		so.Now = g.now
	}
	// A user removed from the file or disabled cannot refresh: the
	// session ends at its next refresh at the latest (and at once, by
	// usersChanged, when the file is reloaded).
	so.Roles = func(name string) ([]string, bool) {
		u, ok := g.users.Lookup(name)
		if !ok || u.Disabled {
			return nil, false
		}
		return u.Roles, true
	}
	if g.sessions, err = session.New(so, d.Store); err != nil {
		return nil, err
	}
	g.throttle = &throttle{c: d.Store, now: g.now}
	return g, nil
}

// Close stops the session manager's revocation feed.
func (g *Gate) Close() error { return g.sessions.Close() }

// Run reloads the users file when it changes and keeps the JWKS file
// current, until ctx is done.
func (g *Gate) Run(ctx context.Context) {
	go g.users.Run(ctx)
	if g.o.JWKSFile == "" {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var last []byte
	for {
		if jwks := g.sessions.JWKS(); !slices.Equal(jwks, last) {
			if err := writeFileAtomic(g.o.JWKSFile, jwks, 0o644); err != nil {
				g.logger.Error("auth: writing the JWKS file", "file", g.o.JWKSFile, "err", err)
			} else {
				last = jwks
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WriteJWKS writes the JWKS file now (at start, before the application
// may need it). A no-op without JWKSFile.
func (g *Gate) WriteJWKS() error {
	if g.o.JWKSFile == "" {
		return nil
	}
	return writeFileAtomic(g.o.JWKSFile, g.sessions.JWKS(), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".jwks-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// usersChanged ends the sessions of users the file no longer admits as
// they were (disabled, removed, another password, TOTP secret or roles).
func (g *Gate) usersChanged(names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range names {
		err := g.sessions.LogoutUser(ctx, name)
		g.sec.Event(ctx, nil, slog.LevelWarn, seclog.AuthnTokenRevoked, "sessions ended: the account changed in the users file",
			slog.String("user", name), slog.Bool("stored", err == nil))
		if err != nil {
			g.logger.Error("auth: ending the sessions of a changed user", "user", name, "err", err)
		}
	}
}

// ErrUnknownUser is RevokeUser's error for a name the users file does not
// hold.
var ErrUnknownUser = errors.New("auth: no such user in the users file")

// RevokeUser ends every session of the user name at once, here and,
// through the state store, on every instance that shares it: an
// operator's revocation (`rampart user revoke`). Each of the user's access
// tokens is refused from the next request and no refresh family of theirs
// is renewed; the user signs in again. The users file is not changed: a
// user who must not sign in again is disabled there. by says who asked,
// for the security event.
func (g *Gate) RevokeUser(ctx context.Context, name, by string) error {
	if _, ok := g.users.Lookup(name); !ok {
		return ErrUnknownUser
	}
	err := g.sessions.LogoutUser(ctx, name)
	g.sec.Event(ctx, nil, slog.LevelWarn, seclog.AuthnTokenRevoked, "sessions ended by an operator",
		slog.String("user", name), slog.String("by", by), slog.Bool("stored", err == nil))
	return err
}

// Sessions is the session manager, for the gateway's tests and tools.
func (g *Gate) Sessions() *session.Manager { return g.sessions }

type claimsKey struct{}

// identity is what Identify found on a request.
type identity struct {
	claims session.Claims
	ok     bool
	// stale: a session cookie was sent but refused (expired, revoked,
	// forged); the answer clears it.
	stale bool
}

func identityOf(r *http.Request) *identity {
	id, _ := r.Context().Value(claimsKey{}).(*identity)
	return id
}

// SessionID returns the id of r's verified session, or "": csrf's
// Options.SessionID.
func SessionID(r *http.Request) string {
	if id := identityOf(r); id != nil && id.ok {
		return id.claims.Session
	}
	return ""
}

// ClaimsFromRequest returns the claims of r's verified session.
func ClaimsFromRequest(r *http.Request) (session.Claims, bool) {
	if id := identityOf(r); id != nil && id.ok {
		return id.claims, true
	}
	return session.Claims{}, false
}

// Identify verifies the session cookie, once, and records the result for
// the stages after it (CSRF's token check, the access rules). It refuses
// nothing.
func (g *Gate) Identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := sessionCookie(r)
		if token == "" {
			next.ServeHTTP(w, r)
			return
		}
		id := &identity{}
		c, err := g.sessions.Verify(token)
		if err == nil {
			id.claims, id.ok = c, true
			// The access log names the user, as nginx's $remote_user.
			accesslog.AddAttrs(r, slog.String("user", c.User))
		} else {
			id.stale = true
			g.tokenRefused(r, err)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, id)))
	})
}

// sessionCookie returns the value of the access cookie, without parsing
// the other cookies into a map.
func sessionCookie(r *http.Request) string {
	for _, line := range r.Header.Values("Cookie") {
		if !strings.Contains(line, SessionCookie) {
			continue
		}
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && name == SessionCookie {
				return value
			}
		}
	}
	return ""
}

// tokenRefused logs a refused access token: an expired one is the normal
// end of a token's life and is not an event; a revoked session's token
// presented again is session_use_after_expire; anything else (forged,
// tampered, another key's) is input_validation_fail. Sampled per client.
func (g *Gate) tokenRefused(r *http.Request, err error) {
	reason := session.ReasonOf(err)
	event, level := seclog.InputValidationFail, slog.LevelWarn
	switch reason {
	case session.ReasonExpired:
		return
	case session.ReasonRevoked:
		event, level = seclog.SessionUseAfterExpire, slog.LevelInfo
	}
	if ok, suppressed := g.sampler.Allow(event + clientKey(r)); ok {
		g.sec.Event(r.Context(), r, level, event, "session cookie refused",
			slog.String("reason", reason.String()), slog.Int("suppressed", suppressed))
	}
}

// Handler answers rampart's endpoints, applies the access rules and sends
// the identity to the application (next).
func (g *Gate) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, err := reqpath.FromRequest(r)
		if err != nil {
			// reqpath.Enforce in front refused it already; nothing
			// without a canonical path is forwarded.
			httperr.Write(w, r, http.StatusBadRequest, "", requestid.FromRequest(r))
			return
		}
		if len(path) >= len(Prefix) && strings.EqualFold(path[:len(Prefix)], Prefix) {
			g.endpoint(w, r, path)
			return
		}
		id := identityOf(r)
		need := g.rules.decide(r.Method, path)
		switch {
		case need.public:
		case id == nil || !id.ok:
			g.unauthenticated(w, r, id)
			return
		case need.role != "" && !slices.Contains(id.claims.Roles, need.role):
			g.sec.Event(r.Context(), r, slog.LevelWarn, seclog.AuthzFail, "role required",
				slog.String("user", id.claims.User), slog.String("role", need.role))
			httperr.Write(w, r, http.StatusForbidden, "", requestid.FromRequest(r))
			return
		case g.nearExpiry(r, id):
			// A page load shortly before the access token expires goes
			// through the refresh endpoint, which sets a fresh one and
			// comes back: the browser refreshes without a script.
			g.redirect(w, r, RefreshPath+"?return="+url.QueryEscape(r.URL.RequestURI()))
			return
		}
		g.forward(w, r, next, id)
	})
}

// nearExpiry reports whether r is a page load whose access token has less
// than a quarter of its life (at most 5 minutes) left.
func (g *Gate) nearExpiry(r *http.Request, id *identity) bool {
	if r.Method != http.MethodGet || !IsNavigation(r) {
		return false
	}
	if _, ok := ReturnPath(r.URL.RequestURI()); !ok {
		return false
	}
	life := id.claims.Expires.Sub(id.claims.IssuedAt)
	return id.claims.Expires.Sub(g.now()) < min(life/4, 5*time.Minute)
}

// forward sends r to the application: the client's identity headers and
// rampart's cookies removed, rampart's identity headers set when r has a
// session.
func (g *Gate) forward(w http.ResponseWriter, r *http.Request, next http.Handler, id *identity) {
	h := r.Header
	h.Del(g.headers.User)
	h.Del(g.headers.Roles)
	h.Del(g.headers.Assertion)
	stripCookies(h)
	if id != nil && id.ok {
		up := make(http.Header, 3)
		up[g.headers.User] = []string{id.claims.User}
		if len(id.claims.Roles) > 0 {
			up[g.headers.Roles] = []string{strings.Join(id.claims.Roles, ",")}
		}
		if a, err := g.assertion(id.claims); err == nil {
			up[g.headers.Assertion] = []string{a}
		} else {
			g.logger.Error("auth: signing the assertion", "err", err)
		}
		r = r.WithContext(proxy.WithUpstreamHeaders(r.Context(), up))
	}
	next.ServeHTTP(w, r)
}

// stripCookies removes rampart's cookies from the Cookie header sent to
// the application: the access token is the gateway's (the application
// gets the assertion), and no application code, log or debug page should
// ever hold it. The other cookies go through byte for byte.
func stripCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	found := false
	for _, l := range lines {
		if strings.Contains(l, "rampart-") {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, l := range lines {
		var parts []string
		for part := range strings.SplitSeq(l, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if isRampartCookie(name) {
				continue
			}
			parts = append(parts, strings.TrimSpace(part))
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = kept
}

func isRampartCookie(name string) bool {
	return name == SessionCookie || name == RefreshCookie || name == csrf.DefaultCookieName
}

// assertion returns a signed assertion of c for the application, reusing
// one signed for the same token while it has more than half its life
// left: signing costs far more than a map lookup.
func (g *Gate) assertion(c session.Claims) (string, error) {
	key := c.Session + "\x00" + c.IssuedAt.String()
	now := g.now()
	if a, ok := g.assertions.get(key, now); ok {
		return a, nil
	}
	a, err := g.sessions.Assert(c, g.audience)
	if err != nil {
		return "", err
	}
	g.assertions.put(key, a, now.Add(session.AssertionTTL/2))
	return a, nil
}

// assertionCache holds recent assertions by session and token, bounded.
type assertionCache struct {
	mu sync.Mutex
	m  map[string]cachedAssertion
}

type cachedAssertion struct {
	token string
	until time.Time
}

const maxCachedAssertions = 1 << 16

func (c *assertionCache) get(key string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[key]
	if !ok || !now.Before(a.until) {
		return "", false
	}
	return a.token, true
}

func (c *assertionCache) put(key, token string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedAssertions {
		// Cleared whole when full: the cost is one signature per
		// active session, once.
		c.m = make(map[string]cachedAssertion)
	}
	c.m[key] = cachedAssertion{token, until}
}

// unauthenticated answers a request that needs a session and has none.
func (g *Gate) unauthenticated(w http.ResponseWriter, r *http.Request, id *identity) {
	if id != nil && id.stale {
		g.clearSession(w)
	}
	if IsNavigation(r) {
		ret, ok := ReturnPath(r.URL.RequestURI())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A form posted after the session ended: its body cannot
			// be replayed; the user comes back to the page it was on.
			ret, ok = sameOriginReferer(r)
		}
		if !ok {
			ret = "/"
		}
		if crossSiteNavigation(r) {
			bounce(w, r, ret)
			return
		}
		// Through the refresh endpoint: a browser with a live refresh
		// cookie gets a new access token and comes straight back; one
		// without goes on to the login page.
		g.redirect(w, r, RefreshPath+"?return="+url.QueryEscape(ret))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeProblem(w, r, http.StatusUnauthorized, "sign in at "+LoginPath)
}

// sameOriginReferer is the local path of r's Referer when it is on r's
// own origin.
func sameOriginReferer(r *http.Request) (string, bool) {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, r.Host) {
		return "", false
	}
	return ReturnPath(u.RequestURI())
}

// redirect answers 303 See Other to a local URL.
func (g *Gate) redirect(w http.ResponseWriter, r *http.Request, to string) {
	h := w.Header()
	h.Set("Location", to)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}

// writeProblem answers an RFC 9457 problem document, whatever the client
// accepts: the API answers of the endpoints and the rules are for
// scripts.
func writeProblem(w http.ResponseWriter, r *http.Request, code int, detail string) {
	httperr.WriteJSON(w, r, code, detail, requestid.FromRequest(r))
}

func clientKey(r *http.Request) string {
	return clientip.Key(clientip.FromRequest(r)).String()
}
