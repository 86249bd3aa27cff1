package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "bob's long enough password"
)

// server is the application on a loopback TLS server.
type server struct {
	*httptest.Server
	secret []byte
}

// start runs the application, configured by edit, on httptest's TLS
// server (127.0.0.1), with a users file of alice and bob.
func start(t *testing.T, edit func(*Config)) *server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	doc, err := users.ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, pw := range map[string]string{"alice": alicePassword, "bob": bobPassword} {
		h, err := users.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Add(users.User{Name: name}, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := doc.Save(); err != nil {
		t.Fatal(err)
	}
	uf, err := users.Open(users.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	c := Config{Users: uf, Secret: secret, Log: slog.New(slog.DiscardHandler)}
	if edit != nil {
		edit(&c)
	}
	app, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(app.Handler())
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &server{Server: srv, secret: secret}
}

// browser is a client of s with its own cookie jar, not following
// redirects.
func (s *server) browser() *http.Client {
	c := new(http.Client)
	*c = *s.Client() // a copy: Client returns the same one every time
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	c.Timeout = 20 * time.Second
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// do sends a request and returns the response with its body read. A
// request without Origin is given the server's, as a browser's same-origin
// request carries (header overrides it; an empty value removes it).
func (s *server) do(t *testing.T, c *http.Client, method, path string, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", s.URL)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		if len(vs) == 1 && vs[0] == "" {
			req.Header.Del(k)
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// signIn posts the login form and returns the response.
func (s *server) signIn(t *testing.T, c *http.Client, user, password string) *http.Response {
	t.Helper()
	resp, _ := s.do(t, c, "POST", "/login", url.Values{"username": {user}, "password": {password}}.Encode(), nil)
	return resp
}

func (s *server) signedIn(t *testing.T, user, password string) *http.Client {
	t.Helper()
	c := s.browser()
	if resp := s.signIn(t, c, user, password); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/shelf" {
		t.Fatalf("signing in as %s = %s to %q", user, resp.Status, resp.Header.Get("Location"))
	}
	return c
}

func (s *server) cookie(c *http.Client, name string) string {
	u, _ := url.Parse(s.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func TestLibrary_SecurityHeadersOnEveryResponse(t *testing.T) {
	s := start(t, nil)
	c := s.browser()
	for _, tc := range []struct {
		method, path string
		header       http.Header
		want         int
	}{
		{"GET", "/", nil, 200},
		{"GET", "/login", nil, 200},
		{"GET", "/nowhere", nil, 404},
		{"GET", "/api/books", nil, 401},
		{"POST", "/shelf", http.Header{"Origin": {"https://evil.example"}}, 403},
	} {
		resp, body := s.do(t, c, tc.method, tc.path, "", tc.header)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d\n%s", tc.method, tc.path, resp.StatusCode, tc.want, body)
		}
		for h, want := range map[string]string{
			"Strict-Transport-Security":  "max-age=63072000; includeSubDomains",
			"X-Content-Type-Options":     "nosniff",
			"X-Frame-Options":            "SAMEORIGIN",
			"Referrer-Policy":            "strict-origin-when-cross-origin",
			"Cross-Origin-Opener-Policy": "same-origin",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, h, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'self'") {
			t.Errorf("%s %s: Content-Security-Policy = %q", tc.method, tc.path, csp)
		}
	}
}

func TestLibrary_LoginAndProtectedPage(t *testing.T) {
	s := start(t, nil)
	c := s.browser()
	// No session: a page load goes to the login page, a script gets 401.
	resp, _ := s.do(t, c, "GET", "/shelf", "", http.Header{"Accept": {"text/html"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET /shelf without a session, a page load = %s to %q, want 303 to /login", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := s.do(t, c, "GET", "/api/books", "", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/books without a session = %s\n%s", resp.Status, body)
	}

	resp = s.signIn(t, c, "alice", alicePassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/shelf" {
		t.Fatalf("signing in = %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	// The cookies' flags, as the browser receives them.
	flags := map[string]*http.Cookie{}
	for _, ck := range resp.Cookies() {
		flags[ck.Name] = ck
	}
	sc, tc := flags[SessionCookie], flags[csrf.DefaultCookieName]
	switch {
	case sc == nil || tc == nil:
		t.Fatalf("cookies set at login: %v", resp.Header.Values("Set-Cookie"))
	case !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Domain != "":
		t.Errorf("session cookie %q: want Secure, HttpOnly, SameSite=Strict, Path=/, no Domain", sc.String())
	case !tc.Secure || tc.HttpOnly || tc.SameSite != http.SameSiteStrictMode || tc.Path != "/":
		t.Errorf("CSRF cookie %q: want Secure, readable, SameSite=Strict, Path=/", tc.String())
	case len(sc.String()) > 4096:
		t.Errorf("session cookie is %d bytes", len(sc.String()))
	}

	resp, body = s.do(t, c, "GET", "/shelf", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>alice's shelf</h1>") {
		t.Fatalf("GET /shelf signed in = %s\n%s", resp.Status, body)
	}
	resp, body = s.do(t, c, "POST", "/shelf", url.Values{"title": {"<b>Dune</b>"}}.Encode(), nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin POST /shelf = %s\n%s", resp.Status, body)
	}
	if _, body = s.do(t, c, "GET", "/shelf", "", nil); !strings.Contains(body, "<li>&lt;b&gt;Dune&lt;/b&gt;</li>") {
		t.Errorf("the shelf does not list the book, escaped:\n%s", body)
	}

	// Wrong password and unknown user: the same 401 page.
	_, wrong := s.do(t, s.browser(), "POST", "/login", url.Values{"username": {"alice"}, "password": {"not her password at all"}}.Encode(), nil)
	resp, unknown := s.do(t, s.browser(), "POST", "/login", url.Values{"username": {"mallory"}, "password": {"not her password at all"}}.Encode(), nil)
	if resp.StatusCode != http.StatusUnauthorized || wrong != unknown {
		t.Errorf("unknown user = %s; the page differs from a wrong password's: %v", resp.Status, wrong != unknown)
	}
}

func TestAttack_CrossSitePostRefused(t *testing.T) {
	s := start(t, nil)
	c := s.signedIn(t, "alice", alicePassword)
	for name, h := range map[string]http.Header{
		"cross-site fetch metadata": {"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
		"same-site sibling":         {"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://evil.127.0.0.1.nip.io"}},
		"foreign origin only":       {"Origin": {"https://evil.example"}},
		"null origin":               {"Origin": {"null"}},
		"http origin of this host":  {"Origin": {strings.Replace(s.URL, "https://", "http://", 1)}},
	} {
		for _, path := range []string{"/shelf", "/logout", "/login"} {
			resp, body := s.do(t, c, "POST", path, url.Values{"title": {"forged"}, "username": {"bob"}, "password": {bobPassword}}.Encode(), h)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: POST %s = %s, want 403\n%s", name, path, resp.Status, body)
			}
		}
	}
	// Nothing happened: no book, still signed in (logout was refused).
	resp, body := s.do(t, c, "GET", "/api/books", "", nil)
	if resp.StatusCode != 200 || strings.Contains(body, "forged") {
		t.Errorf("after the forged posts: %s %s", resp.Status, body)
	}
}

func TestAttack_DoubleSubmitTokenRequiredUnderAPI(t *testing.T) {
	s := start(t, nil)
	alice := s.signedIn(t, "alice", alicePassword)
	bob := s.signedIn(t, "bob", bobPassword)
	token := s.cookie(alice, csrf.DefaultCookieName)
	if token == "" {
		t.Fatal("no CSRF cookie after login")
	}
	post := func(c *http.Client, h http.Header) (*http.Response, string) {
		if h == nil {
			h = http.Header{}
		}
		h.Set("Content-Type", "application/json")
		h.Set("Sec-Fetch-Site", "same-origin")
		return s.do(t, c, "POST", "/api/books", `{"title":"Emma"}`, h)
	}
	for name, h := range map[string]http.Header{
		"no token":              nil,
		"empty token":           {"X-Csrf-Token": {" "}},
		"another session's":     {"X-Csrf-Token": {s.cookie(bob, csrf.DefaultCookieName)}},
		"a token of no session": {"X-Csrf-Token": {base64.RawURLEncoding.EncodeToString(make([]byte, 32))}},
	} {
		if resp, body := post(alice, h); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: same-origin POST /api/books = %s, want 403\n%s", name, resp.Status, body)
		}
	}
	// The header without the cookie: a script on another origin that
	// learnt the token cannot send the cookie with a forged request.
	noCookie := s.browser()
	u, _ := url.Parse(s.URL)
	noCookie.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: s.cookie(alice, SessionCookie)}})
	if resp, body := post(noCookie, http.Header{"X-Csrf-Token": {token}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token header without the cookie = %s, want 403\n%s", resp.Status, body)
	}
	// The session's own token, in the header and the cookie: accepted.
	resp, body := post(alice, http.Header{"X-Csrf-Token": {token}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"books":["Emma"]`) {
		t.Fatalf("POST /api/books with the token = %s\n%s", resp.Status, body)
	}
	// Outside /api/, the form needs no token: the origin check is its
	// defence.
	if resp, body := s.do(t, alice, "POST", "/shelf", "title=Persuasion", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /shelf without a token = %s\n%s", resp.Status, body)
	}
}

func TestAttack_LoginBruteForceLimited(t *testing.T) {
	const burst = 3
	// One attempt a minute after the burst: the whole test runs in far
	// less, so no attempt is refilled in between.
	s := start(t, func(c *Config) { c.LoginRate, c.LoginBurst = ratelimit.PerMinute(1), burst })
	c := s.browser()
	form := url.Values{"username": {"alice"}, "password": {"guess number one"}}.Encode()
	for i := 0; i <= burst; i++ {
		if resp, _ := s.do(t, c, "POST", "/login", form, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %s, want 401 (within the burst)", i+1, resp.Status)
		}
	}
	resp, body := s.do(t, c, "POST", "/login", form, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attempt %d = %s, want 429\n%s", burst+2, resp.Status, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("429 Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("the 429 has no security headers")
	}
	// The right password is refused too while limited (no hash is even
	// computed), and the rest of the site is not limited.
	if resp := s.signIn(t, c, "alice", alicePassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password while limited = %s, want 429", resp.Status)
	}
	for _, p := range []string{"/", "/login"} {
		if resp, _ := s.do(t, c, "GET", p, "", nil); resp.StatusCode != 200 {
			t.Errorf("GET %s while sign-in is limited = %s", p, resp.Status)
		}
	}
}

func TestAttack_ForgedSessionCookie(t *testing.T) {
	s := start(t, nil)
	alice := s.signedIn(t, "alice", alicePassword)
	real := s.cookie(alice, SessionCookie)
	parts := strings.Split(real, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	claims["sub"] = "bob"
	tampered, _ := json.Marshal(claims)
	// A token another application signed (its own secret).
	other, err := session.New(session.Options{Secret: []byte("another application's secret, 32+ bytes")}, session.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreign, _, err := other.Issue("alice", nil, "c2Vzc2lvbg")
	if err != nil {
		t.Fatal(err)
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"rampart+access"}`)) + "." + parts[1] + "."
	for name, v := range map[string]string{
		"garbage":           "garbage",
		"payload tampered":  parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2],
		"alg none":          none,
		"another secret's":  foreign,
		"oversized":         real + strings.Repeat("A", 4000),
		"signature removed": parts[0] + "." + parts[1] + ".",
	} {
		c := s.browser()
		u, _ := url.Parse(s.URL)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: v}})
		if resp, body := s.do(t, c, "GET", "/api/books", "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: GET /api/books = %s, want 401\n%s", name, resp.Status, body)
		}
	}
	// After logout, the old cookie is refused at once.
	if resp, _ := s.do(t, alice, "POST", "/logout", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout = %s", resp.Status)
	}
	if s.cookie(alice, SessionCookie) != "" {
		t.Error("logout did not clear the session cookie")
	}
	c := s.browser()
	u, _ := url.Parse(s.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: real}})
	if resp, body := s.do(t, c, "GET", "/api/books", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the cookie of a signed-out session = %s, want 401\n%s", resp.Status, body)
	}
}

// sharedInternal are the internal packages the public ones are built on
// (internal/deptest lists who may use them): not the gateway's, and
// linked into a library user's program as any package's unexported code.
var sharedInternal = map[string]bool{
	"github.com/rampart-dev/rampart/internal/reqstate": true,
	"github.com/rampart-dev/rampart/internal/httphead": true,
	"github.com/rampart-dev/rampart/internal/rawio":    true,
}

// TestLibrary_NoInternalPackage is the proof that the library stands
// alone: the application imports only the module's public packages, and
// nothing of the gateway (the module's internal/ tree, but for the few
// packages the public ones share) is linked in.
func TestLibrary_NoInternalPackage(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.Contains(p, "/internal") {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("the go command is not available to list dependencies")
		}
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/rampart-dev/rampart/internal/") && !sharedInternal[p] {
			t.Errorf("the application links %s, a package of the gateway", p)
		}
	}
}
