package safe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean_PlainASCIIUnchanged(t *testing.T) {
	if got := Clean("/api/x?y", 100); got != "/api/x?y" {
		t.Errorf("clean = %q", got)
	}
}

// TestClean_CutWithinBound: a value longer than max, once cleaned, is cut
// on a character boundary and ends with CutMark, all within max; one that
// fits once cleaned (a replacement is shorter than a multi-byte
// character) is not cut.
func TestClean_CutWithinBound(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abc…"},
		{"ééé", 6, "ééé"},
		{"éééé", 6, "é…"},
		{"ééé", 5, "é…"},
		{"\u202e\u202e\u202e", 3, "???"}, // 9 bytes in, 3 out: no cut
		{"\u202e\u202e\u202e\u202e", 3, "…"},
		{"日本語", 4, "…"},
		{"abc", 0, ""},
		{"abc", 2, "ab"}, // no room for the mark
		{"", 0, ""},
	} {
		got := Clean(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// TestClean_NoAllocation: the common cases, plain ASCII and text that
// needs no change, cost no allocation.
func TestClean_NoAllocation(t *testing.T) {
	for _, s := range []string{"/api/items?page=2", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0)", "café 日本"} {
		if n := testing.AllocsPerRun(100, func() { Clean(s, 512) }); n != 0 {
			t.Errorf("Clean(%q) allocates %v times", s, n)
		}
	}
}

// FuzzClean: for any value and bound, the result is valid UTF-8, within
// the bound, free of every character Clean removes, stable when cleaned
// again, and either the whole cleaned value or a prefix of it ending in
// CutMark.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "\u009b\u202e\u200b\u2028\x7f\x00", "\xc0\xaf\xed\xa0\x80\xff", "ééé", "a\ufffdb"} {
		f.Add(s, 5)
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := Clean(s, max)
		if !utf8.ValidString(got) || len(got) > max {
			t.Fatalf("Clean(%q, %d) = %q: invalid UTF-8 or over the bound", s, max, got)
		}
		for i, r := range got {
			if removed(r, utf8.RuneLen(r)) {
				t.Fatalf("Clean(%q, %d) = %q keeps %U at %d", s, max, got, r, i)
			}
		}
		if again := Clean(got, max); again != got {
			t.Fatalf("Clean not stable: %q then %q", got, again)
		}
		full := Clean(s, len(s)+len(CutMark))
		if got != full {
			cut := strings.TrimSuffix(got, CutMark)
			if !strings.HasPrefix(full, cut) || (max >= len(CutMark) && cut == got) {
				t.Fatalf("Clean(%q, %d) = %q is not a marked prefix of %q", s, max, got, full)
			}
		}
	})
}
