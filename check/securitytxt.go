package check

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/securitytxt"
)

// securityTxt fetches /.well-known/security.txt (following redirects on
// the audited hosts, as RFC 9116 allows) and reports a missing, stale or
// incomplete file. now is the audit's clock.
func (p *prober) securityTxt(ctx context.Context, u *url.URL, now time.Time) []Finding {
	const id = "security-txt-"
	at := u.ResolveReference(&url.URL{Path: securitytxt.Path})
	missing := func(evidence string) []Finding {
		return []Finding{{ID: id + "missing", Category: CategoryDisclosure, Severity: Info,
			Title:    "no security.txt: researchers who find a vulnerability have no published way to report it",
			Evidence: evidence,
			Fix:      "publish " + securitytxt.Path + " with Contact and Expires (RFC 9116); rampart serves one from the security_txt: section"}}
	}
	_, r, _, err := p.follow(ctx, at, securitytxt.MaxParseBytes)
	switch {
	case r == nil:
		return missing("GET " + securitytxt.Path + ": " + errString(err))
	case r.status != 200:
		return missing(fmt.Sprintf("GET %s → %d", securitytxt.Path, r.status))
	case looksLikeHTML(r.body):
		// A catch-all route answering its index page.
		return missing("GET " + securitytxt.Path + " → 200 with an HTML page")
	}
	f := securitytxt.Parse(r.body)
	if len(f.Fields) == 0 {
		return missing("GET " + securitytxt.Path + " → 200 without any field")
	}
	var fs []Finding
	if mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type")); err != nil || mt != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		fs = append(fs, Finding{ID: id + "content-type", Category: CategoryDisclosure, Severity: Info,
			Title:    "security.txt is not served as text/plain; charset=utf-8 (RFC 9116 requires it)",
			Evidence: "Content-Type: " + safe.Clean(r.header.Get("Content-Type"), 80),
			Fix:      "serve it as text/plain; charset=utf-8"})
	}
	if len(f.Values("Contact")) == 0 {
		fs = append(fs, Finding{ID: id + "no-contact", Category: CategoryDisclosure, Severity: Warning,
			Title: "security.txt has no Contact field: it tells a researcher nothing",
			Fix:   "add Contact: mailto:security@… (or an https: form); the field is required"})
	}
	exp, err := f.Expires()
	switch {
	case errors.Is(err, securitytxt.ErrNoExpires):
		fs = append(fs, Finding{ID: id + "no-expires", Category: CategoryDisclosure, Severity: Warning,
			Title: "security.txt has no Expires field: nobody can tell whether its contacts are still read",
			Fix:   "add Expires: with a date less than a year ahead, and renew it; the field is required"})
	case err != nil:
		fs = append(fs, Finding{ID: id + "bad-expires", Category: CategoryDisclosure, Severity: Warning,
			Title:    "security.txt's Expires cannot be read: " + err.Error(),
			Evidence: "Expires: " + safe.Clean(strings.Join(f.Values("Expires"), " | "), 120),
			Fix:      "write exactly one Expires: in RFC 3339 form, e.g. 2027-01-31T23:59:59Z"})
	case !exp.After(now):
		fs = append(fs, Finding{ID: id + "expired", Category: CategoryDisclosure, Severity: Warning,
			Title:    "security.txt has expired: its contacts may no longer be read, and readers must treat it as stale",
			Evidence: "Expires: " + exp.UTC().Format(time.RFC3339),
			Fix:      "renew it with a new Expires less than a year ahead (rampart refuses to serve a stale one)"})
	case exp.Sub(now) > securitytxt.MaxRecommendedLifetime:
		fs = append(fs, Finding{ID: id + "long-expiry", Category: CategoryDisclosure, Severity: Info,
			Title:    "security.txt expires more than a year ahead (RFC 9116 recommends less, so a forgotten file goes stale)",
			Evidence: "Expires: " + exp.UTC().Format(time.RFC3339),
			Fix:      "set Expires less than a year ahead, and renew it"})
	}
	if len(f.Problems) > 0 {
		fs = append(fs, Finding{ID: id + "syntax", Category: CategoryDisclosure, Severity: Info,
			Title:    "security.txt has lines that are neither fields nor comments",
			Evidence: safe.Clean(strings.Join(f.Problems, "; "), 200),
			Fix:      "write one Name: value field a line, comments after #"})
	}
	return fs
}
