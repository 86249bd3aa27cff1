package securitytxt

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	in := "\xef\xbb\xbf# comment\r\n\r\ncontact: mailto:a@example.com\r\nCONTACT:https://example.com/r  \r\nExpires: 2027-01-31T23:59:59Z\r\nnot a field\r\nBad Name: x\r\n"
	p := Parse([]byte(in))
	if got := p.Values("Contact"); len(got) != 2 || got[0] != "mailto:a@example.com" || got[1] != "https://example.com/r" {
		t.Errorf("Contact = %q", got)
	}
	exp, err := p.Expires()
	if err != nil || !exp.Equal(time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("Expires = %v, %v", exp, err)
	}
	if len(p.Problems) != 2 || !strings.Contains(p.Problems[0], "line 6") || !strings.Contains(p.Problems[1], "line 7") {
		t.Errorf("problems = %q", p.Problems)
	}
	if p.Signed {
		t.Error("Signed")
	}
}

func TestParse_Signed(t *testing.T) {
	in := `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

Contact: mailto:security@example.com
- Expires: 2027-01-31T23:59:59Z
-----BEGIN PGP SIGNATURE-----
Contact: mailto:forged@example.com
-----END PGP SIGNATURE-----
`
	p := Parse([]byte(in))
	if !p.Signed || len(p.Problems) != 0 {
		t.Errorf("signed %v, problems %q", p.Signed, p.Problems)
	}
	if got := p.Values("Contact"); len(got) != 1 || got[0] != "mailto:security@example.com" {
		t.Errorf("Contact = %q (the signature block is not content)", got)
	}
	if _, err := p.Expires(); err != nil {
		t.Errorf("dash-escaped Expires: %v", err)
	}
	if p := Parse([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: mailto:a@example.com\n")); len(p.Problems) != 1 {
		t.Errorf("unterminated signature: %q", p.Problems)
	}
}

func TestParse_Expires(t *testing.T) {
	for in, want := range map[string]string{
		"Contact: mailto:a@b.c\n": ErrNoExpires.Error(),
		"Expires: 2027-01-01T00:00:00Z\nExpires: 2028-01-01T00:00:00Z\n": ErrManyExpires.Error(),
		"Expires: Tue, 31 Jan 2027 23:59:59 GMT\n":                       "not an RFC 3339",
		"Expires: 2027-01-31T23:59:59+01:00\n":                           "",
	} {
		_, err := Parse([]byte(in)).Expires()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// Attack: a huge or garbage body is bounded, and problems are capped.
func TestParse_Bounded(t *testing.T) {
	p := Parse([]byte(strings.Repeat("garbage\n", 10000)))
	if len(p.Problems) != maxProblems+1 || !strings.Contains(p.Problems[0], "longer than") || !strings.Contains(p.Problems[len(p.Problems)-1], "more problems") {
		t.Errorf("%d problems: %q ... %q", len(p.Problems), p.Problems[0], p.Problems[len(p.Problems)-1])
	}
	p = Parse([]byte("Contact: mailto:a@b.c\x00\nContact: \xff\xfe\n"))
	if len(p.Fields) != 0 || len(p.Problems) != 2 {
		t.Errorf("fields %+v problems %q", p.Fields, p.Problems)
	}
}
