package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/internal/testenv/chromium"
	"github.com/rampart-dev/rampart/users"
)

// The screenshots of rampart's pages in the repository are written by this
// test when RAMPART_UPDATE_SCREENSHOTS=1, at a fixed viewport, light colour
// scheme; a normal run never writes into the repository.
const (
	screenshotDir            = "../../docs/screenshots"
	screenshotWidth          = 1000
	screenshotHeight         = 800
	updateScreenshotsVar     = "RAMPART_UPDATE_SCREENSHOTS"
	browserUser              = "alice"
	browserStepTimeout       = 20 * time.Second
	browserWholeTestDeadline = 2 * time.Minute
)

// browserSite is a gateway with login in front of a small application,
// another site (the attacker's) and a Chromium tab, all on loopback. The
// browser reaches app.test and attacker.test through a host mapping to
// 127.0.0.1 and resolves no other name.
type browserSite struct {
	base     string // https://app.test:PORT, the gateway
	admin    string // http://127.0.0.1:PORT, its admin listener
	attacker string // https://attacker.test:PORT, another site
	password string
	sec      *testenv.Buffer // the gateway's security log
	posted   atomic.Int32    // POSTs that reached the application
	tab      context.Context

	console chromium.Console
	// proto is the protocol the browser is to use with the site ("h2" or
	// "http/1.1"); protocols records each of its responses' URL and
	// protocol, as the browser reports them.
	proto     string
	protocols documentResponses
}

// TestBrowser_Login drives a real Chromium through login at the gateway as a
// person would, and checks what only a browser can tell: the cookies as it
// stored them, SameSite and the origin check against a cross-site form, the
// cross-site link that must still land on the page, logout with the old
// cookie put back by hand, the pages' CSP and accessibility. It does so
// twice: over HTTP/2, which Go's server serves, and over HTTP/1.1, where
// the lane answers the browser's GETs and hands its connections to Go's
// server at their first POST (internal/listen/lane.go).
func TestBrowser_Login(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run(strings.ReplaceAll(proto, "/", ""), func(t *testing.T) { browserLogin(t, proto) })
	}
}

func browserLogin(t *testing.T, proto string) {
	s := newBrowserSite(t, proto)

	t.Run("LoginPageIsAccessible", s.loginPageIsAccessible)
	if !t.Run("SignInThroughTheLoginPage", s.signInThroughTheLoginPage) {
		// Everything after needs a signed-in browser.
		return
	}
	t.Run("CookiesAsTheBrowserStoredThem", s.cookiesAsStored)
	t.Run("CrossSiteFormPostIsRefused", s.crossSiteFormPostIsRefused)
	t.Run("CrossSiteLinkLandsOnThePage", s.crossSiteLinkLandsOnThePage)
	t.Run("CrossSiteLinksToRampartPagesKeepTheSession", s.crossSiteLinksToRampartPagesKeepTheSession)
	t.Run("LogoutRefusesTheOldCookie", s.logoutRefusesTheOldCookie)
	t.Run("NoCSPViolationOnRampartPages", s.noCSPViolationOnRampartPages)
	t.Run("DashboardShowsWhatHappened", s.dashboardShowsWhatHappened)
	t.Run("ServedOverTheProtocolAsked", s.servedOver)
}

// servedOver checks that every response of the application's site came
// over the protocol the test asked for.
func (s *browserSite) servedOver(t *testing.T) {
	got := s.protocols.list()
	if len(got) == 0 {
		t.Fatal("no response of the site was seen")
	}
	for _, p := range got {
		if !strings.HasSuffix(p, " "+s.proto) {
			t.Errorf("response %s, want protocol %s", p, s.proto)
		}
	}
}

// The security dashboard on the admin listener, after the session above:
// its events are there (the sign-in, the refused cross-site POST), its
// charts are drawn, and the browser reports no CSP violation on it.
func (s *browserSite) dashboardShowsWhatHappened(t *testing.T) {
	ctx := s.step(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.admin+"/"), chromedp.WaitVisible(chromedp.CSS("svg rect"))); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg rect").length`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"authn_login_success", "malicious_csrf"} {
		if !strings.Contains(text, want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	if bars == 0 {
		t.Error("no bar drawn in the dashboard's charts")
	}
	if bad := inlineCode(t, ctx); len(bad) > 0 {
		t.Errorf("the dashboard has inline code: %v", bad)
	}
	for _, m := range s.console.Messages() {
		if strings.Contains(m.URL, s.admin) || strings.Contains(m.Text, s.admin) {
			t.Errorf("console message on the dashboard: %s %s %s: %s", m.Type, m.Source, m.URL, m.Text)
		}
	}
}

func newBrowserSite(t *testing.T, proto string) *browserSite {
	t.Helper()
	s := &browserSite{sec: &testenv.Buffer{}, proto: proto}
	dir := t.TempDir()

	// The application: the signed-in user, a form handler that records
	// whether a POST reached it, a JSON API, and a page that breaks the
	// CSP (an inline style), the control of the violation detectors.
	app := http.NewServeMux()
	page := func(w http.ResponseWriter, title, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html lang=en><head><meta charset=utf-8><title>%s</title></head><body>%s</body></html>", title, body)
	}
	app.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Home", `<h1>Home</h1>`)
	})
	app.HandleFunc("GET /private", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Private", `<h1>Private</h1><p id="user">Signed in as <code>`+html.EscapeString(r.Header.Get("X-Rampart-User"))+`</code></p>`+
			`<form method="post" action="/private/transfer"><input type="hidden" name="amount" value="1"><button id="transfer">Transfer</button></form>`)
	})
	app.HandleFunc("POST /private/transfer", func(w http.ResponseWriter, r *http.Request) {
		s.posted.Add(1)
		page(w, "Done", `<p id="done">Transfer done for <code>`+html.EscapeString(r.Header.Get("X-Rampart-User"))+`</code></p>`)
	})
	app.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"user": r.Header.Get("X-Rampart-User")})
	})
	app.HandleFunc("GET /csp-control", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Control", `<style>p { color: red }</style><p id="control">inline style</p>`)
	})
	upstream := httptest.NewServer(app)
	t.Cleanup(upstream.Close)

	// The users file and the secret key, as an operator would provide.
	s.password = rand.Text()
	hash, err := users.Hash(s.password)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersFile, []byte("users:\n  - name: "+browserUser+"\n    hash: '"+hash+"'\n    roles: [staff]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	secret := base64.StdEncoding.EncodeToString(key)
	env := func(name string) (string, bool) {
		if name == "RAMPART_SECRET_KEY" {
			return secret, true
		}
		return "", false
	}

	certFile, keyFile, _ := testenv.WriteCert(t, dir, "app.test")
	yaml := fmt.Sprintf(`hosts: [app.test]
state_dir: %q
tls: {cert_file: %q, key_file: %q}
upstream: {url: %q}
headers:
  csp:
    report: {enabled: true}
auth:
  users_file: %q
  rules:
    - {prefix: /, require: public}
    - {prefix: /private, require: authenticated}
    - {prefix: /api, require: authenticated}
csrf:
  token_prefixes: [/api/]
`, filepath.Join(dir, "state"), certFile, keyFile, upstream.URL, usersFile)
	plan, fs := config.Load(config.Source{Path: filepath.Join(dir, "rampart.yaml"), Data: []byte(yaml), LookupEnv: env})
	if plan == nil {
		t.Fatal(fs.Error())
	}
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errlog := &testenv.Buffer{}
	adminLn := testenv.Listener(t)
	// The browser opens the admin listener as http://localhost (mapped
	// below): it answers loopback names only.
	s.admin = "http://localhost"
	gw, err := New(plan, Options{AdminListener: adminLn, Logger: slog.New(slog.NewJSONHandler(errlog, nil)), Stdout: io.Discard, Stderr: s.sec,
		HTTPSListener: httpsLn, HTTPListener: httpLn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("security log:\n%s\ngateway log:\n%s", s.sec.String(), errlog.String())
		}
	})
	s.base = "https://app.test"

	// Another site: its pages post a form to the application and link to
	// it, as any page on the web may.
	evil := http.NewServeMux()
	evil.HandleFunc("GET /post", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body><form method="post" action="%s/private/transfer"><input type="hidden" name="amount" value="1000"></form>
<script>document.forms[0].submit()</script></body></html>`, s.base)
	})
	evil.HandleFunc("GET /link", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body><p><a id="go" href="%s/private">Open the private page</a></p></body></html>`, s.base)
	})
	evil.HandleFunc("GET /to/{page}", func(w http.ResponseWriter, r *http.Request) {
		to := map[string]string{
			"login":   auth.LoginPath + "?return=/private",
			"logout":  auth.LogoutPath,
			"refresh": auth.RefreshPath + "?return=/private",
		}[r.PathValue("page")]
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body><p><a id="go" href="%s%s">Go</a></p></body></html>`, s.base, html.EscapeString(to))
	})
	attacker := httptest.NewTLSServer(evil)
	t.Cleanup(attacker.Close)
	s.attacker = "https://attacker.test"

	opts := []chromedp.ExecAllocatorOption{}
	if proto == "http/1.1" {
		opts = append(opts, chromedp.Flag("disable-http2", true))
	}
	actx := chromium.Allocator(t, browserWholeTestDeadline, append(opts,
		chromedp.WindowSize(screenshotWidth, screenshotHeight),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		// The two sites are names on loopback, their port 443 mapped to
		// the listeners' (so the pages, and the screenshots, show
		// app.test whatever port the test got), and localhost is the
		// admin listener; every other name fails to resolve, so nothing
		// leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP app.test "+httpsLn.Addr().String()+", MAP attacker.test "+
			strings.TrimPrefix(attacker.URL, "https://")+", MAP localhost "+adminLn.Addr().String()+", MAP * ~NOTFOUND"),
		// Deliver Reporting API reports after 100 ms instead of a minute.
		chromedp.Flag("short-reporting-delay", true),
	)...)
	tab, tcancel := chromedp.NewContext(actx)
	t.Cleanup(tcancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	s.tab = tab

	// A focused window, as a person's is; the light colour scheme and a
	// fixed viewport, so the screenshots are the same from one run to
	// the next.
	if _, err := chromedp.Call(tab, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}, {Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(screenshotWidth, screenshotHeight)); err != nil {
		t.Fatal(err)
	}

	// Every console message of the tab (console API, exceptions, the
	// browser's own log where CSP violations go), for the CSP check.
	s.console.Record(tab)
	// Every response of the site, with its protocol.
	go func() {
		for ev, err := range chromedp.Events(tab, network.ResponseReceived) {
			if err != nil {
				return
			}
			if strings.HasPrefix(ev.Response.URL, s.base+"/") {
				s.protocols.add(ev.Response.URL + " " + ev.Response.Protocol)
			}
		}
	}()
	return s
}

// step is a context for one step of a subtest: every wait is bounded.
func (s *browserSite) step(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(s.tab, browserStepTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *browserSite) location(t *testing.T, ctx context.Context) *url.URL {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("reading the location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return u
}

// fieldFor returns the id of the input the label whose text starts with
// text is for, as a screen reader would find the field.
func fieldFor(t *testing.T, ctx context.Context, text string) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
	const l = [...document.querySelectorAll('label')].find(l => l.textContent.trim().startsWith(%q));
	return l && document.getElementById(l.htmlFor) ? l.htmlFor : '';
})()`, text)))
	if err != nil {
		t.Fatalf("finding the %q field: %v", text, err)
	}
	if id == "" {
		t.Fatalf("no input labelled %q on the page", text)
	}
	return id
}

// signIn types the credentials into the labelled fields and submits.
func signIn(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	userID, passID := fieldFor(t, ctx, "Username"), fieldFor(t, ctx, "Password")
	if err := chromedp.Do(ctx,
		chromedp.Clear(chromedp.ID(userID)),
		chromedp.SendKeys(chromedp.ID(userID), user),
		chromedp.SendKeys(chromedp.ID(passID), password),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	); err != nil {
		t.Fatalf("filling in the login form: %v", err)
	}
}

// focused waits (bounded) until the element with id has the focus, and
// returns the id of the focused element.
func focused(ctx context.Context, id string) string {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	chromedp.Run(pctx, chromedp.Poll[bool](fmt.Sprintf(`document.activeElement && document.activeElement.id === %q`, id),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
	got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? (document.activeElement.id || document.activeElement.tagName) : ''`))
	return got
}

// inlineCode lists the inline scripts, styles, event handlers and
// javascript: URLs of the page.
func inlineCode(t *testing.T, ctx context.Context) []string {
	t.Helper()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
	const out = [];
	for (const el of document.querySelectorAll('*')) {
		const tag = el.tagName.toLowerCase();
		if (tag === 'script' || tag === 'style') out.push('<' + tag + '>');
		for (const a of el.attributes) {
			if (a.name === 'style' || a.name.startsWith('on')) out.push(tag + '[' + a.name + ']');
			if (/^\s*javascript:/i.test(a.value)) out.push(tag + '[' + a.name + '=javascript:]');
		}
	}
	return out;
})()`))
	if err != nil {
		t.Fatalf("inspecting the page: %v", err)
	}
	return found
}

// unlabelled lists the form fields no label[for] names.
func unlabelled(t *testing.T, ctx context.Context) []string {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
	.filter(el => !el.id || ![...document.querySelectorAll('label[for]')].some(l => l.htmlFor === el.id && l.textContent.trim() !== ''))
	.map(el => el.name || el.outerHTML)`))
	if err != nil {
		t.Fatalf("inspecting the labels: %v", err)
	}
	return out
}

// screenshot writes the viewport to docs/screenshots/name when
// RAMPART_UPDATE_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv(updateScreenshotsVar) != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", filepath.Join(screenshotDir, name))
}

// The login page as a keyboard or screen-reader user meets it: every field
// labelled, the cursor in the username field, and after a failed attempt
// the message announced (role=alert) and the cursor in the password field.
func (s *browserSite) loginPageIsAccessible(t *testing.T) {
	ctx := s.step(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+auth.LoginPath), chromedp.WaitVisible(chromedp.CSS(`form`))); err != nil {
		t.Fatalf("opening the login page: %v", err)
	}
	if bad := unlabelled(t, ctx); len(bad) > 0 {
		t.Errorf("login page: fields without a label[for]: %v", bad)
	}
	if got := focused(ctx, "username"); got != "username" {
		t.Errorf("login page on load: focus on %q, want the username field", got)
	}
	if bad := inlineCode(t, ctx); len(bad) > 0 {
		t.Errorf("login page has inline code, which its CSP must refuse: %v", bad)
	}
	screenshot(t, ctx, "login.png")

	signIn(t, ctx, browserUser, "not-"+s.password)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[role=alert]`))); err != nil {
		t.Fatalf("after a wrong password: no element with role=alert: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[role=alert]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "Incorrect username, password or authentication code.") {
		t.Errorf("after a wrong password: alert says %q, want the generic failure message", msg)
	}
	if got := focused(ctx, "password"); got != "password" {
		t.Errorf("after a wrong password: focus on %q, want the password field", got)
	}
	described, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
	const p = document.getElementById('password'), a = document.querySelector('[role=alert]');
	return p.getAttribute('aria-invalid') === 'true' && a.id && p.getAttribute('aria-describedby').split(/\s+/).includes(a.id) ? 'yes' : p.outerHTML;
})()`))
	if err != nil {
		t.Fatal(err)
	}
	if described != "yes" {
		t.Errorf("after a wrong password: the password field is not marked invalid and described by the alert: %s", described)
	}
	if bad := unlabelled(t, ctx); len(bad) > 0 {
		t.Errorf("login page after a failure: fields without a label[for]: %v", bad)
	}
	if bad := inlineCode(t, ctx); len(bad) > 0 {
		t.Errorf("login page after a failure has inline code: %v", bad)
	}
	screenshot(t, ctx, "login-error.png")
}

// A person opens a protected page, is sent to the login page, types the
// name and password into the labelled fields, submits, and lands on the
// page they asked for, signed in.
func (s *browserSite) signInThroughTheLoginPage(t *testing.T) {
	ctx := s.step(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/private"), chromedp.WaitVisible(chromedp.CSS(`form`))); err != nil {
		t.Fatalf("opening /private without a session: %v", err)
	}
	if u := s.location(t, ctx); u.Path != auth.LoginPath || u.Query().Get("return") != "/private" {
		t.Fatalf("/private without a session went to %s, want the login page with return=/private", u)
	}
	if got := focused(ctx, "username"); got != "username" {
		t.Errorf("login page reached by redirect: focus on %q, want the username field", got)
	}
	signIn(t, ctx, browserUser, s.password)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("user"))); err != nil {
		u, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("after signing in: the protected page never showed (at %s): %v", u, err)
	}
	if u := s.location(t, ctx); u.String() != s.base+"/private" {
		t.Errorf("after signing in: at %s, want %s/private", u, s.base)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("user")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(who, browserUser) {
		t.Errorf("after signing in: the application shows %q, want the user %s (X-Rampart-User)", who, browserUser)
	}
}

// cookies returns the browser's cookies by name.
func (s *browserSite) cookies(t *testing.T, ctx context.Context) map[string]*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatalf("reading the cookies: %v", err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// The cookies as Chromium stored them: the attributes the browser keeps are
// what protects them, whatever the Set-Cookie header said.
func (s *browserSite) cookiesAsStored(t *testing.T) {
	ctx := s.step(t)
	jar := s.cookies(t, ctx)
	describe := func(c *network.Cookie) string {
		return fmt.Sprintf("domain=%q path=%q secure=%v httponly=%v samesite=%q size=%d", c.Domain, c.Path, c.Secure, c.HTTPOnly, c.SameSite, c.Size)
	}

	sess := jar[auth.SessionCookie]
	if sess == nil {
		t.Fatalf("no %s cookie in the browser; it has %v", auth.SessionCookie, slices.Sorted(maps.Keys(jar)))
	}
	if !sess.Secure || !sess.HTTPOnly || sess.SameSite != network.CookieSameSiteStrict || sess.Path != "/" {
		t.Errorf("%s: %s; want Secure, HttpOnly, SameSite=Strict, Path=/", sess.Name, describe(sess))
	}
	if sess.Domain != "app.test" {
		// A Domain attribute shows as ".app.test": the cookie would go
		// to every subdomain.
		t.Errorf("%s: domain %q, want host-only app.test (no Domain attribute)", sess.Name, sess.Domain)
	}
	if sess.Size >= 4096 {
		t.Errorf("%s: %d bytes, browsers drop cookies from 4096", sess.Name, sess.Size)
	}
	t.Logf("%s: %d bytes", sess.Name, sess.Size)

	ref := jar[auth.RefreshCookie]
	if ref == nil {
		t.Errorf("no %s cookie in the browser", auth.RefreshCookie)
	} else if !ref.Secure || !ref.HTTPOnly || ref.SameSite != network.CookieSameSiteStrict || ref.Path != auth.RefreshPath || ref.Domain != "app.test" {
		t.Errorf("%s: %s; want Secure, HttpOnly, SameSite=Strict, Path=%s, host-only", ref.Name, describe(ref), auth.RefreshPath)
	}

	tok := jar["__Host-rampart-csrf"]
	if tok == nil {
		t.Errorf("no __Host-rampart-csrf cookie in the browser")
	} else if !tok.Secure || tok.HTTPOnly || tok.SameSite != network.CookieSameSiteStrict || tok.Path != "/" || tok.Domain != "app.test" {
		t.Errorf("%s: %s; want Secure, SameSite=Strict, Path=/, host-only and readable by scripts (not HttpOnly)", tok.Name, describe(tok))
	}
}

// documentResponses is the tab's document requests and responses
// (redirects included) in the order seen: "request METHOD URL", "response
// STATUS URL".
type documentResponses struct {
	mu   sync.Mutex
	seen []string
}

// watchDocuments records every document request and response of the tab
// until ctx ends.
func watchDocuments(ctx context.Context) *documentResponses {
	d := &documentResponses{}
	reqs := chromedp.Events(ctx, network.RequestWillBeSent)
	resps := chromedp.Events(ctx, network.ResponseReceived)
	go func() {
		for ev, err := range reqs {
			if err != nil {
				return
			}
			if ev.Type != network.ResourceTypeDocument {
				continue
			}
			if r := ev.RedirectResponse; r != nil {
				d.add(fmt.Sprintf("response %d %s", r.Status, r.URL))
			}
			d.add("request " + ev.Request.Method + " " + ev.Request.URL)
		}
	}()
	go func() {
		for ev, err := range resps {
			if err != nil {
				return
			}
			if ev.Type == network.ResourceTypeDocument {
				d.add(fmt.Sprintf("response %d %s", ev.Response.Status, ev.Response.URL))
			}
		}
	}()
	return d
}

func (d *documentResponses) add(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen = append(d.seen, s)
}

func (d *documentResponses) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// waitFor waits (bounded by ctx) until an entry satisfies match, and
// returns it.
func (d *documentResponses) waitFor(ctx context.Context, match func(string) bool) (string, bool) {
	for {
		for _, s := range d.list() {
			if match(s) {
				return s, true
			}
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A page on another site submits a form to the application while the user
// is signed in: the gateway refuses it (403) before the application sees
// it. The same form posted from the application's own page goes through,
// so the refusal is the cross-site origin's.
func (s *browserSite) crossSiteFormPostIsRefused(t *testing.T) {
	ctx := s.step(t)
	docs := watchDocuments(ctx)
	target := s.base + "/private/transfer"
	if err := chromedp.Do(ctx, chromedp.Navigate(s.attacker+"/post")); err != nil {
		t.Fatalf("opening the other site's page: %v", err)
	}
	got, ok := docs.waitFor(ctx, func(d string) bool { return strings.HasPrefix(d, "response ") && strings.HasSuffix(d, " "+target) })
	if !ok {
		t.Fatalf("the cross-site form never got an answer; documents: %v", docs.list())
	}
	if got != "response 403 "+target {
		t.Errorf("cross-site form POST while signed in: %s, want 403", got)
	}
	if n := s.posted.Load(); n != 0 {
		t.Errorf("cross-site form POST reached the application %d time(s)", n)
	}
	if !strings.Contains(s.sec.String(), `"event.action":"malicious_csrf"`) {
		t.Errorf("no malicious_csrf event in the security log for the cross-site POST")
	}

	// The control: the application's own form, same origin.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/private"), chromedp.Click(chromedp.ID("transfer")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("the application's own form never reached it: %v; documents: %v", err, docs.list())
	}
	if n := s.posted.Load(); n != 1 {
		t.Errorf("the application's own form: %d POST(s) reached it, want 1", n)
	}
}

// A link on another site to a protected page, followed while signed in:
// the browser withholds the SameSite=Strict cookie from the cross-site
// navigation, the gateway answers with a page that loads the URL again
// from its own site, and the user lands on the page, never on the login
// form.
func (s *browserSite) crossSiteLinkLandsOnThePage(t *testing.T) {
	ctx := s.step(t)
	docs := watchDocuments(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.attacker+"/link"), chromedp.Click(chromedp.ID("go"))); err != nil {
		t.Fatalf("following the link: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("user"))); err != nil {
		u, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("the link from another site did not land on the signed-in page (at %s): %v; documents: %v", u, err, docs.list())
	}
	if u := s.location(t, ctx); u.String() != s.base+"/private" {
		t.Errorf("the link from another site landed on %s, want %s/private", u, s.base)
	}
	for _, d := range docs.list() {
		if strings.Contains(d, auth.LoginPath) || strings.Contains(d, auth.RefreshPath) {
			t.Errorf("the link from another site went through %q; documents: %v", d, docs.list())
			break
		}
	}
	if n := len(slices.DeleteFunc(docs.list(), func(d string) bool { return d != "response 200 "+s.base+"/private" })); n != 2 {
		t.Errorf("the link from another site: %d loads of /private, want 2 (the cross-site one and the same-site one after it); documents: %v", n, docs.list())
	}
}

// Links from another site to rampart's own pages, followed while signed
// in. The browser sends no SameSite=Strict cookie with a cross-site
// navigation, so each page must load again from its own site before it
// decides anything: the logout page must offer to sign out (not claim the
// user is signed out), the refresh endpoint must not sign the user out
// (any site could, with a link), and the login page must send a
// signed-in user on to the return path.
func (s *browserSite) crossSiteLinksToRampartPagesKeepTheSession(t *testing.T) {
	ctx := s.step(t)
	follow := func(page string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(s.attacker+"/to/"+page), chromedp.Click(chromedp.ID("go")),
			chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatalf("following a link from another site to the %s page: %v", page, err)
		}
	}

	follow("logout")
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form button').length`))
	if err != nil {
		t.Fatal(err)
	}
	if buttons == 0 {
		u, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Errorf("logout page opened from another site while signed in: no sign-out button at %s, it says %q", u, text)
	}
	if s.cookies(t, ctx)[auth.SessionCookie] == nil {
		t.Fatalf("a link from another site to the logout page removed the session cookie")
	}

	follow("refresh")
	if c := s.cookies(t, ctx)[auth.SessionCookie]; c == nil {
		t.Fatalf("a link from another site to the refresh endpoint removed the session cookie: any site can sign the user out")
	}
	if u := s.location(t, ctx); u.String() != s.base+"/private" {
		t.Errorf("refresh endpoint opened from another site while signed in: at %s, want %s/private", u, s.base)
	}

	follow("login")
	if u := s.location(t, ctx); u.String() != s.base+"/private" {
		t.Errorf("login page opened from another site while signed in: at %s, want the return path %s/private", u, s.base)
	}
}

// Sign out with the logout page's button; the access cookie saved before,
// put back into the browser by hand, is then refused: the protected page
// goes to the login page and a script's API call gets 401.
func (s *browserSite) logoutRefusesTheOldCookie(t *testing.T) {
	ctx := s.step(t)
	old := s.cookies(t, ctx)[auth.SessionCookie]
	if old == nil {
		t.Fatal("no access cookie to save before signing out")
	}
	fetchStatus := func() int64 {
		t.Helper()
		st, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`fetch('/api/me', {credentials: 'same-origin'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetch /api/me: %v", err)
		}
		return st
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if st := fetchStatus(); st != 200 {
		t.Fatalf("fetch /api/me while signed in: %d, want 200 (the check below would prove nothing)", st)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+auth.LogoutPath), chromedp.WaitVisible(chromedp.CSS(`form button`))); err != nil {
		t.Fatalf("opening the logout page: %v", err)
	}
	if bad := inlineCode(t, ctx); len(bad) > 0 {
		t.Errorf("logout page has inline code: %v", bad)
	}
	screenshot(t, ctx, "logout.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button:not([name])`)), chromedp.WaitVisible(chromedp.CSS(`[role=status]`))); err != nil {
		t.Fatalf("signing out with the page's button: %v", err)
	}
	if u := s.location(t, ctx); u.Path != auth.LogoutPath {
		t.Errorf("after signing out: at %s, want the logout page", u)
	}
	if bad := inlineCode(t, ctx); len(bad) > 0 {
		t.Errorf("signed-out page has inline code: %v", bad)
	}
	if c := s.cookies(t, ctx)[auth.SessionCookie]; c != nil {
		t.Errorf("after signing out the browser still holds %s", c.Name)
	}

	putBack := func() {
		t.Helper()
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
			Name: old.Name, Value: old.Value, URL: s.base + "/", Path: "/",
			Secure: new(true), HTTPOnly: new(true), SameSite: network.CookieSameSiteStrict,
		})
		if err != nil {
			t.Fatalf("putting the old access cookie back: %v", err)
		}
		if c := s.cookies(t, ctx)[auth.SessionCookie]; c == nil || c.Value != old.Value {
			t.Fatalf("the browser did not take the old access cookie back")
		}
	}
	putBack()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/private"), chromedp.WaitVisible(chromedp.CSS(`form`))); err != nil {
		t.Fatalf("opening /private with the old cookie: %v", err)
	}
	if u := s.location(t, ctx); u.Path != auth.LoginPath {
		t.Errorf("/private with the access cookie of a signed-out session: at %s, want the login page", u)
	}
	putBack()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if st := fetchStatus(); st != 401 {
		t.Errorf("fetch /api/me with the access cookie of a signed-out session: %d, want 401", st)
	}
	if s.posted.Load() > 1 {
		t.Errorf("a POST reached the application after sign-out")
	}
}

// No CSP violation on rampart's own pages (login, failed login, logout,
// signed out), in the browser's console or in the gateway's security log.
// The control page breaks the application's CSP on purpose: its violation
// must show in both, or the detectors see nothing.
func (s *browserSite) noCSPViolationOnRampartPages(t *testing.T) {
	ctx := s.step(t)
	// Rampart's pages once more, each state, then the control.
	for _, p := range []string{auth.LoginPath, auth.LoginPath + "?return=/private&ended=1", auth.LogoutPath} {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.base+p), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatalf("opening %s: %v", p, err)
		}
		if bad := inlineCode(t, ctx); len(bad) > 0 {
			t.Errorf("%s has inline code: %v", p, bad)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/csp-control"), chromedp.WaitVisible(chromedp.ID("control"))); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(s.sec.String(), `"document_uri":"`+s.base+`/csp-control"`) {
		select {
		case <-ctx.Done():
			t.Fatalf("the control page's violation never reached the security log: the check proves nothing")
		case <-time.After(100 * time.Millisecond):
		}
	}
	for !s.consoleMentions("/csp-control") {
		select {
		case <-ctx.Done():
			t.Fatalf("the control page's violation never reached the console: the check proves nothing")
		case <-time.After(100 * time.Millisecond):
		}
	}

	for _, line := range strings.Split(s.sec.String(), "\n") {
		if strings.Contains(line, `"event.action":"csp_violation"`) && !strings.Contains(line, "/csp-control") {
			t.Errorf("CSP violation reported outside the control page: %s", line)
		}
	}
	for _, m := range s.console.Messages() {
		if m.Source == "network" && strings.Contains(m.Text, "the server responded with a status of") {
			// A failed login is answered 401, as it must be; the
			// browser notes the status.
			continue
		}
		if strings.Contains(m.URL, auth.Prefix) || strings.Contains(m.Text, auth.Prefix) {
			t.Errorf("console message on rampart's pages: %s %s %s: %s", m.Type, m.Source, m.URL, m.Text)
		}
		if strings.Contains(m.Text, "Content Security Policy") && !strings.Contains(m.URL, "/csp-control") {
			t.Errorf("CSP violation in the console outside the control page: %s: %s", m.URL, m.Text)
		}
	}
}

func (s *browserSite) consoleMentions(path string) bool {
	for _, m := range s.console.Messages() {
		if strings.Contains(m.URL, path) && strings.Contains(m.Text, "Content Security Policy") {
			return true
		}
	}
	return false
}
