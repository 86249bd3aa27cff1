package safe

import "testing"

func TestToken(t *testing.T) {
	for s, want := range map[string]bool{
		"X-Request-ID": true, "x_forwarded_for": true, "!#$%&'*+-.^_`|~09az": true, "GET": true,
		"": false, "Bad Name": false, "X:Colon": false, "a\x00": false, "é": false, "a\tb": false, "(x)": false,
	} {
		if got := Token(s); got != want {
			t.Errorf("Token(%q) = %v", s, got)
		}
	}
}

func TestMethod(t *testing.T) {
	for s, want := range map[string]bool{"GET": true, "M-SEARCH": true, "post": false, "Get": false, "GET /x": false, "": false} {
		if got := Method(s); got != want {
			t.Errorf("Method(%q) = %v", s, got)
		}
	}
}

func TestLoopback(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "app.localhost": false, "127.0.0.1": true, "127.8.9.1": true,
		"::1": true, "[::1]": true, "::ffff:127.0.0.1": true,
		"localhost.example": false, "10.0.0.1": false, "0.0.0.0": false, "::": false, "fe80::1%lo": false,
		"": false, "example.com": false, "127.0.0.1.nip.io": false,
	} {
		if got := Loopback(h); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", h, got, want)
		}
	}
}

func FuzzToken(f *testing.F) {
	for _, s := range []string{"X-A", "a b", "", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !Token(s) {
			return
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c <= ' ' || c >= 0x7f || c == ':' || c == '"' || c == '(' || c == ')' || c == '/' || c == '\\' {
				t.Fatalf("Token(%q) accepts byte %q", s, c)
			}
		}
	})
}
