package proxy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestHeaderSet(t *testing.T) {
	s := newHeaderSet([]string{"X-Remote-User", "X-Real-IP", "$wsep"})
	for _, k := range []string{"X-Remote-User", "x-remote-user", "X_Remote_User", "x_REMOTE-user", "X-Real-Ip", "X-REAL-IP", "$wsep", "$WSEP"} {
		if !s.has(k) {
			t.Errorf("%q not matched", k)
		}
	}
	for _, k := range []string{"X-Remote-Users", "Remote-User", "X-Remote", "", "X-Real-Ip2"} {
		if s.has(k) {
			t.Errorf("%q matched", k)
		}
	}
}

// FuzzHeaderSet: every spelling of a header name maps to the same
// decision, whether the fast path or the normalizing path decides.
func FuzzHeaderSet(f *testing.F) {
	f.Add("X-Remote-User")
	f.Add("x_remote_user")
	f.Add("X-REAL-ip")
	f.Add("Ab-Cd")
	f.Add("$wsep")
	s := newHeaderSet(DefaultStripRequestHeaders)
	f.Fuzz(func(t *testing.T, k string) {
		got := s.has(k)
		_, want := s[normalizeHeaderName(k)]
		if got != want {
			t.Errorf("has(%q) = %v, normalized lookup %v", k, got, want)
		}
		if isCanonicalSimple(k) && normalizeHeaderName(k) != k {
			t.Errorf("isCanonicalSimple(%q) but normalizes to %q", k, normalizeHeaderName(k))
		}
		if validHeaderName(k) && s.has(strings.ToLower(k)) != s.has(strings.ToUpper(k)) {
			t.Errorf("case changes the decision for %q", k)
		}
	})
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
		if j == len(v) || !validHeaderName(name) {
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
			if !validHeaderName(v[i:j]) {
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
