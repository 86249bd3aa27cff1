package httphead

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	s := "host: a\r\nX-Pad: \t v \t\r\nset-COOKIE: 1\r\nSet-Cookie: 2\r\nX-Empty:\r\nPragma: no-cache\r\n\r\n"
	f, n, ok := Start(s)
	if !ok || n != 6 {
		t.Fatalf("Start: %d, %v", n, ok)
	}
	h := http.Header{}
	for {
		k, v, done, ok := f.Next()
		if !ok {
			t.Fatalf("a line not simple in %q", s)
		}
		if done {
			break
		}
		f.Add(h, k, v)
	}
	FixPragma(h)
	want := http.Header{"Host": {"a"}, "X-Pad": {"v"}, "Set-Cookie": {"1", "2"}, "X-Empty": {""},
		"Pragma": {"no-cache"}, "Cache-Control": {"no-cache"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %v, want %v", h, want)
	}
}

// Lines that are not simple are said to be so, never parsed otherwise.
func TestFields_NotSimple(t *testing.T) {
	for _, line := range []string{
		"NoColon", ": empty name", "Bad Name: v", "X-A : v", " X-Folded: v", "\tX-Folded: v",
		"X-Ctl: a\x01b", "X-Del: \x7f", "X-Utf8: \xc3\xa9", "X-Cr: a\rb", "X-Lf: a\nb",
		"X-" + strings.Repeat("k", 63) + ": v",
	} {
		f, _, ok := Start(line + "\r\n\r\n")
		if !ok {
			continue
		}
		if k, v, _, ok := f.Next(); ok {
			t.Errorf("%q: parsed as %q: %q", line, k, v)
		}
	}
	for _, s := range []string{"X: v\r\n", "X: v\n\n", "X: v\r\n\n", ""} {
		if _, _, ok := Start(s); ok {
			t.Errorf("Start(%q): not refused", s)
		}
	}
}
