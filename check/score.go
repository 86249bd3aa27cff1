package check

// modifiers is the MDN HTTP Observatory SCORE_TABLE
// (mdn/mdn-http-observatory src/grader/charts.js). See SCORING.md.
var modifiers = map[string]int{
	// content-security-policy
	"csp-implemented-with-no-unsafe-default-src-none":              10,
	"csp-implemented-with-no-unsafe":                               5,
	"csp-implemented-with-unsafe-inline-in-style-src-only":         0,
	"csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
	"csp-implemented-with-unsafe-eval":                             -10,
	"csp-implemented-with-unsafe-inline":                           -20,
	"csp-implemented-with-insecure-scheme":                         -20,
	"csp-header-invalid":                                           -25,
	"csp-not-implemented":                                          -25,
	"csp-not-implemented-but-reporting-enabled":                    -25,
	"csp-implemented-but-duplicate-directives":                     0,
	// cookies
	"cookies-secure-with-httponly-sessions-and-samesite":        5,
	"cookies-secure-with-httponly-sessions":                     0,
	"cookies-not-found":                                         0,
	"cookies-without-secure-flag-but-protected-by-hsts":         -5,
	"cookies-session-without-secure-flag-but-protected-by-hsts": -10,
	"cookies-without-secure-flag":                               -20,
	"cookies-samesite-flag-invalid":                             -20,
	"cookies-anticsrf-without-samesite-flag":                    -20,
	"cookies-session-without-httponly-flag":                     -30,
	"cookies-session-without-secure-flag":                       -40,
	// cross-origin-resource-sharing
	"cross-origin-resource-sharing-not-implemented":                    0,
	"cross-origin-resource-sharing-implemented-with-public-access":     0,
	"cross-origin-resource-sharing-implemented-with-restricted-access": 0,
	"cross-origin-resource-sharing-implemented-with-universal-access":  -50,
	// redirection
	"redirection-all-redirects-preloaded":             0,
	"redirection-to-https":                            0,
	"redirection-not-needed-no-http":                  0,
	"redirection-off-host-from-http":                  -5,
	"redirection-not-to-https-on-initial-redirection": -10,
	"redirection-not-to-https":                        -20,
	"redirection-missing":                             -20,
	"redirection-invalid-cert":                        -20,
	// referrer-policy
	"referrer-policy-private":         5,
	"referrer-policy-not-implemented": 0,
	"referrer-policy-unsafe":          -5,
	"referrer-policy-header-invalid":  -5,
	// strict-transport-security
	"hsts-preloaded": 5,
	"hsts-implemented-max-age-at-least-six-months":  0,
	"hsts-implemented-max-age-less-than-six-months": -10,
	"hsts-not-implemented":                          -20,
	"hsts-header-invalid":                           -20,
	"hsts-not-implemented-no-https":                 -20,
	"hsts-invalid-cert":                             -20,
	// subresource-integrity
	"sri-implemented-and-all-scripts-loaded-securely":               5,
	"sri-implemented-and-external-scripts-loaded-securely":          5,
	"sri-not-implemented-response-not-html":                         0,
	"sri-not-implemented-but-no-scripts-loaded":                     0,
	"sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
	"sri-not-implemented-but-external-scripts-loaded-securely":      -5,
	"sri-implemented-but-external-scripts-not-loaded-securely":      -20,
	"sri-not-implemented-and-external-scripts-not-loaded-securely":  -50,
	"html-not-parsable": -20,
	// x-content-type-options
	"x-content-type-options-nosniff":         0,
	"x-content-type-options-not-implemented": -5,
	"x-content-type-options-header-invalid":  -5,
	// x-frame-options
	"x-frame-options-implemented-via-csp": 5,
	"x-frame-options-sameorigin-or-deny":  0,
	"x-frame-options-allow-from-origin":   0,
	"x-frame-options-not-implemented":     -20,
	"x-frame-options-header-invalid":      -20,
	// cross-origin-resource-policy
	"corp-implemented-with-same-origin":  10,
	"corp-implemented-with-same-site":    10,
	"corp-implemented-with-cross-origin": 0,
	"corp-not-implemented":               0,
	"corp-header-invalid":                -5,
}

// Modifier returns the Observatory score modifier of a test result.
func Modifier(result string) int { return modifiers[result] }

// minimumScoreForExtraCredit: bonuses count only when the score after
// penalties alone is at least this (an A).
const minimumScoreForExtraCredit = 90

// Score applies the Observatory's two rounds: start at 100, subtract every
// penalty; if the result is at least 90, add every bonus. The score is
// never below 0.
func Score(tests []TestResult) int {
	all, penalties := 100, 100
	for _, t := range tests {
		all += t.Modifier
		if t.Modifier < 0 {
			penalties += t.Modifier
		}
	}
	s := penalties
	if penalties >= minimumScoreForExtraCredit {
		s = all
	}
	return max(s, 0)
}

// grades are the Observatory's GRADE_CHART: the score rounded down to a
// multiple of 5 (capped at 100) selects the grade.
var grades = []struct {
	min   int
	grade string
}{
	{100, "A+"}, {90, "A"}, {85, "A-"}, {80, "B+"}, {70, "B"}, {65, "B-"},
	{60, "C+"}, {50, "C"}, {45, "C-"}, {40, "D+"}, {30, "D"}, {25, "D-"}, {0, "F"},
}

// Grade maps a score to its letter grade.
func Grade(score int) string {
	for _, g := range grades {
		if score >= g.min {
			return g.grade
		}
	}
	return "F"
}

// GradeRank orders grades: F is 0, A+ is 12; an unknown grade is -1.
func GradeRank(g string) int {
	for i, x := range grades {
		if x.grade == g {
			return len(grades) - 1 - i
		}
	}
	return -1
}

// ValidGrade reports whether g is one of the Observatory's grades.
func ValidGrade(g string) bool { return GradeRank(g) >= 0 }
