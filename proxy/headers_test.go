package proxy

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/safe"
)

func TestHeaderSet(t *testing.T) {
	s := newHeaderSet([]string{"X-Remote-User", "X-Real-IP", "$wsep", "X-SSL-Client-*", "X-Ms-Client-Principal*"})
	for _, k := range []string{"X-Remote-User", "x-remote-user", "X_Remote_User", "x_REMOTE-user", "X-Real-Ip", "X-REAL-IP", "$wsep", "$WSEP",
		"X-Ssl-Client-Cert", "x-ssl-client-s-dn", "X_SSL_CLIENT_VERIFY", "X-Ssl-Client-", "X-Ms-Client-Principal", "X-Ms-Client-Principal-Name", "x_ms_client_principalid"} {
		if !s.has(k) {
			t.Errorf("%q not matched", k)
		}
	}
	for _, k := range []string{"X-Remote-Users", "Remote-User", "X-Remote", "", "X-Real-Ip2", "X-Ssl-Client", "X-Ssl-Clientcert", "X-Ssl-Cert", "X-Ms-Client", "Y-Ssl-Client-Cert"} {
		if s.has(k) {
			t.Errorf("%q matched", k)
		}
	}
}

// FuzzHeaderSet: every spelling of a header name maps to the same
// decision, whether the fast path, the normalizing path or the prefix
// scan decides.
func FuzzHeaderSet(f *testing.F) {
	f.Add("X-Remote-User")
	f.Add("x_remote_user")
	f.Add("X-REAL-ip")
	f.Add("Ab-Cd")
	f.Add("$wsep")
	f.Add("x_ssl_client_s_dn")
	f.Add("X-Amzn-Oidc-Data")
	s := newHeaderSet(DefaultStripRequestHeaders())
	f.Fuzz(func(t *testing.T, k string) {
		got := s.has(k)
		n := normalizeHeaderName(k)
		_, want := s.names[n]
		for _, p := range s.prefixes {
			if strings.HasPrefix(asciiLower(strings.ReplaceAll(k, "_", "-")), p) {
				want = true
			}
		}
		if got != want {
			t.Errorf("has(%q) = %v, normalized lookup %v", k, got, want)
		}
		if isCanonicalSimple(k) && n != k {
			t.Errorf("isCanonicalSimple(%q) but normalizes to %q", k, n)
		}
		if safe.Token(k) && s.has(strings.ToLower(k)) != s.has(strings.ToUpper(k)) {
			t.Errorf("case changes the decision for %q", k)
		}
		if safe.Token(k) && s.has(k) != s.has(strings.ReplaceAll(k, "-", "_")) {
			t.Errorf("'_' for '-' changes the decision for %q", k)
		}
	})
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestForwardedValue(t *testing.T) {
	tests := []struct {
		client, host, proto, want string
	}{
		{"192.0.2.1", "app.example", "https", "for=192.0.2.1;host=app.example;proto=https"},
		{"2001:db8::1", "app.example:8443", "http", `for="[2001:db8::1]";host="app.example:8443";proto=http`},
		{"", "app.example", "http", "host=app.example;proto=http"},
		{"192.0.2.1", "", "http", "for=192.0.2.1;proto=http"},
		{"192.0.2.1", `a";for=1.2.3.4`, "http", `for=192.0.2.1;host="a\";for=1.2.3.4";proto=http`},
		{"192.0.2.1", "a\nb", "http", "for=192.0.2.1;proto=http"},
	}
	for _, tc := range tests {
		var a netip.Addr
		if tc.client != "" {
			a = netip.MustParseAddr(tc.client)
		}
		if got := forwardedValue(a, tc.host, tc.proto); got != tc.want {
			t.Errorf("forwardedValue(%s, %q) = %s, want %s", tc.client, tc.host, got, tc.want)
		}
	}
}

// FuzzForwardedValue_ParameterInjection: whatever the Host, the Forwarded
// value is one element with exactly the parameters rampart set, so a
// hostile Host cannot add a for= or proto= of its choosing.
func FuzzForwardedValue_ParameterInjection(f *testing.F) {
	f.Add("app.example", true)
	f.Add(`x";for=1.2.3.4;proto=https`, false)
	f.Add(`x\";for=evil,for=1.2.3.4`, true)
	f.Add("a b\tc", false)
	f.Fuzz(func(t *testing.T, host string, v6 bool) {
		client := netip.MustParseAddr("192.0.2.1")
		if v6 {
			client = netip.MustParseAddr("2001:db8::1")
		}
		v := forwardedValue(client, host, "https")
		params, ok := parseForwardedElement(v)
		if !ok {
			t.Fatalf("unparsable Forwarded %q", v)
		}
		wantFor := client.String()
		if v6 {
			wantFor = "[" + wantFor + "]"
		}
		if params["for"] != wantFor || params["proto"] != "https" {
			t.Fatalf("Forwarded %q parsed as %q", v, params)
		}
		if h, ok := params["host"]; ok && h != host {
			t.Fatalf("host %q round-tripped as %q in %q", host, h, v)
		}
		if len(params) > 3 {
			t.Fatalf("extra parameters in %q: %q", v, params)
		}
	})
}

// parseForwardedElement is a strict RFC 7239 parser for one element; it
// fails on a second element or a repeated parameter.
func parseForwardedElement(v string) (map[string]string, bool) {
	params := map[string]string{}
	i := 0
	for i < len(v) {
		j := i
		for j < len(v) && v[j] != '=' {
			j++
		}
		name := strings.ToLower(v[i:j])
		if j == len(v) || !safe.Token(name) {
			return nil, false
		}
		i = j + 1
		var val strings.Builder
		if i < len(v) && v[i] == '"' {
			i++
			for {
				if i >= len(v) {
					return nil, false
				}
				c := v[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					i++
					if i >= len(v) {
						return nil, false
					}
					c = v[i]
				}
				val.WriteByte(c)
				i++
			}
		} else {
			j = i
			for j < len(v) && v[j] != ';' && v[j] != ',' {
				j++
			}
			if !safe.Token(v[i:j]) {
				return nil, false
			}
			val.WriteString(v[i:j])
			i = j
		}
		if _, dup := params[name]; dup {
			return nil, false
		}
		params[name] = val.String()
		if i < len(v) {
			if v[i] != ';' {
				return nil, false // ',' would start a second element
			}
			i++
		}
	}
	return params, true
}

// browserRequestHeaders are the headers of a typical Chrome navigation,
// as net/http parses them (canonical keys).
var browserRequestHeaders = http.Header{
	"Accept":                    {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	"Accept-Encoding":           {"gzip, deflate, br, zstd"},
	"Accept-Language":           {"en-US,en;q=0.9"},
	"Cache-Control":             {"max-age=0"},
	"Cookie":                    {"session=abc"},
	"Sec-Ch-Ua":                 {`"Chromium";v="130"`},
	"Sec-Ch-Ua-Mobile":          {"?0"},
	"Sec-Ch-Ua-Platform":        {`"Linux"`},
	"Sec-Fetch-Dest":            {"document"},
	"Sec-Fetch-Mode":            {"navigate"},
	"Sec-Fetch-Site":            {"none"},
	"Sec-Fetch-User":            {"?1"},
	"Upgrade-Insecure-Requests": {"1"},
	"User-Agent":                {"Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0.0.0"},
	"X-Requested-With":          {"XMLHttpRequest"},
}

// BenchmarkHeaderSetRemoveFrom measures the strip list against a browser's
// request headers, none of which it removes: the cost every request pays.
func BenchmarkHeaderSetRemoveFrom(b *testing.B) {
	s := newHeaderSet(DefaultStripRequestHeaders())
	h := browserRequestHeaders.Clone()
	b.ReportAllocs()
	for b.Loop() {
		s.removeFrom(h)
	}
	if len(h) != len(browserRequestHeaders) {
		b.Fatalf("removed %d headers", len(browserRequestHeaders)-len(h))
	}
}

// The default lists cannot be weakened by an importer: each call returns
// a copy, and the proxy reads its own.
func TestDefaultListsAreNotShared(t *testing.T) {
	l := DefaultStripRequestHeaders()
	l[0] = "X-Harmless"
	if DefaultStripRequestHeaders()[0] == "X-Harmless" || defaultStripRequestHeaders[0] == "X-Harmless" {
		t.Fatal("the default strip list was changed through a returned slice")
	}
	r := DefaultRemoveResponseHeaders()
	r[0] = "X-Harmless"
	if defaultRemoveResponseHeaders[0] == "X-Harmless" {
		t.Fatal("the default remove list was changed through a returned slice")
	}
}
