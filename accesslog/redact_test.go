package accesslog

import (
	"strings"
	"testing"
)

func TestRedactQuery(t *testing.T) {
	keep := []string{"page", "lang", "a b"}
	cases := []struct{ name, in, want string }{
		{"Empty", "", ""},
		{"ValuesRedacted", "q=hello&token=abc", "q=REDACTED&token=REDACTED"},
		{"KeptValue", "page=2&q=x", "page=2&q=REDACTED"},
		{"EncodedKeptName", "p%61ge=3", "p%61ge=3"},
		{"PlusInKeptName", "a+b=1", "a+b=1"},
		{"BadEscapeNeverKept", "page%zz=1", "page%zz=REDACTED"},
		{"BareTokenRedacted", "s3cr3tt0ken", "REDACTED"},
		{"BareKeptName", "lang", "lang"},
		{"EmptyValue", "q=", "q=REDACTED"},
		{"EmptyPairsKept", "a=1&&b=2&", "a=REDACTED&&b=REDACTED&"},
		{"SemicolonSmugglingIntoKeptValue", "page=1;token=secret", "page=1;token=REDACTED"},
		{"EqualsInValue", "q=a=b", "q=REDACTED"},
		{"CaseSensitive", "PAGE=2", "PAGE=REDACTED"},
		{"RepeatedKeptName", "page=1&page=2", "page=1&page=2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RedactQuery(c.in, keep); got != c.want {
				t.Errorf("RedactQuery(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestRedactQuery_TooManyPairsBounded(t *testing.T) {
	in := strings.Repeat("a=1&", 1000)
	got := RedactQuery(in, nil)
	if strings.Count(got, "REDACTED") != maxQueryPairs || !strings.HasSuffix(got, "…") {
		t.Fatalf("got %d pairs, %q...", strings.Count(got, "REDACTED"), got[len(got)-20:])
	}
}

func TestRedactURL(t *testing.T) {
	keep := []string{"next"}
	cases := []struct{ name, in, want string }{
		{"Plain", "https://example.com/a/b", "https://example.com/a/b"},
		{"QueryRedacted", "https://example.com/?token=abc&next=/home", "https://example.com/?token=REDACTED&next=/home"},
		{"UserinfoDropped", "https://user:pass@example.com/x", "https://example.com/x"},
		{"UserinfoWithAtInPassword", "https://u:p@ss@example.com/", "https://example.com/"},
		{"AtInPathKept", "https://example.com/@alice", "https://example.com/@alice"},
		{"FragmentDropped", "https://example.com/#access_token=abc", "https://example.com/"},
		{"FragmentBeforeQueryLikeText", "https://e.com/p#x?token=1", "https://e.com/p"},
		{"NotAURL", "garbage?token=1", "garbage?token=REDACTED"},
		{"UserinfoNoPath", "http://a:b@host", "http://host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RedactURL(c.in, keep); got != c.want {
				t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// FuzzRedactQuery checks that no value of a parameter outside the keep
// list survives redaction, whatever the query looks like.
func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "keep=1;tok=2", "x", "%zz=1", "keep=a=b&&", "k%65ep=v", strings.Repeat("a=1&", 70)} {
		f.Add(s)
	}
	keep := []string{"keep"}
	f.Fuzz(func(t *testing.T, q string) {
		got := RedactQuery(q, keep)
		if strings.HasSuffix(got, "…") {
			got = strings.TrimSuffix(got, "…")
		}
		for _, elem := range strings.FieldsFunc(got, func(r rune) bool { return r == '&' || r == ';' }) {
			name, value, ok := strings.Cut(elem, "=")
			if kept(name, keep) {
				continue
			}
			if ok && value != Redacted || !ok && name != Redacted {
				t.Fatalf("RedactQuery(%q) = %q: element %q not redacted", q, got, elem)
			}
		}
	})
}
