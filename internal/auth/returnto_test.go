package auth

import "testing"

// A login form's return parameter is the classic open redirect: every
// way a browser could read it as another origin is refused.
func TestAttack_OpenRedirectReturnPaths(t *testing.T) {
	for _, raw := range []string{
		"",
		"https://evil.example",
		"//evil.example",
		"//evil.example/path",
		"/\\evil.example",
		"\\/evil.example",
		"/%2F%2Fevil.example",
		"/%2f/evil.example",
		"/%5Cevil.example",
		"/%5cevil.example",
		"/\t/evil.example",
		"/\n/evil.example",
		"/\r/evil.example",
		"/ /evil.example",
		"https:evil.example",
		"javascript:alert(1)",
		"/%09/evil.example",
		"/%252F%252Fevil.example",
		"/..//evil.example",
		"/a/../..//evil.example",
		"/./evil",
		"/a/%2e%2e/b",
		"evil.example",
		"@evil.example",
		"/\x00",
		"/\x7f",
		string(make([]byte, maxReturnLen+1)),
	} {
		if got, ok := ReturnPath(raw); ok {
			t.Errorf("ReturnPath(%q) = %q, accepted", raw, got)
		}
	}
}

func TestReturnPath_LocalPathsKept(t *testing.T) {
	for raw, want := range map[string]string{
		"/":                 "/",
		"/app":              "/app",
		"/app/x?y=1&z=%2F2": "/app/x?y=1&z=%2F2",
		"/app#fragment":     "/app",
		"/caf%C3%A9":        "/caf%C3%A9",
		"/a?next=//evil":    "/a?next=//evil",
	} {
		got, ok := ReturnPath(raw)
		if !ok || got != want {
			t.Errorf("ReturnPath(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}

func FuzzReturnPath(f *testing.F) {
	for _, s := range []string{"/", "/app?x=1", "//evil", "/\\evil", "/%2F%2Fevil", "/a/../b", "https://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := ReturnPath(raw)
		if !ok {
			return
		}
		// Whatever was accepted is a path on this origin, whatever a
		// browser makes of it: one leading slash, no backslash, no
		// control character, no scheme.
		if len(got) == 0 || got[0] != '/' || len(got) > 1 && (got[1] == '/' || got[1] == '\\') {
			t.Fatalf("ReturnPath(%q) = %q leaves the origin", raw, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x21 || c == 0x7f || c == '\\' {
				t.Fatalf("ReturnPath(%q) = %q holds %q", raw, got, c)
			}
		}
		if again, ok := ReturnPath(got); !ok || again != got {
			t.Fatalf("ReturnPath is not stable: %q → %q → %q, %v", raw, got, again, ok)
		}
	})
}
