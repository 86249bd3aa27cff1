package securitytxt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/safe"
)

// MaxParseBytes is how much of a file Parse reads; the rest is reported
// as a problem and ignored. Real files are a few hundred bytes.
const MaxParseBytes = 32 << 10

// maxProblems bounds the problems Parse reports.
const maxProblems = 20

// Field is one field of a parsed file.
type Field struct {
	// Name is the field name as written (names are case-insensitive).
	Name string
	// Value is the value, without surrounding white space.
	Value string
	// Line is the 1-based line number.
	Line int
}

// Parsed is a security.txt file as Parse read it. Values are as the file
// holds them: untrusted text, to be cleaned before display.
type Parsed struct {
	Fields []Field
	// Signed is set when the file is an OpenPGP cleartext-signed message;
	// the signature is not verified.
	Signed bool
	// Problems are lines that are neither fields, comments nor blank,
	// and content beyond MaxParseBytes (at most 20, then a count).
	Problems []string
}

// Values returns the values of the fields called name (any case), in
// order.
func (p *Parsed) Values(name string) []string {
	var out []string
	for _, f := range p.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// ErrNoExpires and ErrManyExpires are Expires' errors for a file without
// the field, and with more than one (RFC 9116 allows exactly one).
var (
	ErrNoExpires   = errors.New("no Expires field")
	ErrManyExpires = errors.New("more than one Expires field")
)

// Expires returns the file's expiry: its one Expires field, an RFC 3339
// date-time ("2027-01-31T23:59:59Z").
func (p *Parsed) Expires() (time.Time, error) {
	vs := p.Values("Expires")
	switch len(vs) {
	case 0:
		return time.Time{}, ErrNoExpires
	case 1:
	default:
		return time.Time{}, ErrManyExpires
	}
	t, err := time.Parse(time.RFC3339, vs[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("Expires is not an RFC 3339 date-time such as 2027-01-31T23:59:59Z")
	}
	return t, nil
}

const (
	pgpBegin     = "-----BEGIN PGP SIGNED MESSAGE-----"
	pgpSignature = "-----BEGIN PGP SIGNATURE-----"
)

// Parse reads a security.txt file (RFC 9116 section 4): fields "Name:
// value", one a line, comments from "#", blank lines; CRLF or LF line
// ends. An OpenPGP cleartext signature's armor is removed and its
// dash-escaping undone. It never fails: what it cannot read is in
// Problems.
func Parse(data []byte) *Parsed {
	p := &Parsed{}
	problems := 0
	problem := func(format string, args ...any) {
		if problems < maxProblems {
			p.Problems = append(p.Problems, fmt.Sprintf(format, args...))
		}
		problems++
	}
	if len(data) > MaxParseBytes {
		problem("the file is longer than %d bytes; the rest was not read", MaxParseBytes)
		data = data[:MaxParseBytes]
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM
	lines := strings.Split(string(data), "\n")
	state := 0 // 0 plain or before the armor, 1 armor headers, 2 signed content
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(line) {
			problem("line %d: not UTF-8", n)
			continue
		}
		switch {
		case state == 0 && line == pgpBegin && len(p.Fields) == 0:
			p.Signed, state = true, 1
			continue
		case state == 1:
			if strings.TrimSpace(line) == "" {
				state = 2
			}
			continue
		case state == 2 && line == pgpSignature:
			if problems > maxProblems {
				p.Problems = append(p.Problems, fmt.Sprintf("%d more problems", problems-maxProblems))
			}
			return p
		case state == 2 && strings.HasPrefix(line, "- "):
			line = line[2:]
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, value, ok := strings.Cut(t, ":")
		if !ok || len(name) > 64 || !safe.Token(name) {
			problem("line %d: not a field (Name: value) or a comment", n)
			continue
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			problem("line %d: %s holds a control character", n, name)
			continue
		}
		p.Fields = append(p.Fields, Field{Name: name, Value: strings.TrimSpace(value), Line: n})
	}
	if p.Signed {
		problem("the signed message has no signature block")
	}
	if problems > maxProblems {
		p.Problems = append(p.Problems, fmt.Sprintf("%d more problems", problems-maxProblems))
	}
	return p
}
