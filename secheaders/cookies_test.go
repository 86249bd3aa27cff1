package secheaders

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestCookies_DefaultHardening(t *testing.T) {
	m := mustNew(t, Policy{})
	for _, tc := range []struct {
		in, tlsOut, plainOut string
	}{
		{"session=abc; Path=/", "session=abc; Path=/; Secure; HttpOnly; SameSite=Lax", "session=abc; Path=/; HttpOnly; SameSite=Lax"},
		{"csrf_token=t; Path=/", "csrf_token=t; Path=/; Secure; SameSite=Lax", "csrf_token=t; Path=/; SameSite=Lax"},
		{"access_token_cookie=j; HttpOnly", "access_token_cookie=j; HttpOnly; Secure; SameSite=Lax", "access_token_cookie=j; HttpOnly; SameSite=Lax"},
		{"theme=dark", "theme=dark; Secure; SameSite=Lax", "theme=dark; SameSite=Lax"},
		// Attributes already present, in any case and spelling, are never added twice.
		{"sid=1; secure; httponly; samesite=strict", "sid=1; secure; httponly; samesite=strict", "sid=1; secure; httponly; samesite=strict"},
		// A deliberate SameSite=None (cross-site widget) is kept.
		{"widget=1; SameSite=None; Secure", "widget=1; SameSite=None; Secure", "widget=1; SameSite=None; Secure"},
		// No '=': browsers store a cookie with an empty name and this value.
		{"garbage", "garbage; Secure; SameSite=Lax", "garbage; SameSite=Lax"},
		{"=tok; Path=/", "=tok; Path=/; Secure; SameSite=Lax", "=tok; Path=/; SameSite=Lax"},
		{"; Path=/", "; Path=/", "; Path=/"},
	} {
		for _, secure := range []bool{true, false} {
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Set-Cookie", tc.in)
			}))
			req := httptest.NewRequest("GET", "/", nil)
			want := tc.plainOut
			if secure {
				req.TLS = &tls.ConnectionState{}
				want = tc.tlsOut
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Values("Set-Cookie"); !slices.Equal(got, []string{want}) {
				t.Errorf("tls=%v %q -> %q, want %q", secure, tc.in, got, want)
			}
		}
	}
}

func TestCookies_ConfiguredRulesAndOff(t *testing.T) {
	m := mustNew(t, Policy{Cookies: []CookieRule{
		{Name: "app_*", HttpOnly: true, SameSite: "strict"},
		{Name: "*", SameSite: Off, InsecureNoSecure: true},
	}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "App_Sess=1")
		w.Header().Add("Set-Cookie", "other=2")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	want := []string{"App_Sess=1; Secure; HttpOnly; SameSite=Strict", "other=2"}
	if got := rec.Header().Values("Set-Cookie"); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	m = mustNew(t, Policy{InsecureNoCookieHardening: true})
	if m.cookies != nil {
		t.Error("hardening not off")
	}
}

// TestDefaultCookieRules_AnImporterCannotWeakenThem: the defaults are
// returned fresh, so code that edits what it got (dropping HttpOnly from
// the session rule, or every rule) changes nothing for the middleware
// built afterwards, or anywhere else in the process.
func TestDefaultCookieRules_AnImporterCannotWeakenThem(t *testing.T) {
	rules := DefaultCookieRules()
	for i := range rules {
		rules[i].HttpOnly = false
		rules[i].InsecureNoSecure = true
		rules[i].SameSite = "none"
	}
	if got := DefaultCookieRules(); got[2].Name != "*session*" || !got[2].HttpOnly || got[2].InsecureNoSecure || got[2].SameSite != "" {
		t.Fatalf("the defaults changed under their caller: %+v", got[2])
	}
	m := mustNew(t, Policy{})
	h := http.Header{"Set-Cookie": {"session=abc"}}
	m.apply(h, m.base, true, "")
	if got := h.Get("Set-Cookie"); got != "session=abc; Secure; HttpOnly; SameSite=Lax" {
		t.Errorf("session cookie = %q after an importer edited the defaults", got)
	}
}
