package auth

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "bob's own long password"
	totpSecret    = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	origin        = "https://app.test"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// hashes are computed once: argon2 costs 40 ms a hash.
var hashes = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, pw := range []string{alicePassword, bobPassword} {
		h, err := users.Hash(pw)
		if err != nil {
			panic(err)
		}
		m[pw] = h
	}
	return m
})

// events is a security log the tests read.
type events struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (e *events) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.buf.Write(p)
}

func (e *events) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(e.buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if ev, ok := m["event.action"].(string); ok {
				out = append(out, ev)
			}
		}
	}
	return out
}

func (e *events) has(name string) bool { return slices.Contains(e.names(), name) }

func (e *events) text() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.buf.String()
}

// upstream records what the application received.
type upstream struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// What the proxy would send: the request's headers plus those the
	// gateway set for the upstream.
	r = r.Clone(r.Context())
	for k, v := range proxy.UpstreamHeadersFromContext(r.Context()) {
		r.Header[k] = v
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, r)
	u.mu.Unlock()
	w.Write([]byte("app " + r.URL.Path))
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return nil
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

type env struct {
	t     testing.TB
	gate  *Gate
	h     http.Handler
	app   *upstream
	ev    *events
	clock *clock
	file  string
	store *state.Embedded
}

func writeUsers(t testing.TB, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func usersDoc(aliceDisabled bool) string {
	h := hashes()
	d := ""
	if aliceDisabled {
		d = ", disabled: true"
	}
	return "users:\n" +
		"  - {name: alice, hash: '" + h[alicePassword] + "', roles: [admin, editor]" + d + "}\n" +
		"  - {name: bob, hash: '" + h[bobPassword] + "', totp: " + totpSecret + "}\n"
}

func newEnv(t testing.TB, rules ...Rule) *env {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "users.yaml")
	writeUsers(t, file, usersDoc(false))
	st, err := state.OpenEmbedded(filepath.Join(dir, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ev := &events{}
	sec := seclog.New(slog.New(slog.NewJSONHandler(ev, nil)))
	// Half a second past a second: sessions begin on whole seconds, so a
	// user's revocation at the same instant ends them (as it does at any
	// real instant).
	clk := &clock{t: time.Now().Truncate(time.Second).Add(500 * time.Millisecond)}
	protect, err := csrf.New(csrf.Options{Secret: secret, SessionID: SessionID, Log: sec, TokenPrefixes: []string{"/api/"}})
	if err != nil {
		t.Fatal(err)
	}
	if rules == nil {
		rules = []Rule{
			{Prefix: "/", Require: "public"},
			{Prefix: "/app", Require: "authenticated"},
			{Prefix: "/admin", Require: "role:admin"},
			{Prefix: "/api", Require: "authenticated"},
		}
	}
	g, err := New(Options{
		Users:   users.Options{Path: file, Logger: slog.New(slog.DiscardHandler)},
		Session: session.Options{Secret: secret},
		Rules:   rules,
	}, Deps{Store: st, CSRF: protect, Sec: sec, Logger: slog.New(slog.DiscardHandler), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	app := &upstream{}
	return &env{t: t, gate: g, h: g.Identify(protect.Handler(g.Handler(app))), app: app, ev: ev, clock: clk, file: file, store: st}
}

// req is one request: method, target, and headers as "Name: value".
func (e *env) do(method, target string, body io.Reader, headers ...string) *http.Response {
	e.t.Helper()
	r := httptest.NewRequest(method, origin+target, body)
	r.RemoteAddr = "127.0.0.9:40000"
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Add(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w.Result()
}

func (e *env) login(user, password string, extra ...string) *http.Response {
	e.t.Helper()
	form := url.Values{"username": {user}, "password": {password}, "return": {"/app/page"}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return e.do("POST", LoginPath, strings.NewReader(form.Encode()),
		"Content-Type: application/x-www-form-urlencoded", "Origin: "+origin, "Sec-Fetch-Site: same-origin")
}

// cookies returns the cookies a response set, by name.
func cookies(resp *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		m[c.Name] = c
	}
	return m
}

func (e *env) signIn() (access, refresh string) {
	e.t.Helper()
	resp := e.login("alice", alicePassword)
	c := cookies(resp)
	if resp.StatusCode != http.StatusSeeOther || c[SessionCookie] == nil || c[RefreshCookie] == nil {
		e.t.Fatalf("login: %d %v", resp.StatusCode, resp.Header)
	}
	return c[SessionCookie].Value, c[RefreshCookie].Value
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLogin_FormSetsTheCookiesAndReturns(t *testing.T) {
	e := newEnv(t)
	resp := e.login("alice", alicePassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/page" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := cookies(resp)
	s, r, x := c[SessionCookie], c[RefreshCookie], c[csrf.DefaultCookieName]
	if s == nil || !s.Secure || !s.HttpOnly || s.SameSite != http.SameSiteStrictMode || s.Path != "/" || s.Domain != "" || s.MaxAge <= 0 {
		t.Errorf("access cookie: %+v", s)
	}
	if len(s.String()) >= 4096 {
		t.Errorf("access cookie of %d bytes", len(s.String()))
	}
	if r == nil || !r.Secure || !r.HttpOnly || r.SameSite != http.SameSiteStrictMode || r.Path != RefreshPath {
		t.Errorf("refresh cookie: %+v", r)
	}
	if x == nil || !x.Secure || x.HttpOnly || x.SameSite != http.SameSiteStrictMode || x.Path != "/" {
		t.Errorf("csrf cookie: %+v", x)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	for _, ev := range []string{seclog.AuthnLoginSuccess, seclog.SessionCreated, seclog.AuthnTokenCreated} {
		if !e.ev.has(ev) {
			t.Errorf("no %s event: %v", ev, e.ev.names())
		}
	}
	// The session works on the protected area.
	resp = e.do("GET", "/app/page", nil, "Cookie: "+SessionCookie+"="+s.Value)
	if resp.StatusCode != 200 || e.app.last().Header.Get(DefaultUserHeader) != "alice" {
		t.Fatalf("protected page: %d", resp.StatusCode)
	}
}

func TestLogin_JSON(t *testing.T) {
	e := newEnv(t)
	resp := e.do("POST", LoginPath, strings.NewReader(`{"username":"alice","password":"`+alicePassword+`"}`),
		"Content-Type: application/json", "Origin: "+origin)
	if resp.StatusCode != http.StatusNoContent || cookies(resp)[SessionCookie] == nil {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	resp = e.do("POST", LoginPath, strings.NewReader(`{"username":"alice","password":"wrong"}`),
		"Content-Type: application/json", "Origin: "+origin)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Unknown members and trailing data are refused, not guessed at.
	for _, b := range []string{`{"username":"alice","password":"x","admin":true}`, `{"username":"alice","password":"x"} {}`, `[]`} {
		resp = e.do("POST", LoginPath, strings.NewReader(b), "Content-Type: application/json", "Origin: "+origin)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", b, resp.StatusCode)
		}
	}
}

// The same answer, word for word, whether the user exists, the password
// is wrong or the account is disabled. (The time is the same hash: see
// BenchmarkLogin.)
func TestAttack_UserEnumerationByMessage(t *testing.T) {
	e := newEnv(t)
	writeUsers(t, e.file, usersDoc(true))
	if ok, err := e.gate.users.Reload(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	norm := func(resp *http.Response) string {
		b := body(resp)
		return resp.Status + strings.ReplaceAll(b, "value=\"nobody\"", "value=\"alice\"")
	}
	unknown := norm(e.login("nobody", alicePassword))
	wrong := norm(e.login("bob", "wrong password"))
	disabled := norm(e.login("alice", alicePassword))
	wrong = strings.ReplaceAll(wrong, "value=\"bob\"", "value=\"alice\"")
	if unknown != wrong || wrong != disabled {
		t.Errorf("answers differ:\nunknown: %s\nwrong: %s\ndisabled: %s", unknown, wrong, disabled)
	}
	if !strings.Contains(unknown, msgFailed) {
		t.Errorf("no generic message: %s", unknown)
	}
}

func TestAttack_OpenRedirectAfterLogin(t *testing.T) {
	e := newEnv(t)
	for _, ret := range []string{"//evil.example/", "https://evil.example", "/\\evil.example", "/%2F%2Fevil.example", "/.well-known/rampart/login", "javascript:alert(1)"} {
		form := url.Values{"username": {"alice"}, "password": {alicePassword}, "return": {ret}}
		resp := e.do("POST", LoginPath, strings.NewReader(form.Encode()),
			"Content-Type: application/x-www-form-urlencoded", "Origin: "+origin)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("return %q: %d Location %q", ret, resp.StatusCode, loc)
		}
	}
	// The page carries the return path only when it is local.
	resp := e.do("GET", LoginPath+"?return="+url.QueryEscape("//evil.example"), nil)
	if b := body(resp); strings.Contains(b, "evil") {
		t.Errorf("the login page carries a foreign return path:\n%s", b)
	}
}

// Five failures, then each attempt waits; the right password during the
// wait is refused without being checked.
func TestAttack_BruteForceBacksOff(t *testing.T) {
	e := newEnv(t)
	for i := range PairFreeFailures {
		if resp := e.login("alice", "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp := e.login("alice", alicePassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || cookies(resp)[SessionCookie] != nil {
		t.Fatalf("during the back-off: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !e.ev.has(seclog.AuthnLoginLock) || !e.ev.has(seclog.AuthnLoginFailMax) {
		t.Errorf("events: %v", e.ev.names())
	}
	if strings.Contains(e.ev.text(), alicePassword) || strings.Contains(e.ev.text(), "guess") {
		t.Error("a password reached the security log")
	}
	// Another address is not locked out.
	form := url.Values{"username": {"alice"}, "password": {alicePassword}}
	r := httptest.NewRequest("POST", origin+LoginPath, strings.NewReader(form.Encode()))
	r.RemoteAddr = "127.0.0.10:40000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Errorf("alice from another address: %d", w.Code)
	}
	// The wait ends.
	e.clock.advance(2 * time.Second)
	if resp := e.login("alice", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the wait: %d", resp.StatusCode)
	}
}

func TestTOTP_RequiredAndUsableOnce(t *testing.T) {
	e := newEnv(t)
	if resp := e.login("bob", bobPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no code: %d", resp.StatusCode)
	}
	code, err := totp.GenerateCode(totpSecret, e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if resp := e.login("bob", bobPassword, "totp", "000000"); resp.StatusCode != http.StatusUnauthorized && code != "000000" {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	if resp := e.login("bob", bobPassword, "totp", code); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code: %d", resp.StatusCode)
	}
	// The same code again (an attacker who watched it typed) is refused.
	if resp := e.login("bob", bobPassword, "totp", code); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d", resp.StatusCode)
	}
	if !strings.Contains(e.ev.text(), "totp_replayed") {
		t.Errorf("the replay is not named in the log: %s", e.ev.text())
	}
}

func TestAttack_ForgedSessionCookies(t *testing.T) {
	e := newEnv(t)
	access, _ := e.signIn()
	parts := strings.Split(access, ".")
	for name, forged := range map[string]string{
		"garbage":   "not-a-token",
		"alg none":  "eyJhbGciOiJub25lIiwidHlwIjoicmFtcGFydCthY2Nlc3MifQ." + parts[1] + ".",
		"tampered":  parts[0] + "." + strings.Replace(parts[1], parts[1][10:12], "AA", 1) + "." + parts[2],
		"oversized": strings.Repeat("A", 5000),
	} {
		before := e.app.count()
		resp := e.do("GET", "/app/page", nil, "Cookie: "+SessionCookie+"="+forged)
		if resp.StatusCode != http.StatusUnauthorized || e.app.count() != before {
			t.Errorf("%s: %d, reached the app: %v", name, resp.StatusCode, e.app.count() != before)
		}
		if c := cookies(resp)[SessionCookie]; c == nil || c.MaxAge >= 0 {
			t.Errorf("%s: the refused cookie is not cleared", name)
		}
	}
	if !e.ev.has(seclog.InputValidationFail) {
		t.Errorf("no input_validation_fail: %v", e.ev.names())
	}
}

func TestAttack_TokenAfterLogout(t *testing.T) {
	e := newEnv(t)
	access, refresh := e.signIn()
	resp := e.do("POST", LogoutPath, strings.NewReader(""), "Cookie: "+SessionCookie+"="+access,
		"Content-Type: application/x-www-form-urlencoded", "Origin: "+origin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if c := cookies(resp); c[SessionCookie] == nil || c[SessionCookie].MaxAge >= 0 || c[RefreshCookie] == nil || c[RefreshCookie].Path != RefreshPath {
		t.Errorf("logout did not clear the cookies: %v", resp.Header["Set-Cookie"])
	}
	resp = e.do("GET", "/app/page", nil, "Cookie: "+SessionCookie+"="+access)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old access cookie after logout: %d", resp.StatusCode)
	}
	resp = e.do("POST", RefreshPath, nil, "Cookie: "+RefreshCookie+"="+refresh, "Origin: "+origin)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old refresh cookie after logout: %d", resp.StatusCode)
	}
	for _, ev := range []string{seclog.SessionLogout, seclog.AuthnTokenRevoked, seclog.SessionUseAfterExpire} {
		if !e.ev.has(ev) {
			t.Errorf("no %s: %v", ev, e.ev.names())
		}
	}
}

// Signing out an hour later, with an expired access token, still ends the
// session: its refresh token no longer works.
func TestLogout_WithAnExpiredAccessToken(t *testing.T) {
	e := newEnv(t)
	access, refresh := e.signIn()
	e.clock.advance(2 * time.Hour)
	resp := e.do("POST", LogoutPath, nil, "Cookie: "+SessionCookie+"="+access, "Origin: "+origin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp = e.do("POST", RefreshPath, nil, "Cookie: "+RefreshCookie+"="+refresh, "Origin: "+origin)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session lived on after logout: refresh %d", resp.StatusCode)
	}
}

func TestLogout_Everywhere(t *testing.T) {
	e := newEnv(t)
	a1, _ := e.signIn()
	a2, _ := e.signIn()
	e.do("POST", LogoutPath, strings.NewReader("everywhere=1"), "Cookie: "+SessionCookie+"="+a1,
		"Content-Type: application/x-www-form-urlencoded", "Origin: "+origin)
	if resp := e.do("GET", "/app/x", nil, "Cookie: "+SessionCookie+"="+a2); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the other session survived: %d", resp.StatusCode)
	}
}

// A refresh token used twice after the grace window ends the whole
// session; within the window, a second tab is let in.
func TestAttack_RefreshTokenReplayedAfterRotation(t *testing.T) {
	e := newEnv(t)
	_, refresh := e.signIn()
	resp := e.do("POST", RefreshPath, nil, "Cookie: "+RefreshCookie+"="+refresh, "Origin: "+origin)
	c := cookies(resp)
	if resp.StatusCode != http.StatusNoContent || c[RefreshCookie] == nil || c[SessionCookie] == nil {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	newAccess := c[SessionCookie].Value
	// A second tab, at the same moment, with the same token.
	resp = e.do("POST", RefreshPath, nil, "Cookie: "+RefreshCookie+"="+refresh, "Origin: "+origin)
	if c := cookies(resp); resp.StatusCode != http.StatusNoContent || c[SessionCookie] == nil || c[RefreshCookie] != nil {
		t.Fatalf("refresh within the grace: %d, cookies %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
	e.clock.advance(session.DefaultRefreshGrace + time.Second)
	resp = e.do("POST", RefreshPath, nil, "Cookie: "+RefreshCookie+"="+refresh, "Origin: "+origin)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed refresh token: %d", resp.StatusCode)
	}
	if !e.ev.has(seclog.AuthnTokenReuse) {
		t.Errorf("no authn_token_reuse: %v", e.ev.names())
	}
	if resp := e.do("GET", "/app/x", nil, "Cookie: "+SessionCookie+"="+newAccess); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session's access token still works after the reuse: %d", resp.StatusCode)
	}
}

func TestRules_RoleAndPublic(t *testing.T) {
	e := newEnv(t)
	access, _ := e.signIn()
	code, err := totp.GenerateCode(totpSecret, e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	bob := cookies(e.login("bob", bobPassword, "totp", code))[SessionCookie].Value
	if resp := e.do("GET", "/admin/x", nil, "Cookie: "+SessionCookie+"="+access); resp.StatusCode != 200 {
		t.Errorf("admin: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/admin/x", nil, "Cookie: "+SessionCookie+"="+bob); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on /admin: %d", resp.StatusCode)
	}
	if !e.ev.has(seclog.AuthzFail) {
		t.Errorf("no authz_fail: %v", e.ev.names())
	}
	if resp := e.do("GET", "/ADMIN/x", nil, "Cookie: "+SessionCookie+"="+bob); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on /ADMIN: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/about", nil); resp.StatusCode != 200 {
		t.Errorf("public page: %d", resp.StatusCode)
	}
}

func TestNoSession_NavigationsAndScripts(t *testing.T) {
	e := newEnv(t)
	resp := e.do("GET", "/app/page?x=1", nil, "Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: none")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != RefreshPath+"?return="+url.QueryEscape("/app/page?x=1") {
		t.Errorf("navigation: %d %q", resp.StatusCode, loc)
	}
	resp = e.do("GET", "/app/page", nil, "Accept: text/html,application/xhtml+xml")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("navigation of an old browser: %d", resp.StatusCode)
	}
	resp = e.do("GET", "/app/page", nil, "Sec-Fetch-Mode: cors", "Accept: text/html")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("fetch: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Without a refresh cookie, the refresh endpoint sends on to the login
	// page, and deletes no cookie: a browser without Fetch Metadata
	// following a link from another site sent none, and must not be
	// signed out by it.
	resp = e.do("GET", RefreshPath+"?return="+url.QueryEscape("/app/page?x=1"), nil)
	if loc := resp.Header.Get("Location"); loc != LoginPath+"?return="+url.QueryEscape("/app/page?x=1") {
		t.Errorf("refresh without a cookie: %q", loc)
	}
	if sc := resp.Header["Set-Cookie"]; len(sc) != 0 {
		t.Errorf("refresh without a cookie deletes cookies: %q", sc)
	}
	// A cross-site navigation is sent back through this site once.
	resp = e.do("GET", "/app/page", nil, "Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: cross-site")
	if b := body(resp); resp.StatusCode != 200 || !strings.Contains(b, `http-equiv="refresh" content="0;url=/app/page"`) {
		t.Errorf("cross-site navigation: %d\n%s", resp.StatusCode, b)
	}
	// A form posted after the session ended returns to its page.
	resp = e.do("POST", "/app/form", strings.NewReader("a=1"), "Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: same-origin",
		"Referer: "+origin+"/app/edit?id=3", "Content-Type: application/x-www-form-urlencoded")
	if loc := resp.Header.Get("Location"); loc != RefreshPath+"?return="+url.QueryEscape("/app/edit?id=3") {
		t.Errorf("form after the session: %q", loc)
	}
}

// A page load near the token's expiry goes through the refresh endpoint,
// which comes back with a fresh token.
func TestRefresh_NearExpiryNavigation(t *testing.T) {
	e := newEnv(t)
	access, refresh := e.signIn()
	e.clock.advance(56 * time.Minute)
	resp := e.do("GET", "/app/page", nil, "Cookie: "+SessionCookie+"="+access, "Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: same-origin")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), RefreshPath) {
		t.Fatalf("near expiry: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A script's request is served: it cannot follow a redirect usefully.
	if resp := e.do("GET", "/app/page", nil, "Cookie: "+SessionCookie+"="+access, "Sec-Fetch-Mode: cors"); resp.StatusCode != 200 {
		t.Errorf("fetch near expiry: %d", resp.StatusCode)
	}
	resp = e.do("GET", RefreshPath+"?return=%2Fapp%2Fpage", nil, "Cookie: "+RefreshCookie+"="+refresh)
	c := cookies(resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/page" || c[SessionCookie] == nil {
		t.Fatalf("refresh: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.do("GET", "/app/page", nil, "Cookie: "+SessionCookie+"="+c[SessionCookie].Value, "Sec-Fetch-Mode: navigate")
	if resp.StatusCode != 200 {
		t.Errorf("with the fresh token: %d", resp.StatusCode)
	}
}

// The application gets rampart's identity, never a client's, and never
// rampart's cookies.
func TestAttack_IdentityHeadersAndCookiesSpoofed(t *testing.T) {
	e := newEnv(t)
	access, _ := e.signIn()
	e.do("GET", "/app/page", nil,
		"Cookie: theme=dark; "+SessionCookie+"="+access+"; lang=\"fr\"; "+csrf.DefaultCookieName+"=x",
		"X-Rampart-User: root", "X-Rampart-Roles: admin,root", "X-Rampart-Assertion: forged")
	r := e.app.last()
	if got := r.Header.Values(DefaultUserHeader); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("user header %q", got)
	}
	if got := r.Header.Values(DefaultRolesHeader); !slices.Equal(got, []string{"admin,editor"}) {
		t.Errorf("roles header %q", got)
	}
	a := r.Header.Get(DefaultAssertionHeader)
	c, err := e.gate.Sessions().VerifyAssertion(a, DefaultAssertionAudience)
	if err != nil || c.User != "alice" {
		t.Errorf("assertion: %+v %v", c, err)
	}
	if got := r.Header.Get("Cookie"); got != `theme=dark; lang="fr"` {
		t.Errorf("Cookie sent upstream: %q", got)
	}
	// Without a session, on a public page: the client's copies are gone
	// all the same.
	e.do("GET", "/about", nil, "X-Rampart-User: root", "Cookie: "+SessionCookie+"=junk")
	r = e.app.last()
	if r.Header.Get(DefaultUserHeader) != "" || r.Header.Get("Cookie") != "" {
		t.Errorf("public page: user %q cookie %q", r.Header.Get(DefaultUserHeader), r.Header.Get("Cookie"))
	}
}

// Disabling a user in the file ends their sessions at the reload, not at
// the next login.
func TestUsersFile_DisablingEndsSessions(t *testing.T) {
	e := newEnv(t)
	access, refresh := e.signIn()
	writeUsers(t, e.file, usersDoc(true))
	if ok, err := e.gate.users.Reload(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if resp := e.do("GET", "/app/x", nil, "Cookie: "+SessionCookie+"="+access); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access after disabling: %d", resp.StatusCode)
	}
	if resp := e.do("POST", RefreshPath, nil, "Cookie: "+RefreshCookie+"="+refresh, "Origin: "+origin); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh after disabling: %d", resp.StatusCode)
	}
}

// Login CSRF and the double-submit token: the CSRF stage in front guards
// rampart's endpoints too.
func TestAttack_CrossSiteLoginAndTokenlessAPI(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"username": {"alice"}, "password": {alicePassword}}
	resp := e.do("POST", LoginPath, strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded",
		"Origin: https://evil.example", "Sec-Fetch-Site: cross-site")
	if resp.StatusCode != http.StatusForbidden || cookies(resp)[SessionCookie] != nil {
		t.Errorf("cross-site login: %d", resp.StatusCode)
	}
	access, _ := e.signIn()
	before := e.app.count()
	resp = e.do("POST", "/api/items", strings.NewReader("{}"), "Cookie: "+SessionCookie+"="+access, "Sec-Fetch-Site: same-origin")
	if resp.StatusCode != http.StatusForbidden || e.app.count() != before {
		t.Errorf("API POST without the token: %d", resp.StatusCode)
	}
	// With the token of its session, echoed from the readable cookie, it
	// passes.
	resp = e.login("alice", alicePassword)
	c := cookies(resp)
	token := c[csrf.DefaultCookieName].Value
	resp = e.do("POST", "/api/items", strings.NewReader("{}"), "Sec-Fetch-Site: same-origin", "X-CSRF-Token: "+token,
		"Cookie: "+SessionCookie+"="+c[SessionCookie].Value+"; "+csrf.DefaultCookieName+"="+token)
	if resp.StatusCode != 200 {
		t.Errorf("API POST with the token: %d", resp.StatusCode)
	}
	// Another session's token does not pass.
	resp = e.do("POST", "/api/items", strings.NewReader("{}"), "Sec-Fetch-Site: same-origin", "X-CSRF-Token: "+token,
		"Cookie: "+SessionCookie+"="+access+"; "+csrf.DefaultCookieName+"="+token)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API POST with another session's token: %d", resp.StatusCode)
	}
}

func TestEndpoints_JWKSAndUnknown(t *testing.T) {
	e := newEnv(t)
	resp := e.do("GET", JWKSPath, nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.Header.Get("Content-Type") != "application/jwk-set+json" || len(set.Keys) < 2 {
		t.Errorf("jwks: %v %q %d", err, resp.Header.Get("Content-Type"), len(set.Keys))
	}
	for _, k := range set.Keys {
		if _, private := k["d"]; private {
			t.Error("a private key in the JWKS")
		}
	}
	if resp := e.do("GET", Prefix+"nothing", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", LoginPath, nil, "Origin: "+origin); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE login: %d", resp.StatusCode)
	}
	if resp := e.do("GET", Prefix+"assets/rampart.css", nil); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// rampart's endpoints are never forwarded, whatever the case.
	before := e.app.count()
	e.do("GET", "/.WELL-KNOWN/rampart/jwks.json", nil)
	if e.app.count() != before {
		t.Error("an endpoint in other case reached the application")
	}
}

func TestLoginPage_NoScriptNoInlineStyle(t *testing.T) {
	e := newEnv(t)
	for _, target := range []string{LoginPath, LogoutPath} {
		b := body(e.do("GET", target, nil))
		for _, bad := range []string{"<script", "style=", "<style", "javascript:", " onclick", " onload", " onsubmit"} {
			if strings.Contains(b, bad) {
				t.Errorf("%s holds %q", target, bad)
			}
		}
		for _, want := range []string{`<label for="username">`, `<html lang="en">`} {
			if target == LoginPath && !strings.Contains(b, want) {
				t.Errorf("%s lacks %q", target, want)
			}
		}
	}
}

func FuzzStripCookies(f *testing.F) {
	f.Add("a=1; " + SessionCookie + "=x; b=2")
	f.Add(SessionCookie + "=x")
	f.Add("theme=dark;lang=fr;" + RefreshCookie + "=y")
	f.Fuzz(func(t *testing.T, line string) {
		h := http.Header{"Cookie": {line}}
		stripCookies(h)
		for _, l := range h["Cookie"] {
			for part := range strings.SplitSeq(l, ";") {
				name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
				if isRampartCookie(name) {
					t.Fatalf("%q kept %q", line, l)
				}
			}
		}
		// The cookie the application reads is never lost.
		if strings.Contains(line, "app=1") && !strings.Contains(line, "rampart-") && h.Get("Cookie") != line {
			t.Fatalf("%q changed to %q", line, h.Get("Cookie"))
		}
	})
}

// The access log line of a signed-in request names the user.
func TestAccessLogNamesTheUser(t *testing.T) {
	e := newEnv(t)
	access, _ := e.signIn()
	var buf bytes.Buffer
	al, err := accesslog.New(accesslog.Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	h := al.Handler(e.h)
	r := httptest.NewRequest("GET", origin+"/app/page", nil)
	r.Header.Set("Cookie", SessionCookie+"="+access)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(buf.String(), `"user":"alice"`) {
		t.Errorf("access log: %s", buf.String())
	}
}
