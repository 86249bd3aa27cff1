package secheaders

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/httperr"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// responseKinds are the responses every policy must cover: what the
// application answers and what other stages of the gateway write.
var responseKinds = []struct {
	name string
	h    http.Handler
}{
	{"200-body", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<p>hello</p>")
	})},
	{"200-implicit", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})},
	{"302-redirect", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusFound)
	})},
	{"404-notfound", http.NotFoundHandler()},
	{"429-ratelimit", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		httperr.Write(w, r, http.StatusTooManyRequests, "", "req-1")
	})},
	{"500-panic", httperr.Recover(slog.New(slog.DiscardHandler), nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))},
	{"502-upstream-down", &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}) },
		ErrorLog: nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			httperr.Write(w, r, http.StatusBadGateway, "", "")
		},
	}},
	{"504-timeout", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, http.StatusGatewayTimeout, "", "")
	})},
}

var nonceRE = regexp.MustCompile(`nonce-[A-Za-z0-9+/]{24}`)

// renderHeaders prints the headers in a stable form, with per-response
// values (nonce, Date) replaced by placeholders.
func renderHeaders(h http.Header) string {
	var b strings.Builder
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if k == "Date" || k == "Content-Length" {
				continue
			}
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, nonceRE.ReplaceAllString(v, "nonce-NONCE"))
		}
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s: headers differ from golden file\n--- want\n%s--- got\n%s", file, want, got)
	}
}

// goldenPolicies are the policies whose full header sets are pinned.
var goldenPolicies = []struct {
	name   string
	policy Policy
	paths  []string
}{
	{"default", Policy{}, []string{"/"}},
	{"routes", Policy{
		CSP: CSP{
			Directives: map[string][]string{"img-src": {"'self' data:"}},
			Nonce:      NonceOptions{Enabled: true, Directives: []string{"script-src", "style-src"}},
			Report:     ReportOptions{Enabled: true},
		},
		Routes: []Route{
			{Prefix: "/admin/", CSP: map[string][]string{"script-src": {"'self' https://cdn.example.com"}}, Headers: Headers{FrameOptions: "DENY"}},
			{Prefix: "/embed/", CSP: map[string][]string{"frame-ancestors": {"https://partner.example"}}, Headers: Headers{CrossOriginResourcePolicy: "cross-origin"}},
		},
	}, []string{"/", "/admin/users", "/embed/widget"}},
}

// TestGolden_HeaderSets pins the full header set of each policy, route and
// response kind, over HTTPS and plain HTTP.
func TestGolden_HeaderSets(t *testing.T) {
	for _, gp := range goldenPolicies {
		m, err := New(gp.policy)
		if err != nil {
			t.Fatalf("%s: %v", gp.name, err)
		}
		for _, p := range gp.paths {
			for _, scheme := range []string{"https", "http"} {
				var out strings.Builder
				for _, rk := range responseKinds {
					req := httptest.NewRequest("GET", p, nil)
					if scheme == "https" {
						req.TLS = &tls.ConnectionState{}
					}
					rec := httptest.NewRecorder()
					m.Handler(rk.h).ServeHTTP(rec, req)
					fmt.Fprintf(&out, "== %s %s %s -> %d\n%s", scheme, p, rk.name, rec.Code, renderHeaders(rec.Header()))
				}
				name := fmt.Sprintf("%s_%s_%s", gp.name, strings.Trim(strings.ReplaceAll(p, "/", "-"), "-"), scheme)
				name = strings.ReplaceAll(name, "__", "_root_")
				checkGolden(t, name, out.String())
			}
		}
	}
}
