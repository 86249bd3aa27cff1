package main

import "testing"

// The demo banner's redirect examples must use a name the redirect serves:
// it answers configured host names only, never a bare IP.
func TestDemoBanner_RedirectUsesAHostName(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:8080": "localhost:8080", ":80": "localhost:80"} {
		if got := redirectAddr(in); got != want {
			t.Errorf("redirectAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
