// Command library is a small web application that uses rampart's packages
// in-process, without the gateway: security headers (secheaders), a login
// of its own (users, session), cross-site request forgery protection with a
// double-submit token for its JSON API (csrf), and a limit on sign-in
// attempts (ratelimit). It imports only the module's public packages: each
// measure is plain net/http middleware, usable in any Go server.
//
// Pages: / (public), /login (the form; POST signs in), /shelf (a signed-in
// user's books; POST adds one from a form), /api/books (the same as JSON;
// POST needs the X-CSRF-Token header), /logout (POST).
//
//	LIBRARY_SECRET_KEY="$(head -c 32 /dev/urandom | base64)" \
//	  go run ./examples/library --users users.yaml --cert cert.pem --key key.pem
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/secheaders"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// SessionCookie holds the access token. __Host-: browsers accept it only
// Secure, with Path=/ and no Domain, so no sibling subdomain can plant one.
const SessionCookie = "__Host-library-session"

// Bounds of what a user may store: the shelf is memory.
const (
	maxTitleLen  = 200
	maxBooks     = 100
	maxFormBytes = 8 << 10
)

// Config is what the application needs.
type Config struct {
	// Users are the accounts (users.Open; `rampart user add` writes the
	// file).
	Users *users.File
	// Secret is at least 32 random bytes: the session keys are derived
	// from it (session.Options.Secret), and the CSRF tokens are HMACs
	// under it (csrf.Options.Secret; each package separates its use by a
	// label of its own).
	Secret []byte
	// LoginRate and LoginBurst limit sign-in attempts per client address:
	// LoginRate, with LoginBurst attempts above it passed at once (as
	// nginx's burst with nodelay). Zero means 10 a minute and a burst of
	// 5: six attempts at once, then one every 6 seconds.
	LoginRate  ratelimit.Rate
	LoginBurst int
	// Log receives security events and errors. Nil means slog.Default().
	Log *slog.Logger
}

// App is the application. Close releases its session manager.
type App struct {
	users    *users.File
	sessions *session.Manager
	csrf     *csrf.Protection
	headers  *secheaders.Middleware
	limiter  *ratelimit.Limiter
	log      *slog.Logger
	sec      *seclog.Logger

	mu     sync.Mutex
	shelfs map[string][]string // user → titles
}

// New builds the application: each measure is validated by its package,
// and a mistake is an error here, not a weaker application.
func New(c Config) (*App, error) {
	if c.Users == nil {
		return nil, errors.New("library: a users file is required")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.LoginRate == 0 {
		c.LoginRate = ratelimit.PerMinute(10)
	}
	if c.LoginBurst == 0 {
		c.LoginBurst = 5
	}
	a := &App{users: c.Users, log: c.Log, sec: seclog.New(c.Log), shelfs: map[string][]string{}}
	var err error
	// The secure defaults: HSTS, a strict CSP (same-origin scripts and
	// styles only, so no page here has inline ones), nosniff, framing
	// denied to others, a referrer policy, Secure and SameSite on every
	// cookie the application sets.
	if a.headers, err = secheaders.New(secheaders.Default()); err != nil {
		return nil, err
	}
	// Tokens live an hour; the store is this process's memory (sessions
	// end when it restarts).
	if a.sessions, err = session.New(session.Options{Secret: c.Secret, Log: c.Log}, session.NewMemoryStore()); err != nil {
		return nil, err
	}
	// Every unsafe request from another origin is refused; under /api/,
	// one that belongs to a session must also echo the session's token.
	if a.csrf, err = csrf.New(csrf.Options{
		TokenPrefixes: []string{"/api/"},
		Secret:        c.Secret,
		SessionID:     sessionID,
		Log:           a.sec,
	}); err != nil {
		a.sessions.Close()
		return nil, err
	}
	// Password guessing: a few attempts per client address, then 429
	// with Retry-After, before any password is hashed. (Behind a proxy,
	// put clientip in front so the address is the client's.)
	if a.limiter, err = ratelimit.New(ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"login": {Key: "client_ip", Rate: c.LoginRate, Size: 1 << 20}},
		Rules: []ratelimit.Rule{{Prefix: "/login", Methods: []string{http.MethodPost},
			Limits: []ratelimit.Limit{{Zone: "login", Burst: c.LoginBurst, NoDelay: true}}}},
		Log: a.sec,
	}); err != nil {
		a.sessions.Close()
		return nil, err
	}
	return a, nil
}

// Close stops the session manager.
func (a *App) Close() error { return a.sessions.Close() }

// Handler is the application with its defences, outermost first: the
// headers (on every response, refusals included), the login limit, the
// session (verified once), CSRF (which needs to know the session), the
// pages.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /shelf", a.signedIn(a.shelf))
	mux.HandleFunc("POST /shelf", a.signedIn(a.addFromForm))
	mux.HandleFunc("GET /api/books", a.signedIn(a.listJSON))
	mux.HandleFunc("POST /api/books", a.signedIn(a.addFromJSON))
	return a.headers.Handler(a.limiter.Handler(a.identify(a.csrf.Handler(mux))))
}

type claimsKey struct{}

// identify verifies the session cookie once per request. A cookie that
// does not verify (forged, expired, signed out) is no session.
func (a *App) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(SessionCookie)
		if err != nil || ck.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		c, err := a.sessions.Verify(ck.Value)
		if err != nil {
			if reason := session.ReasonOf(err); reason != session.ReasonExpired {
				a.sec.Event(r.Context(), r, slog.LevelWarn, seclog.InputValidationFail, "session cookie refused",
					slog.String("reason", reason.String()))
			}
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

func claimsOf(r *http.Request) (session.Claims, bool) {
	c, ok := r.Context().Value(claimsKey{}).(session.Claims)
	return c, ok
}

// sessionID is csrf's Options.SessionID: the verified session's id only.
func sessionID(r *http.Request) string {
	if c, ok := claimsOf(r); ok {
		return c.Session
	}
	return ""
}

// signedIn lets h run for a signed-in user: a page load without a session
// goes to the login page, anything else gets 401.
func (a *App) signedIn(h func(http.ResponseWriter, *http.Request, session.Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := claimsOf(r)
		if !ok {
			if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			httperr.Write(w, r, http.StatusUnauthorized, "", "")
			return
		}
		h(w, r, c)
	}
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	c, _ := claimsOf(r)
	a.render(w, http.StatusOK, "home", map[string]any{"User": c.User})
}

func (a *App) loginPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "login", nil)
}

// login checks the password (users.File.Check: an unknown user costs the
// same hash as a wrong password, and the answer is the same), starts a
// session and sets its cookies.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		httperr.Write(w, r, http.StatusBadRequest, "", "")
		return
	}
	name := r.PostForm.Get("username")
	u, err := a.users.Check(r.Context(), name, r.PostForm.Get("password"))
	if err != nil {
		var ce *users.CredentialsError
		if !errors.As(err, &ce) {
			a.log.Error("library: checking a password", "err", err)
			httperr.Write(w, r, http.StatusServiceUnavailable, "", "")
			return
		}
		a.sec.Event(r.Context(), r, slog.LevelWarn, seclog.AuthnLoginFail, "login failed",
			slog.String("user", name), slog.String("reason", ce.Reason))
		a.render(w, http.StatusUnauthorized, "login", map[string]any{"Failed": true})
		return
	}
	s, err := a.sessions.Start(r.Context(), u.Name, u.Roles)
	if err != nil {
		a.log.Error("library: starting a session", "err", err)
		httperr.Write(w, r, http.StatusServiceUnavailable, "", "")
		return
	}
	a.sec.Event(r.Context(), r, slog.LevelInfo, seclog.AuthnLoginSuccess, "login", slog.String("user", u.Name))
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: s.Access, Path: "/", Expires: s.AccessExpires,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	// The readable double-submit cookie, for this origin's scripts to
	// echo in X-CSRF-Token.
	http.SetCookie(w, a.csrf.Cookie(a.csrf.TokenFor(s.ID)))
	http.Redirect(w, r, "/shelf", http.StatusSeeOther)
}

// logout revokes the session (its access token is refused at once, not
// in an hour) and clears both cookies.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if c, ok := claimsOf(r); ok {
		if err := a.sessions.Logout(r.Context(), c.Session); err != nil {
			a.log.Error("library: ending a session", "err", err)
		}
		a.sec.Event(r.Context(), r, slog.LevelInfo, seclog.SessionLogout, "logout", slog.String("user", c.User))
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, a.csrf.Cookie(""))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) books(user string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.shelfs[user]...)
}

// add puts a title on user's shelf; false when the title or the shelf is
// out of bounds.
func (a *App) add(user, title string) bool {
	title = strings.TrimSpace(title)
	if title == "" || len(title) > maxTitleLen {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.shelfs[user]) >= maxBooks {
		return false
	}
	a.shelfs[user] = append(a.shelfs[user], title)
	return true
}

func (a *App) shelf(w http.ResponseWriter, r *http.Request, c session.Claims) {
	a.render(w, http.StatusOK, "shelf", map[string]any{"User": c.User, "Books": a.books(c.User)})
}

// addFromForm is a form post: the origin check is its CSRF defence (the
// form is outside /api/, so no token is asked).
func (a *App) addFromForm(w http.ResponseWriter, r *http.Request, c session.Claims) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !a.add(c.User, r.PostForm.Get("title")) {
		httperr.Write(w, r, http.StatusBadRequest, "", "")
		return
	}
	http.Redirect(w, r, "/shelf", http.StatusSeeOther)
}

func (a *App) listJSON(w http.ResponseWriter, r *http.Request, c session.Claims) {
	writeJSON(w, http.StatusOK, map[string]any{"user": c.User, "books": a.books(c.User)})
}

// addFromJSON is the API: the double-submit token was checked by csrf
// before it runs.
func (a *App) addFromJSON(w http.ResponseWriter, r *http.Request, c session.Claims) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		httperr.WriteJSON(w, r, http.StatusUnsupportedMediaType, "", "")
		return
	}
	var body struct {
		Title string `json:"title"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || !a.add(c.User, body.Title) {
		httperr.WriteJSON(w, r, http.StatusBadRequest, "", "")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": c.User, "books": a.books(c.User)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// pages are the HTML pages: no inline script or style (the CSP allows
// same-origin files only), html/template's escaping for every value.
var pages = template.Must(template.New("").Parse(`
{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Library</title></head><body><main>{{end}}
{{define "bottom"}}</main></body></html>{{end}}

{{define "home"}}{{template "top"}}
<h1>Library</h1>
{{if .User}}<p>Signed in as <strong>{{.User}}</strong>. <a href="/shelf">Your shelf</a></p>
{{else}}<p><a href="/login">Sign in</a></p>{{end}}
{{template "bottom"}}{{end}}

{{define "login"}}{{template "top"}}
<h1>Sign in</h1>
{{if .Failed}}<p role="alert">Incorrect user name or password.</p>{{end}}
<form method="post" action="/login">
<label for="username">User name</label> <input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{template "bottom"}}{{end}}

{{define "shelf"}}{{template "top"}}
<h1>{{.User}}'s shelf</h1>
<ul>{{range .Books}}<li>{{.}}</li>{{else}}<li>No book yet.</li>{{end}}</ul>
<form method="post" action="/shelf">
<label for="title">Title</label> <input id="title" name="title" maxlength="200" required>
<button type="submit">Add</button>
</form>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{template "bottom"}}{{end}}
`))

func (a *App) render(w http.ResponseWriter, code int, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		a.log.Error("library: rendering a page", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprint(w, b.String())
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "address to serve HTTPS on")
	certFile := flag.String("cert", "", "TLS certificate `FILE` (PEM, required)")
	keyFile := flag.String("key", "", "TLS key `FILE` (PEM, required)")
	usersPath := flag.String("users", "users.yaml", "users `FILE` (rampart user add --users FILE NAME)")
	flag.Parse()
	if err := run(*listen, *certFile, *keyFile, *usersPath); err != nil {
		fmt.Fprintln(os.Stderr, "library:", err)
		os.Exit(1)
	}
}

func run(listen, certFile, keyFile, usersPath string) error {
	secret := os.Getenv("LIBRARY_SECRET_KEY")
	switch {
	case certFile == "" || keyFile == "":
		return errors.New("--cert and --key are required: the session cookie is Secure and __Host-, so the application serves HTTPS only")
	case len(secret) < session.MinSecretLen:
		return fmt.Errorf("LIBRARY_SECRET_KEY must be at least %d bytes (it is %d)\nhint: export LIBRARY_SECRET_KEY=\"$(head -c 32 /dev/urandom | base64)\"",
			session.MinSecretLen, len(secret))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	uf, err := users.Open(users.Options{Path: usersPath})
	if err != nil {
		return err
	}
	go uf.Run(ctx) // reloads the file when `rampart user` changes it
	app, err := New(Config{Users: uf, Secret: []byte(secret)})
	if err != nil {
		return err
	}
	defer app.Close()
	srv := &http.Server{
		Addr:              listen,
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS(certFile, keyFile) }()
	slog.Info("library: serving", "url", "https://"+listen+"/")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
