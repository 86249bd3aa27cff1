package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/safe"
)

var categoryTitle = map[Category]string{
	CategoryTLS:        "TLS",
	CategoryRedirect:   "Redirect",
	CategoryHeaders:    "Headers",
	CategoryCookies:    "Cookies",
	CategoryExposure:   "Exposure",
	CategoryDisclosure: "Disclosure (security.txt)",
}

// WriteText writes the human-readable report: grade first, then findings
// grouped by category, each with its fix, then the score breakdown.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rampart check %s\n", r.Target)
	if r.FinalURL != "" && r.FinalURL != r.Target {
		fmt.Fprintf(&b, "final URL: %s\n", r.FinalURL)
	}
	fmt.Fprintf(&b, "grade %s (score %d, MDN HTTP Observatory method; TLS not scored)\n", r.Grade, r.Score)
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(&b, "%s, %s, %s\n", plural(counts[Error], "error"), plural(counts[Warning], "warning"), plural(counts[Info], "note"))

	for _, c := range Categories() {
		fmt.Fprintf(&b, "\n%s\n", categoryTitle[c])
		switch c {
		case CategoryTLS:
			writeTLS(&b, r.TLS)
		case CategoryRedirect:
			writeRedirect(&b, r.Redirect)
		}
		n := 0
		for _, f := range r.Findings {
			if f.Category != c {
				continue
			}
			n++
			fmt.Fprintf(&b, "  [%s] %s\n", f.Severity, f.Title)
			if f.Evidence != "" {
				fmt.Fprintf(&b, "      seen: %s\n", f.Evidence)
			}
			fmt.Fprintf(&b, "      fix:  %s\n", f.Fix)
		}
		if n == 0 {
			b.WriteString("  no findings\n")
		}
	}

	b.WriteString("\nScore (start 100; bonuses only if penalties leave ≥ 90)\n")
	for _, t := range r.Tests {
		fmt.Fprintf(&b, "  %+4d  %-30s %s\n", t.Modifier, t.Name, t.Result)
	}
	fmt.Fprintf(&b, "  = %d → %s\n", r.Score, r.Grade)
	if len(r.NotTested) > 0 {
		b.WriteString("\nNot tested\n")
		for _, s := range r.NotTested {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	_, err := io.WriteString(w, terminalSafe(b.String()))
	return err
}

// terminalSafe neutralises, line by line, what the audited server chose:
// header values, cookie names, Location, certificate names. A hostile site
// could otherwise put escape sequences (ESC, the 8-bit CSI U+009B) that
// drive the auditor's terminal, or a bidi override (U+202E) that makes a
// line read as something else, into the report. Each becomes '?', as in the
// security log. The JSON report needs none of this: encoding/json escapes.
func terminalSafe(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = safe.Clean(l, len(l)) // never longer: no cut
	}
	return strings.Join(lines, "\n")
}

func writeTLS(b *strings.Builder, t TLSInfo) {
	var vs []string
	for _, v := range t.Versions {
		mark := "no"
		if v.Accepted {
			mark = "yes"
		}
		vs = append(vs, v.Version+" "+mark)
	}
	fmt.Fprintf(b, "  versions: %s\n", strings.Join(vs, ", "))
	if t.TLS13Suite != "" {
		fmt.Fprintf(b, "  TLS 1.3 negotiated: %s\n", t.TLS13Suite)
	}
	var acc []string
	for _, s := range t.Suites {
		if s.Accepted {
			mark := ""
			if s.Weak {
				mark = " (weak)"
			}
			acc = append(acc, s.Name+mark)
		}
	}
	if len(t.Suites) > 0 {
		fmt.Fprintf(b, "  suites below TLS 1.3 accepted (%d of %d offered one at a time):\n", len(acc), len(t.Suites))
		for _, s := range acc {
			fmt.Fprintf(b, "    %s\n", s)
		}
	}
	if c := t.Certificate; c != nil {
		chain := "trusted"
		if !c.ChainValid {
			chain = "NOT trusted"
		}
		host := "matches"
		if !c.HostnameOK {
			host = "does NOT match"
		}
		fmt.Fprintf(b, "  certificate: %s, issuer %s, chain %s, name %s, expires %s\n",
			c.Subject, c.Issuer, chain, host, c.NotAfter.Format(time.DateOnly))
	}
}

func writeRedirect(b *strings.Builder, r RedirectInfo) {
	switch {
	case r.Error != "":
		fmt.Fprintf(b, "  %s: unreachable\n", r.URL)
	case r.Status != 0:
		loc := r.Location
		if loc == "" {
			loc = "(no Location)"
		}
		fmt.Fprintf(b, "  %s: %d → %s\n", r.URL, r.Status, loc)
		if len(r.Route) > 2 {
			fmt.Fprintf(b, "  route: %s\n", strings.Join(r.Route, " → "))
		}
	}
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
