// Package securitytxt serves a security.txt file (RFC 9116): how to report
// a vulnerability in the site, at /.well-known/security.txt.
//
// The file is built once, from Options, by New (or given whole and
// OpenPGP-signed, Options.Signed); Handler answers GET and HEAD for
// /.well-known/security.txt with it, as text/plain; charset=utf-8, and
// passes every other request to the next handler.
//
// Expiry. RFC 9116 requires an Expires field, and a file past it is stale:
// its contacts may no longer be read. New refuses Options whose Expires is
// past, and a File that expires while it is served answers 404 from then
// on (logging the expiry once as an error): a stale file is never served,
// and an operator who must renew it learns it from the log, and from
// `rampart check`, which reports a missing or expired file. An Expires
// more than a year ahead is valid but warned about: the RFC recommends
// less than a year, so that stale files do not linger.
//
// The legacy location /security.txt, which RFC 9116 allows as a redirect,
// is not served: requests for it reach the application unchanged, and
// clients that follow the RFC ask /.well-known/ first.
//
// Parse reads a security.txt file as RFC 9116 describes it, for auditing
// one served elsewhere.
package securitytxt

import (
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/httperr"
)

// Path is where the file is served.
const Path = "/.well-known/security.txt"

// MaxRecommendedLifetime is how far ahead RFC 9116 recommends Expires be
// at most; Validate warns beyond it.
const MaxRecommendedLifetime = 366 * 24 * time.Hour

// maxValue bounds each value: a URI or a language tag, never a document.
const maxValue = 2048

// Options are the fields of the file. Contact and Expires are required;
// every other field is optional. Each list gives one line per value, in
// order (Preferred-Languages, one line for all).
type Options struct {
	// Contact are the addresses to report vulnerabilities to, most
	// preferred first: mailto:, https: or tel: URIs. At least one.
	Contact []string
	// Expires is when the file stops being valid. Required, in the
	// future; RFC 9116 recommends less than a year ahead. It is written
	// in UTC, to the second.
	Expires time.Time
	// Encryption are where to find the key to encrypt reports with:
	// https:, dns: or openpgp4fpr: URIs (never the key itself).
	Encryption []string
	// Acknowledgments are https: pages thanking reporters.
	Acknowledgments []string
	// PreferredLanguages are language tags (RFC 5646) such as en or
	// pt-BR, in order of preference.
	PreferredLanguages []string
	// Canonical are the https: URLs where this file is published; a
	// reader fetching it elsewhere knows it is not authoritative there.
	Canonical []string
	// Policy are https: pages stating the disclosure policy.
	Policy []string
	// Hiring are https: pages of security jobs.
	Hiring []string

	// Signed, when not empty, is a whole security.txt file signed with
	// OpenPGP as RFC 9116 section 2.3 recommends (gpg --clear-sign), served
	// byte for byte instead of a file built from the fields above, which
	// must then all be empty: a signature covers the exact text, so
	// rampart cannot write it. It is checked as the fields would be (a
	// Contact and one Expires, in the future; no line that is not a field
	// or a comment; at most MaxParseBytes), and its Expires governs
	// serving as Options.Expires does. The signature itself is not
	// verified: readers check it with the key the file names
	// (Encryption, or the one they know).
	Signed []byte

	// Logger receives the expiry record of a running File. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// uriFields are the fields holding URIs, with the schemes each accepts.
func (o *Options) uriFields() []struct {
	name, path string
	values     []string
	schemes    []string
} {
	return []struct {
		name, path string
		values     []string
		schemes    []string
	}{
		{"Contact", "Contact", o.Contact, []string{"mailto", "https", "tel"}},
		{"Encryption", "Encryption", o.Encryption, []string{"https", "dns", "openpgp4fpr"}},
		{"Acknowledgments", "Acknowledgments", o.Acknowledgments, []string{"https"}},
		{"Canonical", "Canonical", o.Canonical, []string{"https"}},
		{"Policy", "Policy", o.Policy, []string{"https"}},
		{"Hiring", "Hiring", o.Hiring, []string{"https"}},
	}
}

var langTag = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)

// Validate reports what is wrong with o, as of now: a missing Contact or
// Expires, an Expires in the past (errors), an Expires more than
// MaxRecommendedLifetime ahead (a warning), a value that is not a URI of
// an accepted scheme, a language that is not a tag, or any value holding
// a control character (CR and LF would add fields of the sender's
// choosing to the file).
func (o Options) Validate() field.Errors {
	return o.validate(time.Now())
}

func (o Options) validate(now time.Time) field.Errors {
	if len(o.Signed) > 0 {
		return o.validateSigned(now)
	}
	var errs field.Errors
	if len(o.Contact) == 0 {
		errs.Errorf("Contact", "add a mailto:, https: or tel: address, e.g. mailto:security@example.com",
			"at least one contact is required (RFC 9116)")
	}
	for _, f := range o.uriFields() {
		for i, v := range f.values {
			if msg, hint := checkURI(v, f.schemes); msg != "" {
				errs.Errorf(field.Index(f.path, i), hint, "%s", msg)
			}
		}
	}
	for i, v := range o.PreferredLanguages {
		if len(v) > 35 || !langTag.MatchString(v) {
			errs.Errorf(field.Index("PreferredLanguages", i), "write a language tag such as en, fr or pt-BR",
				"is not a language tag (RFC 5646)")
		}
	}
	validateExpires(&errs, "Expires", o.Expires, now)
	return errs
}

// validateExpires checks an expiry: required, in the future, a warning
// beyond MaxRecommendedLifetime.
func validateExpires(errs *field.Errors, path string, expires, now time.Time) {
	switch {
	case expires.IsZero():
		errs.Errorf(path, "set a date less than a year ahead, e.g. "+now.AddDate(0, 6, 0).UTC().Format("2006-01-02T15:04:05Z"),
			"is required (RFC 9116): a security.txt file without an expiry may be trusted long after its contacts are gone")
	case !expires.After(now):
		errs.Errorf(path, "renew the file: set a new date less than a year ahead",
			"%s is past: a stale security.txt is not served", expires.UTC().Format(time.RFC3339))
	case expires.Sub(now) > MaxRecommendedLifetime:
		errs.Warnf(path, "set a date less than a year ahead, and renew the file when it comes",
			"%s is more than a year ahead: RFC 9116 recommends less, so that a forgotten file expires", expires.UTC().Format(time.RFC3339))
	}
}

// validateSigned checks Signed, and that no field is set beside it.
func (o Options) validateSigned(now time.Time) field.Errors {
	var errs field.Errors
	for _, f := range o.uriFields() {
		if len(f.values) > 0 {
			errs.Errorf(f.path, "write every field in the signed file, and remove it here", "is set beside a signed file, which is served as it is")
		}
	}
	if len(o.PreferredLanguages) > 0 {
		errs.Errorf("PreferredLanguages", "write every field in the signed file, and remove it here", "is set beside a signed file, which is served as it is")
	}
	if !o.Expires.IsZero() {
		errs.Errorf("Expires", "write Expires in the signed file, and remove it here", "is set beside a signed file, which is served as it is")
	}
	p := Parse(o.Signed)
	const sign = "sign the file with gpg --clear-sign (RFC 9116 section 2.3), or give the fields instead of a file"
	switch {
	case len(o.Signed) > MaxParseBytes:
		errs.Errorf("Signed", "keep it to its fields: real files are a few hundred bytes", "is longer than %d bytes", MaxParseBytes)
		return errs
	case !p.Signed:
		errs.Errorf("Signed", sign, "is not an OpenPGP cleartext-signed message")
		return errs
	case len(p.Problems) > 0:
		errs.Errorf("Signed", "fix the file and sign it again", "%s", strings.Join(p.Problems, "; "))
	}
	contacts := p.Values("Contact")
	if len(contacts) == 0 {
		errs.Errorf("Signed", "add a Contact line (mailto:, https: or tel:) and sign the file again", "has no Contact field (RFC 9116)")
	}
	for _, c := range contacts {
		if msg, hint := checkURI(c, []string{"mailto", "https", "tel"}); msg != "" {
			errs.Errorf("Signed", hint, "Contact %q %s", c, msg)
		}
	}
	expires, err := p.Expires()
	if err != nil {
		errs.Errorf("Signed", "write one Expires line, e.g. Expires: "+now.AddDate(0, 6, 0).UTC().Format("2006-01-02T15:04:05Z")+", and sign the file again", "%v", err)
		return errs
	}
	validateExpires(&errs, "Signed", expires, now)
	return errs
}

// checkURI explains why v is not an absolute URI of one of schemes, or
// returns "", "".
func checkURI(v string, schemes []string) (msg, hint string) {
	hint = "write a URI starting with " + strings.Join(schemes, ":, ") + ":"
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "holds a control character (a line break would add fields to the file)", "write the URI on one line"
	}
	if !utf8.ValidString(v) {
		return "is not UTF-8", hint
	}
	if v == "" || strings.TrimSpace(v) != v || strings.ContainsAny(v, " \t") {
		return "is empty or holds spaces", hint
	}
	if len(v) > maxValue {
		return "is longer than " + strconv.Itoa(maxValue) + " bytes", hint
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		return "is not an absolute URI", hint
	}
	scheme := strings.ToLower(u.Scheme)
	ok := false
	for _, s := range schemes {
		ok = ok || scheme == s
	}
	if !ok {
		if scheme == "http" {
			return "uses http:, which anyone on the path can change (RFC 9116 requires https: for web URIs)", hint
		}
		return "uses " + scheme + ":, which this field does not accept", hint
	}
	switch scheme {
	case "https":
		if u.Host == "" || u.User != nil {
			return "is not an https:// URL with a host (and no user:password@)", hint
		}
	case "mailto":
		if u.Opaque == "" || !strings.Contains(u.Opaque, "@") {
			return "is not a mailto: address, e.g. mailto:security@example.com", hint
		}
	default:
		if u.Opaque == "" && u.Host == "" && u.Path == "" {
			return "has nothing after the scheme", hint
		}
	}
	return "", ""
}

// File is a security.txt file ready to serve. It is safe for concurrent
// use.
type File struct {
	body    []byte
	expires time.Time
	logger  *slog.Logger
	now     func() time.Time
	stale   atomic.Bool
}

// New validates o (see Validate) and builds the file. Warnings do not
// refuse it; the caller reports them.
func New(o Options) (*File, error) {
	return newAt(o, time.Now)
}

func newAt(o Options, now func() time.Time) (*File, error) {
	if err := o.validate(now()).Err(); err != nil {
		return nil, err
	}
	f := &File{body: o.render(), expires: o.Expires, logger: o.Logger, now: now}
	if len(o.Signed) > 0 {
		f.body = append([]byte(nil), o.Signed...)
		f.expires, _ = Parse(o.Signed).Expires() // validated
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	return f, nil
}

// render writes the fields in the order of RFC 9116's section 2.5.
func (o Options) render() []byte {
	var b strings.Builder
	line := func(name string, values []string) {
		for _, v := range values {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\n")
		}
	}
	line("Contact", o.Contact)
	line("Expires", []string{o.Expires.UTC().Format("2006-01-02T15:04:05Z")})
	line("Encryption", o.Encryption)
	line("Acknowledgments", o.Acknowledgments)
	if len(o.PreferredLanguages) > 0 {
		line("Preferred-Languages", []string{strings.Join(o.PreferredLanguages, ", ")})
	}
	line("Canonical", o.Canonical)
	line("Policy", o.Policy)
	line("Hiring", o.Hiring)
	return []byte(b.String())
}

// Body returns the file's content.
func (f *File) Body() []byte { return append([]byte(nil), f.body...) }

// Expires returns the file's expiry.
func (f *File) Expires() time.Time { return f.expires }

// Expired reports whether the file is past its expiry, and so answered
// with 404.
func (f *File) Expired() bool { return !f.now().Before(f.expires) }

// Handler serves the file at Path and passes other requests to next. GET
// and HEAD are answered; other methods get 405. Once the file has
// expired, requests for it get 404 (and the expiry is logged once): the
// application's own file, if it has one, is not served either, since it
// would shadow a renewal rampart's configuration is the place of.
func (f *File) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httperr.Write(w, r, http.StatusMethodNotAllowed, "", "")
			return
		}
		now := f.now()
		if !now.Before(f.expires) {
			if f.stale.CompareAndSwap(false, true) {
				f.logger.Error("security.txt has expired and is no longer served (404): renew security_txt.expires and reload",
					"expires", f.expires.UTC().Format(time.RFC3339))
			}
			httperr.Write(w, r, http.StatusNotFound, "", "")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		// Caches may keep it a day, never past its expiry.
		maxAge := min(24*time.Hour, f.expires.Sub(now))
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second)))
		h.Set("Content-Length", strconv.Itoa(len(f.body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(f.body)
	})
}
