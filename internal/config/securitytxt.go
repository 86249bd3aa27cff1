package config

import (
	"errors"
	"os"
	"time"

	"github.com/rampart-dev/rampart/securitytxt"
)

// SecurityTxt is the `security_txt:` section: the security.txt file (RFC
// 9116) served at /.well-known/security.txt (securitytxt.Options, the
// plan's SecurityTxt). Absent, none is served and requests for it reach
// the application.
type SecurityTxt struct {
	// Contact are mailto:, https: or tel: URIs. Required.
	Contact []string `yaml:"contact" plan:"SecurityTxt.Contact"`
	// Expires is an RFC 3339 date-time (2027-01-31T23:59:59Z), in the
	// future; more than a year ahead is reported. Required.
	Expires string `yaml:"expires" plan:"SecurityTxt.Expires"`
	// Encryption are https:, dns: or openpgp4fpr: URIs of the key.
	Encryption      []string `yaml:"encryption" plan:"SecurityTxt.Encryption"`
	Acknowledgments []string `yaml:"acknowledgments" plan:"SecurityTxt.Acknowledgments"`
	// PreferredLanguages are language tags (en, pt-BR).
	PreferredLanguages []string `yaml:"preferred_languages" plan:"SecurityTxt.PreferredLanguages"`
	Canonical          []string `yaml:"canonical" plan:"SecurityTxt.Canonical"`
	Policy             []string `yaml:"policy" plan:"SecurityTxt.Policy"`
	Hiring             []string `yaml:"hiring" plan:"SecurityTxt.Hiring"`
	// SignedFile is a whole file signed with gpg --clear-sign, served as
	// it is instead of one built from the keys above (which are then not
	// given). Read again at each reload.
	SignedFile string `yaml:"signed_file" plan:"SecurityTxt.Signed"`
}

func (l *loader) compileSecurityTxt(f *File, p *Plan) {
	s := f.SecurityTxt
	if s == nil {
		return
	}
	o := securitytxt.Options{
		Contact: s.Contact, Encryption: s.Encryption, Acknowledgments: s.Acknowledgments,
		PreferredLanguages: s.PreferredLanguages, Canonical: s.Canonical, Policy: s.Policy, Hiring: s.Hiring,
	}
	if s.SignedFile != "" {
		data, err := os.ReadFile(s.SignedFile)
		if err != nil {
			l.errorf("security_txt.signed_file", "give the path of the file gpg --clear-sign wrote", "cannot read %q: %v", s.SignedFile, errors.Unwrap(err))
			return
		}
		o.Signed = data
	}
	errs := o.Validate()
	if s.Expires != "" {
		t, err := time.Parse(time.RFC3339, s.Expires)
		if err != nil {
			l.errorf("security_txt.expires", "write a date-time with its zone, e.g. "+time.Now().AddDate(0, 6, 0).UTC().Format("2006-01-02T15:04:05Z"),
				"%q is not an RFC 3339 date-time", s.Expires)
			errs = withoutPaths(errs, "Expires")
		} else {
			o.Expires = t
			errs = o.Validate()
		}
	}
	l.fieldFindings("SecurityTxt", errs)
	p.SecurityTxt, p.SecurityTxtEnabled = o, true
}
