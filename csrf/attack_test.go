package csrf

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-dev/rampart/seclog"
)

// lockedBuffer collects log records written by server goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// events returns the security events logged so far.
func (l *lockedBuffer) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// site is a Protection in front of an application on a loopback TLS
// server, the way a browser meets it.
type site struct {
	*httptest.Server
	p       *Protection
	log     *lockedBuffer
	mu      sync.Mutex
	reached []string // paths the application served
}

func newSite(t *testing.T, o Options) *site {
	t.Helper()
	s := &site{log: &lockedBuffer{}}
	o.Log = seclog.New(slog.New(slog.NewJSONHandler(s.log, nil)))
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	// Every refusal logged, so each test sees its own event; the
	// sampling is TestEventSampledPerClientWithoutTokens's.
	p.sampler = nil
	s.Server = httptest.NewTLSServer(p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reached = append(s.reached, r.URL.EscapedPath())
		s.mu.Unlock()
		io.WriteString(w, "done")
	})))
	t.Cleanup(s.Close)
	return s
}

// origin is the site's own origin, as a browser on one of its pages sends.
func (s *site) origin() string { return s.URL }

func (s *site) served() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reached...)
}

// send makes a request with the given headers ("Host" sets the Host).
func (s *site) send(t *testing.T, method, path string, h map[string]string) *http.Response {
	t.Helper()
	s.mu.Lock()
	s.reached = nil
	s.mu.Unlock()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader("amount=1000&to=mallory"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// refused asserts a 403 that never reached the application and one
// malicious_csrf event with the reason.
func (s *site) refused(t *testing.T, resp *http.Response, reason Reason) {
	t.Helper()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s %s: status %d, want 403", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode)
	}
	if got := s.served(); len(got) != 0 {
		t.Fatalf("the application served %v", got)
	}
	ev := s.log.events(t)
	if len(ev) == 0 {
		t.Fatal("no security event")
	}
	last := ev[len(ev)-1]
	if last["event.action"] != "malicious_csrf" || last["reason"] != reason.String() {
		t.Fatalf("event %v, want malicious_csrf with reason %s", last, reason)
	}
}

func (s *site) allowed(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d, want 200; log: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, s.log.String())
	}
}

const session = "session=eyJhbGciOiJFZERTQSJ9.victim"

// The classic attack: a page on another site auto-submits a form to this
// one, and the browser attaches the victim's cookies.
func TestAttack_CrossSiteFormPostWithCookies(t *testing.T) {
	s := newSite(t, Options{})
	resp := s.send(t, "POST", "/transfer", map[string]string{
		"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example", "Cookie": session,
	})
	s.refused(t, resp, CrossSite)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want the generic HTML page", ct)
	}
	// A fetch() asking for JSON gets problem+json.
	resp = s.send(t, "DELETE", "/account", map[string]string{
		"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example", "Accept": "application/json",
	})
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("JSON client: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// Sandboxed iframes, data: URLs and cross-site redirect chains send
// "Origin: null"; any attacker page can produce one.
func TestAttack_OriginNull(t *testing.T) {
	s := newSite(t, Options{})
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": "null", "Cookie": session}), OriginNull)
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}), CrossSite)
}

// A sibling subdomain (user content, a forgotten staging host) is
// same-site, not same-origin: SameSite cookies do not stop it, this does.
func TestAttack_SameSiteSiblingSubdomain(t *testing.T) {
	s := newSite(t, Options{})
	s.refused(t, s.send(t, "POST", "/settings", map[string]string{
		"Host": "app.example.com", "Sec-Fetch-Site": "same-site", "Origin": "https://uploads.example.com", "Cookie": session,
	}), SameSite)
}

// A browser from before Fetch Metadata sends only Origin.
func TestAttack_ForeignOriginWithoutFetchMetadata(t *testing.T) {
	s := newSite(t, Options{})
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": "https://attacker.example", "Cookie": session}), UntrustedOrigin)
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Sec-Fetch-Site": "bogus", "Cookie": session}), FetchSiteInvalid)
}

// A request with neither Sec-Fetch-Site nor Origin passes, as
// http.CrossOriginProtection lets it: every browser released since 2020
// sends Origin on a cross-origin unsafe request (and Sec-Fetch-Site since
// 2023), so such a request is curl, a script or a server, which attach no
// victim's cookies on their own. Refusing it would break every API client
// and protect no browser user; very old browsers are what TokenPrefixes
// are for (TestOldBrowserNeedsTheTokenUnderTokenPrefixes).
func TestOldClientWithoutOriginOrFetchMetadataAllowed(t *testing.T) {
	s := newSite(t, Options{})
	s.allowed(t, s.send(t, "POST", "/api/items", nil))
	// A browser on the same origin, with or without Fetch Metadata.
	s.allowed(t, s.send(t, "POST", "/transfer", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.origin()}))
	s.allowed(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": s.origin()}))
	s.allowed(t, s.send(t, "POST", "/transfer", map[string]string{"Sec-Fetch-Site": "none"}))
}

// An Origin that names this host on another port is another origin (its
// own application, its own users).
func TestAttack_OriginOnAnotherPort(t *testing.T) {
	s := newSite(t, Options{})
	u, _ := url.Parse(s.URL)
	other := "https://" + u.Hostname() + ":1"
	if other == s.origin() {
		t.Fatal("test setup")
	}
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": other, "Cookie": session}), UntrustedOrigin)
}

// An Origin that names this host and port over plain http, on a request
// that came over TLS: a page injected into the http site by anyone on the
// network path. http.CrossOriginProtection lets it pass (Host has no
// scheme); the scheme rule of this package refuses it.
func TestAttack_OriginOnAnotherScheme(t *testing.T) {
	s := newSite(t, Options{})
	httpOrigin := "http://" + strings.TrimPrefix(s.URL, "https://")
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": httpOrigin, "Cookie": session}), OriginScheme)

	// Without TLS at this handler (TLS ended in front of it), the scheme
	// is unknown and Go's rule applies: both schemes pass.
	p, _ := New(Options{})
	plain := httptest.NewServer(p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer plain.Close()
	host := strings.TrimPrefix(plain.URL, "http://")
	for _, o := range []string{"http://" + host, "https://" + host} {
		req, _ := http.NewRequest("POST", plain.URL+"/transfer", nil)
		req.Header.Set("Origin", o)
		resp, err := plain.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("plain listener, Origin %s: %d", o, resp.StatusCode)
		}
	}
}

// A bypass route dressed up: "/hooks/../admin" and its encoded forms are
// not under /hooks/ on the canonical path (reqpath), so they are checked
// like any path. A raw string prefix would let them through to an
// application that resolves them to /admin.
func TestAttack_BypassPathDressedWithDotDotOrEncodedSlash(t *testing.T) {
	s := newSite(t, Options{InsecureBypassPrefixes: []string{"/hooks/"}})
	for _, path := range []string{
		"/hooks/../admin/delete", "/hooks/..%2fadmin/delete", "/hooks/%2e%2e/admin/delete",
		"/hooks%2f..%2fadmin/delete", "/hooks/.%2e/admin/delete", "/hooks/..;/admin/delete",
		"/hooksx/delete", "/hooks%00/x",
	} {
		t.Run(path, func(t *testing.T) {
			s.refused(t, s.send(t, "POST", path, map[string]string{
				"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example", "Cookie": session,
			}), CrossSite)
		})
	}
	// The route itself is bypassed, under its canonical forms.
	for _, path := range []string{"/hooks/github", "/hooks", "//hooks//github", "/HOOKS/github"} {
		resp := s.send(t, "POST", path, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://github.example"})
		s.allowed(t, resp)
	}
}

// tokenSite requires the token under /api/; the session id is the value of
// the "session" cookie (a test stand-in for a verified session).
func tokenSite(t *testing.T, o Options) *site {
	o.TokenPrefixes = append(o.TokenPrefixes, "/api/")
	o.Secret = secret
	o.SessionID = func(r *http.Request) string {
		c, err := r.Cookie("session")
		if err != nil {
			return ""
		}
		return c.Value
	}
	return newSite(t, o)
}

func (s *site) tokenOf(sid string) string { return s.p.TokenFor(sid) }

// An attacker logs in, reads their own token and plants it in a forged
// request (through a header-setting hole, or a cookie tossed from a
// sibling): it is bound to the attacker's session, not the victim's.
func TestAttack_TokenFromAnotherSession(t *testing.T) {
	s := tokenSite(t, Options{})
	theirs := s.tokenOf("attacker-session")
	s.refused(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Sec-Fetch-Site": "same-origin", "Cookie": "session=victim-session; __Host-rampart-csrf=" + theirs, "X-CSRF-Token": theirs,
	}), TokenInvalid)
	// The victim's header with the attacker's cookie, and the reverse.
	mine := s.tokenOf("victim-session")
	s.refused(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Sec-Fetch-Site": "same-origin", "Cookie": "session=victim-session; __Host-rampart-csrf=" + theirs, "X-CSRF-Token": mine,
	}), CookieInvalid)
	s.refused(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Sec-Fetch-Site": "same-origin", "Cookie": "session=victim-session; __Host-rampart-csrf=" + mine, "X-CSRF-Token": theirs,
	}), TokenInvalid)
}

// A cross-site form cannot set a header: the cookie alone, sent by the
// browser, is not enough.
func TestAttack_TokenHeaderMissing(t *testing.T) {
	s := tokenSite(t, Options{})
	tok := s.tokenOf("victim-session")
	s.refused(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Cookie": "session=victim-session; __Host-rampart-csrf=" + tok,
	}), TokenMissing)
	// Two header values: which one a later reader takes is unknown.
	req, _ := http.NewRequest("POST", s.URL+"/api/transfer", nil)
	req.Header.Set("Cookie", "session=victim-session; __Host-rampart-csrf="+tok)
	req.Header.Add("X-CSRF-Token", tok)
	req.Header.Add("X-CSRF-Token", "other")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.refused(t, resp, TokenMissing)
}

// The header without the cookie: whoever sends it has not read the
// cookie this origin set.
func TestAttack_TokenHeaderWithoutCookie(t *testing.T) {
	s := tokenSite(t, Options{})
	s.refused(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Cookie": "session=victim-session", "X-CSRF-Token": s.tokenOf("victim-session"),
	}), CookieMissing)
}

func TestTokenAccepted(t *testing.T) {
	s := tokenSite(t, Options{})
	tok := s.tokenOf("victim-session")
	s.allowed(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Sec-Fetch-Site": "same-origin", "Origin": s.origin(),
		"Cookie": "session=victim-session; __Host-rampart-csrf=" + tok, "X-CSRF-Token": tok,
	}))
	// A second cookie of the name (tossed by a sibling when the name
	// lacks __Host-) does not deny the session's own.
	s.allowed(t, s.send(t, "PUT", "/api/transfer", map[string]string{
		"Cookie": "session=victim-session; __Host-rampart-csrf=planted; __Host-rampart-csrf=" + tok, "X-CSRF-Token": tok,
	}))
	// Outside TokenPrefixes the origin check alone applies.
	s.allowed(t, s.send(t, "POST", "/form", map[string]string{"Cookie": "session=victim-session", "Origin": s.origin()}))
}

// The browser the origin check cannot judge (no Origin, no Fetch
// Metadata) is held by the token on routes that require it.
func TestOldBrowserNeedsTheTokenUnderTokenPrefixes(t *testing.T) {
	s := tokenSite(t, Options{})
	s.refused(t, s.send(t, "POST", "/api/transfer", map[string]string{"Cookie": "session=victim-session"}), TokenMissing)
	tok := s.tokenOf("victim-session")
	s.allowed(t, s.send(t, "POST", "/api/transfer", map[string]string{
		"Cookie": "session=victim-session; __Host-rampart-csrf=" + tok, "X-CSRF-Token": tok,
	}))
}

// A request without a session has no token to show and nothing for a
// forgery to act as: no token check (an access rule refuses it where a
// session is needed). The origin check still applies to it.
func TestNoSessionNoTokenCheck(t *testing.T) {
	s := tokenSite(t, Options{})
	s.allowed(t, s.send(t, "POST", "/api/login", nil))
	s.refused(t, s.send(t, "POST", "/api/login", map[string]string{"Sec-Fetch-Site": "cross-site"}), CrossSite)
}

// A path without a canonical form takes the safe choice: no bypass, and
// the token required.
func TestAmbiguousPathNeedsTheToken(t *testing.T) {
	s := tokenSite(t, Options{InsecureBypassPrefixes: []string{"/hooks/"}})
	s.refused(t, s.send(t, "POST", "/hooks/x;y", map[string]string{"Cookie": "session=victim-session"}), TokenMissing)
}

// The most specific prefix governs a path: a bypass inside a token area,
// and a token area inside a bypass.
func TestMostSpecificPrefixWins(t *testing.T) {
	s := tokenSite(t, Options{InsecureBypassPrefixes: []string{"/api/saml/acs", "/partner/"}, TokenPrefixes: []string{"/partner/strict"}})
	s.allowed(t, s.send(t, "POST", "/api/saml/acs", map[string]string{"Sec-Fetch-Site": "cross-site", "Cookie": "session=victim-session"}))
	s.allowed(t, s.send(t, "POST", "/partner/x", map[string]string{"Sec-Fetch-Site": "cross-site", "Cookie": "session=victim-session"}))
	s.refused(t, s.send(t, "POST", "/partner/strict/x", map[string]string{"Sec-Fetch-Site": "cross-site", "Cookie": "session=victim-session"}), CrossSite)
}

// Safe methods are never checked, whatever they carry: refusing a
// cross-site GET would break every link to the site. (What this means for
// applications that change state on GET is in the package documentation.)
func TestGETNeverChecked(t *testing.T) {
	s := tokenSite(t, Options{})
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		s.allowed(t, s.send(t, m, "/api/transfer", map[string]string{
			"Sec-Fetch-Site": "cross-site", "Origin": "null", "Cookie": "session=victim-session", "X-CSRF-Token": "forged",
		}))
	}
	if len(s.log.events(t)) != 0 {
		t.Errorf("events for safe methods: %s", s.log.String())
	}
}

func TestTrustedOriginAllowed(t *testing.T) {
	s := newSite(t, Options{TrustedOrigins: []string{"https://app.example.com", "https://uploads.example.com"}})
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example.com"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://uploads.example.com"},
		{"Origin": "https://app.example.com"},
	} {
		s.allowed(t, s.send(t, "POST", "/transfer", h))
	}
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://APP.example.com"}), CrossSite)
	s.refused(t, s.send(t, "POST", "/transfer", map[string]string{"Origin": "https://app.example.com.attacker.example"}), UntrustedOrigin)
	// Trusting this host's own http origin lifts the scheme rule for it.
	p, _ := New(Options{TrustedOrigins: []string{"http://app.example.com"}})
	r := httptest.NewRequest("POST", "https://app.example.com/transfer", nil)
	r.Header.Set("Origin", "http://app.example.com")
	if err := p.Check(r); err != nil {
		t.Errorf("trusted http origin of this host: %v", err)
	}
	p, _ = New(Options{})
	if err := p.Check(r); ReasonOf(err) != OriginScheme {
		t.Errorf("untrusted http origin of this host: %v", err)
	}
}

// The Origin is compared with the Host the client used, as it reached
// this handler: neither the Host a reverse proxy behind it rewrites for
// the upstream, nor an X-Forwarded-Host the client sends.
func TestAttack_OriginComparedToClientHostNotUpstreamOrForwardedHost(t *testing.T) {
	var upstreamHits int
	var mu sync.Mutex
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamHits++
		mu.Unlock()
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	s := newSite(t, Options{})
	front := httptest.NewTLSServer(s.p.Handler(proxy))
	defer front.Close()

	post := func(h map[string]string) int {
		req, _ := http.NewRequest("POST", front.URL+"/transfer", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post(map[string]string{"Origin": front.URL}); c != 200 {
		t.Fatalf("same origin through the proxy: %d", c)
	}
	// The upstream's own origin is not the one the client used.
	if c := post(map[string]string{"Origin": "https://" + target.Host}); c != 403 {
		t.Errorf("Origin of the upstream host: %d, want 403", c)
	}
	if c := post(map[string]string{"Origin": upstream.URL}); c != 403 {
		t.Errorf("Origin of the upstream URL: %d, want 403", c)
	}
	// A client-sent X-Forwarded-Host does not move the comparison.
	if c := post(map[string]string{"Origin": "https://attacker.example", "X-Forwarded-Host": "attacker.example"}); c != 403 {
		t.Errorf("X-Forwarded-Host spoof: %d, want 403", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if upstreamHits != 1 {
		t.Errorf("upstream reached %d times, want once", upstreamHits)
	}
}

// The event names the reason and the origin, never a token or a cookie
// value, and a flood from one client is one event per interval.
func TestEventSampledPerClientWithoutTokens(t *testing.T) {
	var buf lockedBuffer
	p, err := New(Options{TokenPrefixes: []string{"/api/"}, Secret: secret, SessionID: sidFromHeader,
		Log: seclog.New(slog.New(slog.NewJSONHandler(&buf, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("reached") }))
	victim := p.TokenFor("victim")
	forged := p.TokenFor("attacker")
	for i, addr := range []string{"192.0.2.1:1000", "192.0.2.1:1001", "192.0.2.1:1002", "[2001:db8::1]:1", "[2001:db8::2]:1"} {
		r := httptest.NewRequest("POST", "https://app.example.com/api/x", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Test-Session", "victim")
		r.Header.Set("X-CSRF-Token", forged)
		r.Header.Set("Cookie", "__Host-rampart-csrf="+victim)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 403 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		if strings.Contains(rec.Body.String(), forged) || strings.Contains(rec.Body.String(), victim) {
			t.Errorf("the 403 page shows a token")
		}
	}
	ev := buf.events(t)
	// One client 192.0.2.1 (three requests), one client 2001:db8::/64.
	if len(ev) != 2 {
		t.Fatalf("%d events, want one per client: %s", len(ev), buf.String())
	}
	for _, e := range ev {
		if e["event.action"] != "malicious_csrf" || e["reason"] != "token_invalid" {
			t.Errorf("event %v", e)
		}
	}
	if s := buf.String(); strings.Contains(s, forged) || strings.Contains(s, victim) {
		t.Errorf("a token value is in the security log: %s", s)
	}
}
