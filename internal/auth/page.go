package auth

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed pages
var pagesFS embed.FS

var (
	loginPage  = template.Must(template.ParseFS(pagesFS, "pages/layout.html", "pages/login.html"))
	logoutPage = template.Must(template.ParseFS(pagesFS, "pages/layout.html", "pages/logout.html"))
	bouncePage = template.Must(template.ParseFS(pagesFS, "pages/bounce.html"))
)

// asset is a static file of rampart's pages, served with a strong ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

var assets = map[string]asset{
	"rampart.css": loadAsset("pages/rampart.css", "text/css; charset=utf-8"),
	"mark.svg":    loadAsset("pages/mark.svg", "image/svg+xml"),
}

func loadAsset(name, ctype string) asset {
	b, err := pagesFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return asset{body: b, ctype: ctype, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) bool {
	a, ok := assets[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "public, max-age=86400")
	// Public assets, but only for rampart's own pages: no other origin
	// embeds them.
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	return true
}

// pageData is what the login and logout pages show.
type pageData struct {
	Title    string
	Host     string
	Assets   string
	Action   string
	Login    string
	Return   string
	Username string
	Error    string
	Notice   string
}

// render writes a page with status code. Pages are never cached: they
// may carry a user name, and a shared cache must not replay them.
func render(w http.ResponseWriter, r *http.Request, t *template.Template, code int, d pageData) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writePage(w, r, code, b.String())
}

func writePage(w http.ResponseWriter, r *http.Request, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}

// bounce answers a cross-site navigation that arrived without a session,
// or to rampart's login, logout or refresh page (see endpoint): a page
// that loads the same URL again at once (meta refresh, no script).
// The second load is initiated by this site, so the browser sends the
// SameSite=Strict cookies it withheld from the first; a user following a
// link from their mail to a page they are signed in to lands on the page,
// not on the login form. A second load that still has no session is not
// cross-site, so it goes on to the login page: no loop.
func bounce(w http.ResponseWriter, r *http.Request, url string) {
	var b strings.Builder
	if err := bouncePage.Execute(&b, struct{ URL string }{url}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writePage(w, r, http.StatusOK, b.String())
}
