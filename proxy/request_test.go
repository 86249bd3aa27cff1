package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// spoofed are forwarding, scheme and client-address headers a client might
// send to lie about where it is or how it connected.
var spoofed = map[string]string{
	"X-Forwarded-For":     "1.2.3.4, 10.0.0.1",
	"X-Real-Ip":           "1.2.3.4",
	"X-Forwarded-Proto":   "https",
	"X-Forwarded-Host":    "evil.example",
	"X-Forwarded-Port":    "443",
	"X-Forwarded-Prefix":  "/admin",
	"X-Forwarded-Ssl":     "on",
	"X-Forwarded-Scheme":  "https",
	"Front-End-Https":     "on",
	"X-Url-Scheme":        "https",
	"Forwarded":           "for=1.2.3.4;proto=https;host=evil.example",
	"X-Client-Ip":         "1.2.3.4",
	"True-Client-Ip":      "1.2.3.4",
	"Cf-Connecting-Ip":    "1.2.3.4",
	"X-Cluster-Client-Ip": "1.2.3.4",
	"X-Original-Url":      "/admin",
	"X-Rewrite-Url":       "/admin",
	"X-Request-Id":        "client-chosen-id",
}

// TestProxy_ForwardingHeaderSpoofing: a client claiming another address,
// scheme or host through forwarding headers is not believed; the upstream
// sees only what rampart observed.
func TestProxy_ForwardingHeaderSpoofing(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, withContext(p, "rid-1", netip.MustParseAddr("203.0.113.7")))

	req := newRequest(t, "GET", fe.URL+"/x", nil)
	req.Host = "app.example"
	for k, v := range spoofed {
		req.Header[k] = []string{v}
	}
	res, s := do(t, fe.Client(), req)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	want := map[string]string{
		"X-Forwarded-For":   "203.0.113.7",
		"X-Real-Ip":         "203.0.113.7",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "app.example",
		"X-Request-Id":      "rid-1",
	}
	for k := range spoofed {
		got := s.Header.Values(k)
		if w, ok := want[k]; ok {
			if len(got) != 1 || got[0] != w {
				t.Errorf("%s upstream = %q, want only %q", k, got, w)
			}
		} else if len(got) != 0 {
			t.Errorf("%s reached upstream: %q", k, got)
		}
	}
}

// TestProxy_ForwardedForSpoofing_NoResolver: used without the clientip
// resolver, the proxy forwards the TCP peer, not the client's chain.
func TestProxy_ForwardedForSpoofing_NoResolver(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, p)
	req := newRequest(t, "GET", fe.URL, nil)
	req.Header.Add("X-Forwarded-For", "1.2.3.4")
	req.Header.Add("X-Forwarded-For", "5.6.7.8")
	_, s := do(t, fe.Client(), req)
	if got := s.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For upstream = %q, want [127.0.0.1]", got)
	}
	if got := s.Header.Get("X-Request-Id"); got != "" {
		t.Errorf("X-Request-Id without a request id = %q, want none", got)
	}
}

// TestProxy_UnderscoreHeaderSmuggling: WSGI servers map X_Forwarded_For
// and X-Forwarded-For to the same HTTP_X_FORWARDED_FOR variable, so the
// underscore spelling of a stripped header must go too.
func TestProxy_UnderscoreHeaderSmuggling(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{StripRequestHeaders: []string{"X-Tenant"}})
	fe := front(t, p)
	req := newRequest(t, "GET", fe.URL, nil)
	names := []string{"X_Forwarded_For", "x_real_ip", "X_Remote_User", "X-Remote_User", "x_tenant", "X_FORWARDED_PROTO"}
	for _, n := range names {
		req.Header[n] = []string{"spoof"}
	}
	_, s := do(t, fe.Client(), req)
	for k, v := range s.Header {
		if v[0] == "spoof" || strings.Contains(strings.Join(v, ","), "spoof") {
			t.Errorf("%s: %q reached upstream", k, v)
		}
	}
}

// TestProxy_IdentityHeaderSpoofing: a client sending the identity headers
// an authentication proxy would set (X-Remote-User: admin) does not become
// admin upstream, whatever the case of the name, for built-in and
// configured names alike.
func TestProxy_IdentityHeaderSpoofing(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{StripRequestHeaders: []string{"x-tenant-id", "X-Role"}})
	fe := front(t, p)
	names := append([]string{"X-Tenant-Id", "X-Role"}, DefaultStripRequestHeaders()...)
	req := newRequest(t, "GET", fe.URL, nil)
	for _, n := range names {
		req.Header.Set(strings.ReplaceAll(n, "*", "-Anything"), "admin")
	}
	req.Header["x-auth-request-user"] = []string{"admin"} // sent lower-case on the wire
	req.Header.Set("X-Harmless", "kept")
	_, s := do(t, fe.Client(), req)
	for k, v := range s.Header {
		for _, x := range v {
			if x == "admin" {
				t.Errorf("identity header %s: %q reached upstream", k, x)
			}
		}
	}
	if s.Header.Get("X-Harmless") != "kept" {
		t.Error("an ordinary header was stripped")
	}
}

// TestProxy_ConnectionHeaderCannotStripForwardedHeaders: listing the
// proxy's own headers in Connection (the attack Director was open to)
// does not remove them from the upstream request.
func TestProxy_ConnectionHeaderCannotStripForwardedHeaders(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, withContext(p, "rid-2", netip.Addr{}))
	req := newRequest(t, "GET", fe.URL, nil)
	req.Header.Set("Connection", "X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host, X-Request-ID")
	_, s := do(t, fe.Client(), req)
	for _, k := range []string{"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id"} {
		if s.Header.Get(k) == "" {
			t.Errorf("%s was removed by the client's Connection header", k)
		}
	}
}

// TestProxy_HopByHopRequestHeaders: hop-by-hop headers, including those
// a client names in Connection, are not forwarded.
func TestProxy_HopByHopRequestHeaders(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, p)
	req := newRequest(t, "GET", fe.URL, nil)
	req.Header.Set("Connection", "keep-alive, X-Secret-Hop")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
	req.Header.Set("Proxy-Connection", "keep-alive")
	_, s := do(t, fe.Client(), req)
	for _, k := range []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection"} {
		if v := s.Header.Values(k); len(v) != 0 {
			t.Errorf("hop-by-hop %s reached upstream: %q", k, v)
		}
	}
	if c := s.Header.Get("Connection"); strings.Contains(strings.ToLower(c), "secret") {
		t.Errorf("Connection upstream = %q", c)
	}
}

// TestProxy_ForwardedProtoOverTLS: behind TLS the upstream is told https,
// so an application forcing HTTPS does not redirect in a loop.
func TestProxy_ForwardedProtoOverTLS(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{Forwarded: true})
	fe := newTLSFront(t, p)
	req := newRequest(t, "GET", fe.URL, nil)
	req.Header.Set("X-Forwarded-Proto", "http")
	_, s := do(t, fe.Client(), req)
	if got := s.Header.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want [https]", got)
	}
	if got := s.Header.Get("Forwarded"); !strings.HasSuffix(got, ";proto=https") || !strings.HasPrefix(got, "for=127.0.0.1;") {
		t.Errorf("Forwarded = %q", got)
	}
}

// TestProxy_ForwardedHeaderSpoofing: a client's Forwarded header is
// replaced by rampart's when enabled and dropped when not.
func TestProxy_ForwardedHeaderSpoofing(t *testing.T) {
	up := echoUpstream(t)
	for _, enabled := range []bool{false, true} {
		p, _, _ := testProxy(t, up.URL, Options{Forwarded: enabled})
		fe := front(t, withContext(p, "", netip.MustParseAddr("2001:db8::7")))
		req := newRequest(t, "GET", fe.URL, nil)
		req.Host = "app.example:8443"
		req.Header.Set("Forwarded", `for=1.2.3.4;proto=https, for="[::1]"`)
		_, s := do(t, fe.Client(), req)
		got := s.Header.Values("Forwarded")
		if !enabled {
			if len(got) != 0 {
				t.Errorf("disabled: Forwarded reached upstream: %q", got)
			}
			continue
		}
		want := `for="[2001:db8::7]";host="app.example:8443";proto=http`
		if len(got) != 1 || got[0] != want {
			t.Errorf("Forwarded = %q, want [%s]", got, want)
		}
	}
}

// TestProxy_PreservesHost: the client's Host reaches the application by
// default; SendUpstreamHost sends the upstream's.
func TestProxy_PreservesHost(t *testing.T) {
	up := echoUpstream(t)
	upHost := mustURL(t, up.URL).Host
	for _, tc := range []struct {
		send bool
		want string
	}{{false, "app.example"}, {true, upHost}} {
		p, _, _ := testProxy(t, up.URL, Options{SendUpstreamHost: tc.send})
		fe := front(t, p)
		req := newRequest(t, "GET", fe.URL, nil)
		req.Host = "app.example"
		_, s := do(t, fe.Client(), req)
		if s.Host != tc.want {
			t.Errorf("SendUpstreamHost=%v: Host upstream = %q, want %q", tc.send, s.Host, tc.want)
		}
		if got := s.Header.Get("X-Forwarded-Host"); got != "app.example" {
			t.Errorf("SendUpstreamHost=%v: X-Forwarded-Host = %q", tc.send, got)
		}
	}
}

// TestProxy_UpstreamPathAndQuery: a path in the upstream URL prefixes the
// request path, and its query is merged.
func TestProxy_UpstreamPathAndQuery(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL+"/app/?site=1", Options{})
	fe := front(t, p)
	_, s := do(t, fe.Client(), newRequest(t, "GET", fe.URL+"/users/7?x=2", nil))
	if s.Path != "/app/users/7" || s.Query != "site=1&x=2" {
		t.Errorf("upstream got path %q query %q", s.Path, s.Query)
	}
}

// TestProxy_UpstreamHeadersFromContext: identity headers set by a stage in
// front of the proxy reach the upstream, the client's do not, and the
// proxy's own forwarding headers cannot be overridden that way.
func TestProxy_UpstreamHeadersFromContext(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		h.Set("X-Auth-Request-User", "alice")
		h["x-forwarded-for"] = []string{"9.9.9.9"}
		h.Set("Transfer-Encoding", "chunked")
		p.ServeHTTP(w, r.WithContext(WithUpstreamHeaders(r.Context(), h)))
	})
	fe := front(t, auth)
	req := newRequest(t, "GET", fe.URL, nil)
	req.Header.Set("X-Auth-Request-User", "admin")
	res, s := do(t, fe.Client(), req)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := s.Header.Values("X-Auth-Request-User"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("X-Auth-Request-User = %q, want [alice]", got)
	}
	if got := s.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", got)
	}
	if v := s.Header.Values("X-Forwarded-For"); len(v) > 1 {
		t.Errorf("context added a second X-Forwarded-For: %q", v)
	}
}

// TestProxy_CONNECTRefused: CONNECT cannot be proxied and is answered
// 405, not reported as an upstream failure.
func TestProxy_CONNECTRefused(t *testing.T) {
	up := echoUpstream(t)
	p, errLog, _ := testProxy(t, up.URL, Options{})
	req := newRequest(t, "CONNECT", "http://app.example:443", nil)
	req = req.WithContext(context.Background())
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("CONNECT: status %d, want 405", rec.Code)
	}
	if strings.Contains(errLog.String(), "proxy request failed") {
		t.Error("CONNECT logged as an upstream failure")
	}
}

// TestProxy_CloudAndCertIdentityHeaderSpoofing: the identity, client
// certificate, original-path and client-address headers that cloud front
// ends and TLS-terminating proxies set (AWS ALB OIDC, Google IAP,
// Cloudflare Access, Azure Easy Auth, Envoy XFCC, nginx $ssl_client_*,
// auth_request's X-Original-URI) do not reach the application when a
// client sends them, in canonical, lower-case or underscore spelling
// (WSGI reads X_SSL_Client_Cert as HTTP_X_SSL_CLIENT_CERT too). Headers
// with similar names that no proxy owns are kept.
func TestProxy_CloudAndCertIdentityHeaderSpoofing(t *testing.T) {
	up := echoUpstream(t)
	p, _, _ := testProxy(t, up.URL, Options{})
	fe := front(t, p)
	spoofed := []string{
		"X-Forwarded-Client-Cert",
		"X-SSL-Client-Cert", "X-SSL-Client-Verify", "X-SSL-Client-S-DN", "X-SSL-Client-I-DN", "X-SSL-Client-Serial",
		"X-Amzn-Oidc-Data", "X-Amzn-Oidc-Identity", "X-Amzn-Oidc-Accesstoken",
		"X-Goog-Authenticated-User-Email", "X-Goog-Authenticated-User-Id",
		"Cf-Access-Authenticated-User-Email",
		"X-Ms-Client-Principal", "X-Ms-Client-Principal-Name", "X-Ms-Client-Principal-Id", "X-Ms-Client-Principal-Idp",
		"X-Auth-User",
		"X-Original-URI", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Uri", "X-Forwarded-Path", "X-Original-Method",
		"X-Appengine-User-Ip", "Akamai-Client-Ip", "Forwarded-For", "X-Forwarded",
		"X-Rampart-User", "X-Rampart-Roles", "X-Rampart-Assertion", "X-Rampart-Anything",
	}
	kept := []string{"X-Ssl-Cipher-Suite", "X-Amzn-Trace-Id", "X-Goog-Api-Key", "X-Original-Referrer",
		"X-Forwarded-Something-Else", "X-Auth-Users-Count", "X-Ms-Client-Version", "X-Forwardedness"}
	for _, spelling := range []struct {
		name string
		f    func(string) string
	}{
		{"canonical", http.CanonicalHeaderKey},
		{"lower-case", strings.ToLower},
		{"underscore", func(n string) string { return strings.ReplaceAll(n, "-", "_") }},
	} {
		t.Run(spelling.name, func(t *testing.T) {
			req := newRequest(t, "GET", fe.URL, nil)
			for _, n := range spoofed {
				req.Header[spelling.f(n)] = []string{"spoofed " + n}
			}
			for _, n := range kept {
				req.Header[spelling.f(n)] = []string{"kept"}
			}
			_, s := do(t, fe.Client(), req)
			for k, v := range s.Header {
				if strings.HasPrefix(strings.Join(v, ","), "spoofed ") {
					t.Errorf("%s: %q reached the application", k, v)
				}
			}
			for _, n := range kept {
				got := s.Header.Get(n)
				if v := s.Header[http.CanonicalHeaderKey(spelling.f(n))]; len(v) == 1 { // X_ssl_cipher_suite
					got = v[0]
				}
				if got != "kept" {
					t.Errorf("benign header %s was stripped", spelling.f(n))
				}
			}
		})
	}
}
