package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// maxLoginBody bounds a login request's body: three short fields.
const maxLoginBody = 8 << 10

// Field bounds, checked before anything is hashed or counted.
const (
	maxUserField     = 128
	maxPasswordField = 4096
)

// The messages the login page shows. One for every failed attempt, so
// that none tells whether the user exists, the password was wrong or a
// second factor was missing.
const (
	msgFailed  = "Incorrect username, password or authentication code."
	msgLocked  = "Too many failed attempts. Wait %s, then try again."
	msgDown    = "Signing in is unavailable right now. Try again in a moment."
	msgOut     = "You are signed out."
	msgOutAll  = "You are signed out on every device."
	msgExpired = "Your session has ended. Sign in again to continue."
)

// endpoint answers the requests under Prefix.
func (g *Gate) endpoint(w http.ResponseWriter, r *http.Request, path string) {
	name := strings.ToLower(path[len(Prefix):])
	if (name == "login" || name == "logout" || name == "refresh") && crossSiteNavigation(r) {
		// A link from another site to one of these pages arrives without
		// the SameSite=Strict cookies, so the request cannot tell a
		// signed-in user from a stranger. Answered as it stands, the
		// logout page would tell a signed-in user "You are signed out"
		// while the session lives on, and the refresh endpoint, finding
		// no refresh cookie, would delete the cookies: any site could
		// sign its visitors out with a link. The page loads again from
		// this site (see bounce), with the cookies, and decides then.
		to, ok := ReturnPath(r.URL.RequestURI())
		if !ok {
			to = Prefix + name
		}
		bounce(w, r, to)
		return
	}
	switch {
	case name == "login":
		g.login(w, r)
	case name == "logout":
		g.logout(w, r)
	case name == "refresh":
		g.refresh(w, r)
	case name == "jwks.json":
		g.jwks(w, r)
	case strings.HasPrefix(name, "assets/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		serveAsset(w, r, name[len("assets/"):]):
	default:
		httperr.Write(w, r, http.StatusNotFound, "", requestid.FromRequest(r))
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	httperr.Write(w, r, http.StatusMethodNotAllowed, "", requestid.FromRequest(r))
}

// page is the data every page of rampart shares.
func (g *Gate) page(r *http.Request, title string) pageData {
	return pageData{Title: title, Host: r.Host, Assets: strings.TrimSuffix(assetsPath, "/"), Login: LoginPath}
}

// returnOf is the return path a request names (query or form field
// "return"), or "/"; never one of rampart's endpoints, which would loop.
func returnOf(raw string) string {
	p, ok := ReturnPath(raw)
	if !ok || len(p) >= len(Prefix) && strings.EqualFold(p[:len(Prefix)], Prefix) {
		return "/"
	}
	return p
}

// credentials are a login attempt's fields.
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
	Return   string `json:"return"`
}

func (g *Gate) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		ret := returnOf(r.URL.Query().Get("return"))
		if id := identityOf(r); id != nil && id.ok {
			g.redirect(w, r, ret)
			return
		}
		d := g.page(r, "Sign in")
		d.Action, d.Return = LoginPath, ret
		if r.URL.Query().Get("ended") != "" {
			d.Notice = msgExpired
		}
		if id := identityOf(r); id != nil && id.stale {
			g.clearSession(w)
		}
		render(w, r, loginPage, http.StatusOK, d)
	case http.MethodPost:
		g.loginPost(w, r)
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

// loginPost is an attempt: the form of the page, or JSON from a script.
func (g *Gate) loginPost(w http.ResponseWriter, r *http.Request) {
	asJSON := false
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		asJSON = true
	}
	cr, ok := readCredentials(w, r, asJSON)
	if !ok {
		g.loginFailed(w, r, asJSON, cr, http.StatusBadRequest, "")
		return
	}
	ctx := r.Context()
	addr := clientip.FromRequest(r)
	keys := keysFor(cr.Username, addr)
	attrs := []slog.Attr{slog.String("user", cr.Username)}

	until, err := g.throttle.blocked(ctx, keys)
	if err != nil {
		g.storeDown(w, r, asJSON, cr, err)
		return
	}
	if !until.IsZero() {
		wait := until.Sub(g.now())
		g.sec.Event(ctx, r, slog.LevelWarn, seclog.AuthnLoginLock, "login refused: back-off after failed attempts",
			append(attrs, slog.Int64("retry_after_s", ceilSeconds(wait)))...)
		g.locked(w, r, asJSON, cr, wait)
		return
	}

	u, err := g.users.Check(ctx, cr.Username, cr.Password)
	reason := ""
	var ce *users.CredentialsError
	switch {
	case errors.As(err, &ce):
		reason = ce.Reason
	case err != nil:
		// The hashing budget's wait ended with the request.
		if ctx.Err() != nil {
			return
		}
		g.logger.Error("auth: checking a password", "err", err)
		g.storeDown(w, r, asJSON, cr, err)
		return
	case u.TOTPSecret != "":
		used := false
		ok := users.ValidateTOTP(u.TOTPSecret, cr.TOTP, g.now(), func(step int64) bool {
			first, err := g.store.Once(ctx, totpKey(u.Name, step), 3*time.Duration(users.TOTPPeriod)*time.Second, g.now())
			used = err == nil && !first
			return err == nil && first
		})
		if !ok {
			reason = "wrong_totp"
			if used {
				reason = "totp_replayed"
			}
		}
	}
	if reason != "" {
		fc, err := g.throttle.fail(ctx, keys)
		if err != nil {
			g.logger.Error("auth: counting a failed login", "err", err)
		}
		g.sec.Event(ctx, r, slog.LevelWarn, seclog.AuthnLoginFail, "login failed",
			append(attrs, slog.String("reason", reason), slog.Int("failures_user", fc.user), slog.Int("failures_address", fc.addr))...)
		for _, a := range fc.alarm {
			g.sec.Event(ctx, r, slog.LevelError, seclog.AuthnLoginFailMax, "failed logins reached the limit of one "+a,
				append(attrs, slog.String("limit", a), slog.Int("failures_user", fc.user), slog.Int("failures_address", fc.addr))...)
		}
		g.loginFailed(w, r, asJSON, cr, http.StatusUnauthorized, msgFailed)
		return
	}

	if err := g.throttle.success(ctx, keys); err != nil {
		g.logger.Error("auth: resetting the failure count", "err", err)
	}
	s, err := g.sessions.Start(ctx, u.Name, u.Roles)
	if err != nil {
		g.logger.Error("auth: starting a session", "err", err)
		g.storeDown(w, r, asJSON, cr, err)
		return
	}
	g.setSession(w, s)
	sid := slog.String("session", s.ID)
	g.sec.Event(ctx, r, slog.LevelInfo, seclog.AuthnLoginSuccess, "login", append(attrs, sid)...)
	g.sec.Event(ctx, r, slog.LevelInfo, seclog.SessionCreated, "session created", append(attrs, sid,
		slog.Time("expires", s.RefreshExpires))...)
	g.sec.Event(ctx, r, slog.LevelInfo, seclog.AuthnTokenCreated, "access token issued", append(attrs, sid,
		slog.Time("expires", s.AccessExpires))...)
	if asJSON {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	g.redirect(w, r, returnOf(cr.Return))
}

// readCredentials reads the fields of a login attempt. ok is false for a
// request no browser form or script of ours would send (a body too long,
// not UTF-8, a field out of bounds); the username is then cleared.
func readCredentials(w http.ResponseWriter, r *http.Request, asJSON bool) (credentials, bool) {
	var cr credentials
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if asJSON {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cr); err != nil || dec.Decode(&struct{}{}) != io.EOF {
			return credentials{}, false
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return credentials{}, false
		}
		f := r.PostForm
		cr = credentials{Username: f.Get("username"), Password: f.Get("password"), TOTP: f.Get("totp"), Return: f.Get("return")}
	}
	cr.TOTP = strings.TrimSpace(cr.TOTP)
	if cr.Username == "" || cr.Password == "" || len(cr.Username) > maxUserField || len(cr.Password) > maxPasswordField ||
		!utf8.ValidString(cr.Username) || len(cr.TOTP) > 16 {
		return credentials{Return: cr.Return}, false
	}
	return cr, true
}

func totpKey(user string, step int64) string {
	sum := sha256.Sum256([]byte(user))
	return "totp:" + hex.EncodeToString(sum[:12]) + ":" + strconv.FormatInt(step, 10)
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(max(d, time.Second).Seconds()))
}

// loginFailed answers a failed attempt: the page again, with the name
// kept and the generic message, or a problem document.
func (g *Gate) loginFailed(w http.ResponseWriter, r *http.Request, asJSON bool, cr credentials, code int, msg string) {
	if asJSON {
		writeProblem(w, r, code, strings.TrimSuffix(msg, "."))
		return
	}
	if msg == "" {
		msg = msgFailed
	}
	d := g.page(r, "Sign in")
	d.Action, d.Return, d.Username, d.Error = LoginPath, returnOf(cr.Return), cr.Username, msg
	render(w, r, loginPage, code, d)
}

// locked answers an attempt made during a back-off: 429 with Retry-After.
func (g *Gate) locked(w http.ResponseWriter, r *http.Request, asJSON bool, cr credentials, wait time.Duration) {
	secs := ceilSeconds(wait)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	if asJSON {
		writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf("retry in %d seconds", secs))
		return
	}
	d := g.page(r, "Sign in")
	d.Action, d.Return, d.Username = LoginPath, returnOf(cr.Return), cr.Username
	d.Error = fmt.Sprintf(msgLocked, humanWait(secs))
	render(w, r, loginPage, http.StatusTooManyRequests, d)
}

func humanWait(secs int64) string {
	switch {
	case secs <= 1:
		return "a second"
	case secs < 90:
		return strconv.FormatInt(secs, 10) + " seconds"
	}
	return strconv.FormatInt((secs+59)/60, 10) + " minutes"
}

// storeDown answers when the state store (or the hashing budget) failed:
// 503, nothing learnt about the credentials.
func (g *Gate) storeDown(w http.ResponseWriter, r *http.Request, asJSON bool, cr credentials, err error) {
	g.logger.Error("auth: login unavailable", "err", err, "request_id", requestid.FromRequest(r))
	w.Header().Set("Retry-After", "5")
	if asJSON {
		writeProblem(w, r, http.StatusServiceUnavailable, "")
		return
	}
	d := g.page(r, "Sign in")
	d.Action, d.Return, d.Username, d.Error = LoginPath, returnOf(cr.Return), cr.Username, msgDown
	render(w, r, loginPage, http.StatusServiceUnavailable, d)
}

// setSession sets the cookies of s: the access token for every path, the
// refresh token for the refresh endpoint only (absent after a refresh
// within the grace window: the browser keeps the one it has), and the
// CSRF token when the CSRF protection uses one.
func (g *Gate) setSession(w http.ResponseWriter, s session.Session) {
	now := g.now()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: s.Access, Path: "/",
		MaxAge: maxAge(s.AccessExpires, now), Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	if s.Refresh != "" {
		http.SetCookie(w, &http.Cookie{
			Name: RefreshCookie, Value: s.Refresh, Path: RefreshPath,
			MaxAge: maxAge(s.RefreshExpires, now), Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		})
	}
	if g.csrf != nil {
		if t := g.csrf.TokenFor(s.ID); t != "" {
			http.SetCookie(w, g.csrf.Cookie(t))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
}

func maxAge(until, now time.Time) int {
	return max(1, int(until.Sub(now)/time.Second))
}

// clearSession deletes rampart's cookies, with the attributes they were
// set with (a browser deletes a cookie only when name, path and prefix
// rules match).
func (g *Gate) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: RefreshCookie, Value: "", Path: RefreshPath, MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	if g.csrf != nil && g.csrf.TokenFor("x") != "" {
		http.SetCookie(w, g.csrf.Cookie(""))
	}
	w.Header().Set("Cache-Control", "no-store")
}

// refresh exchanges the refresh cookie for a new access token (and a new
// refresh token). GET is the navigation form: a redirect back to the
// return path, or to the login page when there is no session to continue;
// POST is the script form: 204 or 401.
func (g *Gate) refresh(w http.ResponseWriter, r *http.Request) {
	nav := false
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		nav = true
	case http.MethodPost:
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST")
		return
	}
	ret := returnOf(r.URL.Query().Get("return"))
	fail := func(ended bool) {
		// Cookies are cleared only when the request carried some: a
		// request without any (a link from another site, even from a
		// browser that sends no Fetch Metadata) must not sign the user
		// out of the cookies it did not send.
		if carriesSession(r) {
			g.clearSession(w)
		}
		if nav {
			to := LoginPath + "?return=" + url.QueryEscape(ret)
			if ended {
				to += "&ended=1"
			}
			g.redirect(w, r, to)
			return
		}
		writeProblem(w, r, http.StatusUnauthorized, "sign in at "+LoginPath)
	}
	c, err := r.Cookie(RefreshCookie)
	if err != nil || c.Value == "" {
		fail(false)
		return
	}
	ctx := r.Context()
	res, err := g.sessions.Refresh(ctx, c.Value)
	if err != nil {
		var se *session.Error
		if !errors.As(err, &se) {
			// The store failed: the token may be good. Not a logout.
			g.logger.Error("auth: refreshing a session", "err", err, "request_id", requestid.FromRequest(r))
			w.Header().Set("Retry-After", "5")
			httperr.Write(w, r, http.StatusServiceUnavailable, "", requestid.FromRequest(r))
			return
		}
		attrs := []slog.Attr{slog.String("user", se.User), slog.String("session", se.Session), slog.String("reason", se.Reason.String())}
		switch se.Reason {
		case session.ReasonReused:
			g.sec.Event(ctx, r, slog.LevelError, seclog.AuthnTokenReuse, "a rotated refresh token was used again: the session is revoked", attrs...)
			g.sec.Event(ctx, r, slog.LevelWarn, seclog.AuthnTokenRevoked, "session revoked", attrs...)
		case session.ReasonSessionExpired:
			g.sec.Event(ctx, r, slog.LevelInfo, seclog.SessionExpired, "session ended by its timeout", attrs...)
		case session.ReasonRevoked, session.ReasonUserDisabled:
			g.sec.Event(ctx, r, slog.LevelInfo, seclog.SessionUseAfterExpire, "refresh of an ended session", attrs...)
		default:
			if ok, suppressed := g.sampler.Allow("refresh" + clientKey(r)); ok {
				g.sec.Event(ctx, r, slog.LevelWarn, seclog.InputValidationFail, "refresh token refused",
					append(attrs, slog.Int("suppressed", suppressed))...)
			}
		}
		fail(se.Reason == session.ReasonSessionExpired || se.Reason == session.ReasonUserDisabled)
		return
	}
	g.setSession(w, res.Session)
	g.sec.Event(ctx, r, slog.LevelInfo, seclog.AuthnTokenCreated, "access token refreshed",
		slog.String("user", res.User), slog.String("session", res.ID), slog.String("outcome", res.Outcome.String()),
		slog.Time("expires", res.AccessExpires))
	if nav {
		g.redirect(w, r, ret)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// carriesSession reports whether r carries one of rampart's session
// cookies.
func carriesSession(r *http.Request) bool {
	for _, name := range []string{SessionCookie, RefreshCookie} {
		if _, err := r.Cookie(name); err == nil {
			return true
		}
	}
	return false
}

// logout ends the session of the request (POST; the field or JSON member
// "everywhere" ends all of the user's sessions). GET shows the page with
// the buttons, or that the user is signed out.
func (g *Gate) logout(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d := g.page(r, "Sign out")
		d.Action = LogoutPath
		if id == nil || !id.ok {
			d.Title, d.Notice = "Signed out", msgOut
			if r.URL.Query().Get("all") != "" {
				d.Notice = msgOutAll
			}
		}
		render(w, r, logoutPage, http.StatusOK, d)
		return
	case http.MethodPost:
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST")
		return
	}
	asJSON := false
	everywhere := false
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		asJSON = true
		var body struct {
			Everywhere bool `json:"everywhere"`
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
		json.NewDecoder(r.Body).Decode(&body)
		everywhere = body.Everywhere
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
		r.ParseForm()
		everywhere = r.PostForm.Get("everywhere") != ""
	}
	ctx := r.Context()
	var claims session.Claims
	known := false
	if id != nil && id.ok {
		claims, known = id.claims, true
	} else if t := sessionCookie(r); t != "" {
		// An expired access token still names its session: a user
		// signing out after an hour away ends the session, not just
		// the cookie.
		claims, known = g.sessions.Inspect(t)
	}
	if known {
		var err error
		if everywhere {
			err = g.sessions.LogoutUser(ctx, claims.User)
		} else {
			err = g.sessions.Logout(ctx, claims.Session)
		}
		attrs := []slog.Attr{slog.String("user", claims.User), slog.String("session", claims.Session),
			slog.Bool("everywhere", everywhere), slog.Bool("stored", err == nil)}
		if err != nil {
			g.logger.Error("auth: storing a logout", "err", err, "request_id", requestid.FromRequest(r))
		}
		g.sec.Event(ctx, r, slog.LevelInfo, seclog.SessionLogout, "logout", attrs...)
		g.sec.Event(ctx, r, slog.LevelInfo, seclog.AuthnTokenRevoked, "session revoked", attrs...)
	}
	g.clearSession(w)
	if asJSON {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	to := LogoutPath
	if everywhere {
		to += "?all=1"
	}
	g.redirect(w, r, to)
}

// jwks serves the public keys, for applications verifying the assertion.
func (g *Gate) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	body := g.sessions.JWKS()
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// The next key is published a whole rotation period before it
	// signs: an hour of caching never misses it.
	h.Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
