package check

import (
	"errors"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart/safe"
)

// HSTS is a parsed Strict-Transport-Security header (RFC 6797 §6.1).
type HSTS struct {
	MaxAge            int64
	IncludeSubDomains bool
	Preload           bool
}

// Preload eligibility per https://hstspreload.org: max-age of at least one
// year, includeSubDomains and the preload directive. (The site must also
// redirect HTTP to HTTPS on the same host first; Run checks that separately.)
const hstsPreloadMinAge = 31536000

// PreloadEligible reports whether the header meets the hstspreload.org
// header requirements.
func (h HSTS) PreloadEligible() bool {
	return h.MaxAge >= hstsPreloadMinAge && h.IncludeSubDomains && h.Preload
}

// ParseHSTS parses a Strict-Transport-Security value strictly, as a browser
// does: a user agent ignores the whole header when a directive appears twice
// or max-age is missing or not a number (RFC 6797 §6.1). A header sent twice
// and combined with a comma ("max-age=1, max-age=2") therefore fails: the
// browser sees one invalid header, not two good ones. The input is untrusted
// and may be arbitrarily long; the parser is linear and allocates only the
// directive names.
func ParseHSTS(v string) (HSTS, error) {
	var h HSTS
	if strings.Contains(v, ",") {
		// Quoted values never legitimately hold a comma here; a comma means
		// two header lines were combined.
		return HSTS{}, errors.New("header sent more than once (values combined with a comma)")
	}
	seen := map[string]bool{}
	maxAgeSeen := false
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, hasValue := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !safe.Token(name) {
			return HSTS{}, errors.New("invalid directive name " + strconv.Quote(safe.Clean(name, 40)))
		}
		if seen[name] {
			return HSTS{}, errors.New("directive " + name + " repeated (header sent twice?)")
		}
		seen[name] = true
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		switch name {
		case "max-age":
			if !hasValue || value == "" {
				return HSTS{}, errors.New("max-age has no value")
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return HSTS{}, errors.New("max-age is not a number: " + strconv.Quote(safe.Clean(value, 40)))
				}
			}
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				n = 1<<63 - 1 // all digits but too large: saturate
			}
			h.MaxAge = n
			maxAgeSeen = true
		case "includesubdomains":
			if hasValue {
				return HSTS{}, errors.New("includeSubDomains takes no value")
			}
			h.IncludeSubDomains = true
		case "preload":
			h.Preload = true
		}
	}
	if !maxAgeSeen {
		return HSTS{}, errors.New("max-age missing")
	}
	return h, nil
}
