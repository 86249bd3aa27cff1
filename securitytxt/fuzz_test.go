package securitytxt

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/safe"
)

// Parse never panics, and what it returns as a field is one line of valid
// UTF-8 with a token name and a trimmed value.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Contact: mailto:a@example.com\nExpires: 2027-01-31T23:59:59Z\n"))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n- Contact: x\n-----BEGIN PGP SIGNATURE-----\n"))
	f.Add([]byte("\xef\xbb\xbf# c\r\nBad Name: x\r\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := Parse(data)
		if len(p.Problems) > maxProblems+2 {
			t.Fatalf("%d problems", len(p.Problems))
		}
		for _, fl := range p.Fields {
			if !safe.Token(fl.Name) || len(fl.Name) > 64 || !utf8.ValidString(fl.Value) || strings.TrimSpace(fl.Value) != fl.Value ||
				strings.ContainsAny(fl.Value, "\r\n\x00") || fl.Line < 1 {
				t.Fatalf("bad field %+v", fl)
			}
		}
		p.Expires()
	})
}

// Whatever New accepts renders one field per value: no value can add a
// line, so the file Parse reads back has exactly the fields configured.
func FuzzNew(f *testing.F) {
	f.Add("mailto:security@example.com", "https://example.com/policy", "en")
	f.Add("mailto:a@b.c\r\nContact: https://evil.example", "https://x\nExpires: 2099-01-01T00:00:00Z", "en\n")
	f.Add("tel:+1", "https://example.com/%0d%0a", "pt-BR")
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, contact, policy, lang string) {
		o := Options{Contact: []string{contact}, Policy: []string{policy}, PreferredLanguages: []string{lang}, Expires: now.Add(time.Hour)}
		file, err := newAt(o, func() time.Time { return now })
		if err != nil {
			return
		}
		p := Parse(file.Body())
		if len(p.Problems) > 0 {
			t.Fatalf("problems %q in\n%s", p.Problems, file.Body())
		}
		if got := p.Values("Contact"); len(got) != 1 || got[0] != contact {
			t.Fatalf("Contact %q from %q", got, contact)
		}
		if got := p.Values("Policy"); len(got) != 1 || got[0] != policy {
			t.Fatalf("Policy %q from %q", got, policy)
		}
		if len(p.Values("Expires")) != 1 || len(p.Fields) != 4 {
			t.Fatalf("fields %+v", p.Fields)
		}
	})
}

// Whatever signed file New accepts is served as it is and reads back with
// a Contact and one Expires in the future, and no problem.
func FuzzNewSigned(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nContact: mailto:a@example.com\nExpires: 2026-09-01T00:00:00Z\n-----BEGIN PGP SIGNATURE-----\n\nx\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte("Contact: mailto:a@example.com\nExpires: 2026-09-01T00:00:00Z\n"))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := newAt(Options{Signed: data}, func() time.Time { return now })
		if err != nil {
			return
		}
		p := Parse(file.Body())
		exp, err := p.Expires()
		if !bytes.Equal(file.Body(), data) || !p.Signed || len(p.Problems) != 0 || len(p.Values("Contact")) == 0 || err != nil || !exp.After(now) {
			t.Fatalf("accepted %q", data)
		}
	})
}
