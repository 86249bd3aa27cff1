package secheaders

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/reqpath"
)

// talismanUpstream answers like the seed's Flask app behind the seed's nginx:
// every security header of its own, some twice.
func talismanUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
		h.Add("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
		h.Add("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		h.Add("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload")
		h.Add("X-Frame-Options", "SAMEORIGIN")
		h.Add("X-Frame-Options", "SAMEORIGIN")
		h.Add("X-Content-Type-Options", "nosniff")
		h.Add("X-Content-Type-Options", "nosniff")
		h.Add("X-XSS-Protection", "1; mode=block")
		h.Add("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Add("Permissions-Policy", "browsing-topics=()")
		h.Add("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
		h.Add("X-Powered-By", "Werkzeug/3.0.1 Python/3.11")
		h.Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		if r.URL.Path == "/error" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, "<p>ok</p>")
	}))
	t.Cleanup(up.Close)
	return up
}

// frontTLS serves m in front of a real httputil.ReverseProxy to upstream,
// over TLS.
func frontTLS(t *testing.T, m *Middleware, upstream string) *httptest.Server {
	t.Helper()
	u, _ := url.Parse(upstream)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	front := httptest.NewTLSServer(m.Handler(rp))
	t.Cleanup(front.Close)
	return front
}

func mustNew(t *testing.T, p Policy) *Middleware {
	t.Helper()
	m, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHeaderDuplication_UpstreamTalisman: the seed sends every header twice
// (nginx add_header + Talisman). Through rampart each appears exactly once,
// with rampart's value, on 200, redirect and 500 responses.
func TestHeaderDuplication_UpstreamTalisman(t *testing.T) {
	up := talismanUpstream(t)
	front := frontTLS(t, mustNew(t, Policy{}), up.URL)
	client := front.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, p := range []string{"/", "/redirect", "/error"} {
		resp, err := client.Get(front.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, k := range []string{"Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options",
			"X-Content-Type-Options", "X-Xss-Protection", "Referrer-Policy", "Permissions-Policy",
			"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy"} {
			if n := len(resp.Header.Values(k)); n != 1 {
				t.Errorf("%s: %s sent %d times: %q", p, k, n, resp.Header.Values(k))
			}
		}
		if got := resp.Header.Values("X-Powered-By"); len(got) != 0 {
			t.Errorf("%s: X-Powered-By leaked: %q", p, got)
		}
		if got := resp.Header.Get("X-XSS-Protection"); got != "0" {
			t.Errorf("%s: X-XSS-Protection = %q, want 0", p, got)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
			t.Errorf("%s: HSTS = %q", p, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "object-src 'none'") {
			t.Errorf("%s: CSP = %q, want rampart's", p, got)
		}
	}
}

// TestHeaderDuplication_ModesKeepAndMerge: keep leaves the application's
// value (once), merge sends both policies in one field, enforced together.
func TestHeaderDuplication_ModesKeepAndMerge(t *testing.T) {
	up := talismanUpstream(t)
	m := mustNew(t, Policy{Modes: map[string]Mode{
		"content-security-policy":    ModeMerge,
		"Cross-Origin-Opener-Policy": ModeKeep,
		"X-Frame-Options":            ModeKeep,
	}})
	front := frontTLS(t, m, up.URL)
	resp, err := front.Client().Get(front.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Values("Content-Security-Policy")
	want := m.base.csp.static[0] + ", default-src 'self'; script-src 'self'; style-src 'self'"
	if len(csp) != 1 || csp[0] != want {
		t.Errorf("merged CSP = %q, want [%q]", csp, want)
	}
	if got := resp.Header.Values("Cross-Origin-Opener-Policy"); len(got) != 1 || got[0] != "same-origin-allow-popups" {
		t.Errorf("kept COOP = %q", got)
	}
	if got := resp.Header.Values("X-Frame-Options"); len(got) != 1 {
		t.Errorf("kept XFO not deduplicated: %q", got)
	}
}

// TestRoute_PathTricks: dot segments, encoded slashes and the other forms an
// application could read differently from rampart cannot make a request
// select the looser /embed route (which allows framing and drops
// X-Frame-Options: a clickjacking of the admin pages). With the reqpath
// handler in front, as in the gateway, they never reach the application;
// without it, they get the policy's own headers, never a route's.
func TestRoute_PathTricks(t *testing.T) {
	m := mustNew(t, Policy{Routes: []Route{
		{Prefix: "/embed/", CSP: map[string][]string{"frame-ancestors": {"*"}}},
		{Prefix: "/admin", Headers: Headers{FrameOptions: "DENY"}},
	}})
	var seen string
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL.Path })
	alone := httptest.NewServer(m.Handler(app))
	defer alone.Close()
	guarded := httptest.NewServer(m.Handler(new(reqpath.Policy).Handler(app)))
	defer guarded.Close()
	const ambiguous = "ambiguous"
	for _, tc := range []struct{ path, xfo string }{
		{"/embed/x", ""},
		{"/embed", ""},
		{"/embed//x", ""}, // (a leading "//" would be sent as an absolute URL by Go's client)
		{"/EMBED/x", ""},
		{"/embedded", "SAMEORIGIN"},
		{"/admin", "DENY"},
		{"/ADMIN", "DENY"},
		{"/Admin/users", "DENY"},
		{"/admin//users", "DENY"},
		{"/embed/../admin/users", ambiguous},
		{"/embed/%2e%2e/admin/users", ambiguous},
		{"/embed/%2E%2E/admin", ambiguous},
		{"/embed/.%2e/admin", ambiguous},
		{"//embed/..//admin/users", ambiguous},
		{"/embed/./../admin", ambiguous},
		{"/embed%2f..%2fadmin", ambiguous},
		{"/admin/..%2fembed/x", ambiguous},
		{"/admin/../embed/x", ambiguous},
		{"/admin%2fembed/x", ambiguous},
		{"/admin;x/../embed/x", ambiguous},
		{"/admin/..;/embed/x", ambiguous},
		{"/admin\\..\\embed/x", ambiguous},
		{"/admin/%252e%252e/embed/x", ambiguous},
	} {
		for _, srv := range []*httptest.Server{alone, guarded} {
			seen = ""
			// Send the path verbatim, as an attacker would, bypassing client-side cleaning.
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.URL.Opaque = tc.path
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get("X-Frame-Options")
			switch {
			case tc.xfo != ambiguous:
				if resp.StatusCode != 200 || got != tc.xfo {
					t.Errorf("%s: status %d, X-Frame-Options %q; want 200, %q", tc.path, resp.StatusCode, got, tc.xfo)
				}
			case srv == guarded:
				if resp.StatusCode != http.StatusBadRequest || seen != "" {
					t.Errorf("%s: status %d (handler saw %q); want 400 before the application", tc.path, resp.StatusCode, seen)
				}
				if got != "SAMEORIGIN" {
					t.Errorf("%s: the 400 has X-Frame-Options %q, want the policy's", tc.path, got)
				}
			default:
				if got != "SAMEORIGIN" {
					t.Errorf("%s (handler saw %q): X-Frame-Options = %q, want the policy's SAMEORIGIN", tc.path, seen, got)
				}
			}
		}
	}
}

// TestNonce_ClientForgedHeader: a client that sends its own X-CSP-Nonce
// cannot choose the nonce the application puts in its pages.
func TestNonce_ClientForgedHeader(t *testing.T) {
	m := mustNew(t, Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true}}})
	var got []string
	var fromCtx string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Values("X-CSP-Nonce")
		fromCtx = Nonce(r)
	}))
	seen := map[string]bool{}
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Add("X-CSP-Nonce", "attacker")
		req.Header.Add("x-csp-nonce", "attacker2")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if len(got) != 1 || got[0] == "attacker" || len(got[0]) != 24 {
			t.Fatalf("application saw nonce header %q", got)
		}
		if fromCtx != got[0] {
			t.Fatalf("Nonce(r) = %q, header %q", fromCtx, got[0])
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self' 'nonce-"+got[0]+"'") {
			t.Fatalf("CSP %q lacks nonce %q", csp, got[0])
		}
		if seen[got[0]] {
			t.Fatal("nonce reused across responses")
		}
		seen[got[0]] = true
	}
}

// TestResponseController_FlushAndHijack: http.ResponseController reaches the
// connection through the wrapper, and a flush before any write still sends
// the policy.
func TestResponseController_FlushAndHijack(t *testing.T) {
	m := mustNew(t, Policy{})
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.URL.Path == "/hijack" {
			c, _, err := rc.Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
			c.Close()
			return
		}
		if err := rc.Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		io.WriteString(w, "data: x\n\n")
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("flushed response has no CSP")
	}
	resp, err = http.Get(srv.URL + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Errorf("hijacked body %q", b)
	}
}

func TestHSTS_OnlyOverTLS(t *testing.T) {
	h := mustNew(t, Policy{}).Header("/", false, "")
	if h.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	h = mustNew(t, Policy{HSTS: HSTS{Preload: true}}).Header("/", true, "")
	if got := h.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains; preload" {
		t.Errorf("HSTS = %q", got)
	}
}

// TestConfig_Errors: each mistake is refused, on the Go path of its field.
func TestConfig_Errors(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string // substring of one error, "Path: message (hint: ...)"
	}{
		{Policy{HSTS: HSTS{Preload: true, ExcludeSubDomains: true}}, "HSTS.Preload: needs max-age >= 1 year"},
		{Policy{HSTS: HSTS{Preload: true, MaxAge: 86400e9}}, "HSTS.Preload:"},
		{Policy{HSTS: HSTS{MaxAge: -1}}, "HSTS.MaxAge: must be >= 0"},
		{Policy{CSP: CSP{Directives: map[string][]string{"script-src": {"self"}}}}, "CSP.Directives[script-src]: unquoted self is read as a host name (hint: write 'self')"},
		{Policy{CSP: CSP{Directives: map[string][]string{"script-src": {"'self'; img-src *"}}}}, "CSP.Directives[script-src]: not a valid directive"},
		{Policy{CSP: CSP{Directives: map[string][]string{"scripts-src": {"'self'"}}}}, "CSP.Directives[scripts-src]: unknown directive (hint: did you mean script-src?)"},
		{Policy{Routes: []Route{{Prefix: "/a", CSP: map[string][]string{"style-src": {"'nonce-x'"}}}}}, "Routes[0].CSP[style-src]: nonce"},
		{Policy{Routes: []Route{{Prefix: "admin"}}}, "Routes[0].Prefix: \"admin\" must be an absolute path"},
		{Policy{Routes: []Route{{Prefix: "/a/"}, {Prefix: "/a"}}}, "Routes[1].Prefix: \"/a\" is listed twice"},
		{Policy{Headers: Headers{FrameOptions: "ALLOW-FROM https://x"}}, "FrameOptions: ALLOW-FROM"},
		{Policy{Routes: []Route{{Prefix: "/a", Headers: Headers{CrossOriginOpenerPolicy: "same"}}}}, "Routes[0].CrossOriginOpenerPolicy: must be one of"},
		{Policy{Headers: Headers{ReferrerPolicy: "always"}}, "ReferrerPolicy: must be one of"},
		{Policy{Headers: Headers{PermissionsPolicy: "camera"}}, "PermissionsPolicy:"},
		{Policy{Modes: map[string]Mode{"X-Frame-Options": ModeMerge}}, "Modes[X-Frame-Options]: merge applies to Content-Security-Policy only"},
		{Policy{Modes: map[string]Mode{"X-Frame-Options": "replace"}}, "Modes[X-Frame-Options]: must be override, keep or merge"},
		// A misspelt name would leave the real header at override, silently.
		{Policy{Modes: map[string]Mode{"Content-Security-Polcy": ModeKeep}}, "Modes[Content-Security-Polcy]: not a header the policy sets"},
		{Policy{Modes: map[string]Mode{"Set-Cookie": ModeKeep}}, "Modes[Set-Cookie]: not a header the policy sets"},
		{Policy{CSP: CSP{Nonce: NonceOptions{InjectHTML: true}}}, "CSP.Nonce.InjectHTML: has no nonce to inject: nonces are not enabled"},
		{Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true, RequestHeader: "X Nonce"}}}, "CSP.Nonce.RequestHeader"},
		{Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true, Directives: []string{"img-src"}}}}, "CSP.Nonce.Directives[0]"},
		{Policy{CSP: CSP{Report: ReportOptions{Enabled: true, Path: "/r/../x"}}}, "CSP.Report.Path"},
		{Policy{Cookies: []CookieRule{{Name: "[", SameSite: "lax"}}}, "Cookies[0].Name: bad pattern"},
		{Policy{Cookies: []CookieRule{{Name: "a", SameSite: "loose"}}}, "Cookies[0].SameSite"},
	} {
		_, err := New(tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v, want %q", tc.p, err, tc.want)
		}
	}
}

// TestNew_RunsExactlyValidate: the error of New is the errors of
// Validate, field by field, so `config check` (Validate) and `serve`
// (New) cannot disagree; a policy with warnings only is accepted.
func TestNew_RunsExactlyValidate(t *testing.T) {
	for _, p := range []Policy{
		{CSP: CSP{Directives: map[string][]string{"script-src": {"self"}, "img-src": {"*"}}}, Routes: []Route{{Prefix: "x"}}},
		{HSTS: HSTS{MaxAge: -1}, Modes: map[string]Mode{"Set-Cookie": ModeKeep, "X-Frame-Options": ModeKeep}},
		{Cookies: []CookieRule{{Name: "[", SameSite: "loose"}, {Name: "*", SameSite: "none"}}},
	} {
		want := p.Validate()
		_, err := New(p)
		var got field.Errors
		if !errors.As(err, &got) {
			t.Fatalf("New(%+v) = %v, not a field.Errors", p, err)
		}
		if !want.HasErrors() || !slices.Equal(got, want) {
			t.Errorf("New(%+v) =\n%v\nValidate =\n%v", p, got, want)
		}
	}
	p := Policy{CSP: CSP{ReportOnly: true}}
	if len(p.Validate().Warnings()) == 0 {
		t.Fatal("no warning for a report-only policy")
	}
	if _, err := New(p); err != nil {
		t.Errorf("New refused a policy with warnings only: %v", err)
	}
}

func TestConfig_Warnings(t *testing.T) {
	p := Policy{
		CSP:     CSP{ReportOnly: true, Directives: map[string][]string{"script-src": {"'self' 'unsafe-inline'"}}},
		Cookies: []CookieRule{{Name: "*", SameSite: "none"}},
	}
	errs := p.Validate()
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	var ws []string
	for _, e := range errs.Warnings() {
		ws = append(ws, e.Error())
	}
	w := strings.Join(ws, "\n")
	for _, want := range []string{
		"CSP.ReportOnly: the policy is reported, not enforced",
		"CSP.Directives[script-src]: 'unsafe-inline' allows injected inline scripts",
		`Cookies: session cookies such as "session" get no HttpOnly, SameSite=Lax or Strict`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if errs := Default().Validate(); len(errs) != 0 {
		t.Errorf("default policy has findings: %v", errs)
	}
}

func TestRoute_ReportOnlyOverride(t *testing.T) {
	yes := true
	m := mustNew(t, Policy{Routes: []Route{{Prefix: "/beta", CSPReportOnly: &yes, CSP: map[string][]string{"script-src": {"'none'"}}}}})
	h := m.Header("/beta/x", true, "")
	if h.Get("Content-Security-Policy") != "" || !strings.Contains(h.Get("Content-Security-Policy-Report-Only"), "script-src 'none'") {
		t.Errorf("beta route headers: %v", h)
	}
	if h := m.Header("/", true, ""); h.Get("Content-Security-Policy") == "" {
		t.Error("root lost its enforced CSP")
	}
}

// Values accepted in any case must reach the browser in the case it
// compares: a "Same-Origin" COOP or "No-Referrer" Referrer-Policy is an
// unknown token to the browser, which then applies no policy at all.
func TestHeaders_MixedCaseValuesAreNotSilentlyIgnoredByBrowsers(t *testing.T) {
	m := mustNew(t, Policy{Headers: Headers{
		ReferrerPolicy:               "No-Referrer",
		CrossOriginOpenerPolicy:      "Same-Origin",
		CrossOriginResourcePolicy:    " Same-Site",
		CrossOriginEmbedderPolicy:    "Require-Corp",
		PermittedCrossDomainPolicies: "None",
		FrameOptions:                 "deny ",
	}})
	h := m.Header("/", true, "")
	for name, want := range map[string]string{
		"Referrer-Policy":                   "no-referrer",
		"Cross-Origin-Opener-Policy":        "same-origin",
		"Cross-Origin-Resource-Policy":      "same-site",
		"Cross-Origin-Embedder-Policy":      "require-corp",
		"X-Permitted-Cross-Domain-Policies": "none",
		"X-Frame-Options":                   "DENY",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestNonce_NestedMiddlewares: a middleware inside another gives the
// handlers inside it its own nonce, and leaves the outer one's: each
// response's CSP names the nonce its own handlers saw.
func TestNonce_NestedMiddlewares(t *testing.T) {
	on := Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true}}}
	outer, inner := mustNew(t, on), mustNew(t, on)
	var outerSaw, innerSaw string
	h := outer.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outerSaw = Nonce(r)
		inner.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			innerSaw = Nonce(r)
		})).ServeHTTP(w, r)
		if got := Nonce(r); got != outerSaw {
			t.Errorf("after the inner middleware, Nonce(r) = %q, want the outer %q", got, outerSaw)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if outerSaw == "" || innerSaw == "" || outerSaw == innerSaw {
		t.Fatalf("outer nonce %q, inner nonce %q: want two different nonces", outerSaw, innerSaw)
	}
}

// TestNonce_RecordedInTheRequestState: the nonce is recorded in the
// request's State (internal/reqstate), which the gateway's listeners give
// every request: no copy of the request is made for it.
func TestNonce_RecordedInTheRequestState(t *testing.T) {
	m := mustNew(t, Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true}}})
	req := httptest.NewRequest("GET", "/", nil)
	_, ctx := reqstate.With(req.Context())
	req = req.WithContext(ctx)
	var seen *http.Request
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
	})).ServeHTTP(httptest.NewRecorder(), req)
	if seen != req {
		t.Error("the request was copied although it carried a State")
	}
	if n := reqstate.From(req.Context()).Nonce; n == "" || n != Nonce(seen) {
		t.Errorf("State.Nonce = %q, Nonce(r) = %q", n, Nonce(seen))
	}
	if Nonce(httptest.NewRequest("GET", "/", nil)) != "" {
		t.Error("Nonce of a request the middleware never saw is not empty")
	}
}
