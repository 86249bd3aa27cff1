package auth

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/seclog"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// crossSiteGate is a Gate with one user, in front of an application that
// answers 200, as the gateway stacks it (Identify, then Handler).
func crossSiteGate(t *testing.T) (http.Handler, string) {
	t.Helper()
	dir := t.TempDir()
	password := rand.Text()
	hash, err := users.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersFile, []byte("users:\n  - name: alice\n    hash: '"+hash+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := state.OpenEmbedded(filepath.Join(dir, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	secret := make([]byte, 32)
	rand.Read(secret)
	quiet := slog.New(slog.DiscardHandler)
	g, err := New(Options{Users: users.Options{Path: usersFile}, Session: session.Options{Secret: secret}},
		Deps{Store: store, Sec: seclog.New(quiet), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page of the application")) })
	return g.Identify(g.Handler(app)), password
}

// navigate is a browser's top-level GET: from site ("same-origin" or
// "cross-site") with cookies, which a browser withholds when SameSite=Strict
// and the navigation is cross-site.
func navigate(h http.Handler, target, site string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "https://app.test"+target, nil)
	r.Header.Set("Accept", "text/html")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	r.Header.Set("Sec-Fetch-Site", site)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A page on another site links to rampart's login, logout or refresh
// endpoint, or redirects its visitor there. The browser sends none of the
// SameSite=Strict cookies with that navigation. Before the fix, the refresh
// endpoint found no refresh cookie and deleted the access cookie (any site
// signed its visitors out), and the logout page told a signed-in user "You
// are signed out" while the session lived on. Each now answers with a page
// that loads the same URL from this site, and sets no cookie.
func TestLogoutCSRF_CrossSiteLinkToAuthPagesSignsNobodyOut(t *testing.T) {
	h, password := crossSiteGate(t)

	form := url.Values{"username": {"alice"}, "password": {password}, "return": {"/private"}}
	r := httptest.NewRequest(http.MethodPost, "https://app.test"+LoginPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("signing in: %d\n%s", w.Code, w.Body)
	}
	jar := w.Result().Cookies()
	var access, refresh []*http.Cookie
	for _, c := range jar {
		switch c.Name {
		case SessionCookie:
			access = append(access, c)
		case RefreshCookie:
			refresh = append(refresh, c)
		}
	}
	if len(access) != 1 || len(refresh) != 1 {
		t.Fatalf("signing in set %v", jar)
	}

	for _, target := range []string{LogoutPath, RefreshPath + "?return=%2Fprivate", LoginPath + "?return=/private"} {
		w := navigate(h, target, "cross-site", nil)
		if sc := w.Header().Values("Set-Cookie"); len(sc) > 0 {
			t.Errorf("cross-site link to %s: sets cookies %q; the browser withheld its cookies, nothing is known about the user", target, sc)
		}
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, `http-equiv="refresh"`) {
			t.Errorf("cross-site link to %s: answered %d (Location %q), not with a page loading it again from this site", target, w.Code, w.Header().Get("Location"))
			continue
		}
		want := strings.ReplaceAll(target, "&", "&amp;")
		if !strings.Contains(body, `content="0;url=`+want+`"`) {
			t.Errorf("cross-site link to %s: the page loads another URL:\n%s", target, body)
		}
	}

	// The second load, from this site and with the cookies, decides.
	w = navigate(h, LogoutPath, "same-origin", access)
	if !strings.Contains(w.Body.String(), `<button type="submit">Sign out</button>`) {
		t.Errorf("logout page with the session: no sign-out button\n%s", w.Body)
	}
	w = navigate(h, RefreshPath+"?return=%2Fprivate", "same-origin", refresh)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/private" {
		t.Errorf("refresh with the refresh cookie: %d %q, want 303 /private", w.Code, w.Header().Get("Location"))
	}
	w = navigate(h, LoginPath+"?return=/private", "same-origin", access)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/private" {
		t.Errorf("login page with the session: %d %q, want 303 /private", w.Code, w.Header().Get("Location"))
	}
}
