package check

import "time"

// Severity ranks a finding.
type Severity string

const (
	// Error is a defect an attacker can use now: TLS 1.0, an open redirect,
	// an exposed .env, credentialed CORS reflection.
	Error Severity = "error"
	// Warning weakens the deployment or breaks a best practice.
	Warning Severity = "warning"
	// Info is worth knowing and costs nothing to fix, or is an observation.
	Info Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Category groups findings in the report.
type Category string

const (
	CategoryTLS      Category = "tls"
	CategoryRedirect Category = "redirect"
	CategoryHeaders  Category = "headers"
	CategoryCookies  Category = "cookies"
	CategoryExposure Category = "exposure"
	// CategoryDisclosure is the vulnerability disclosure contact: the
	// site's security.txt (RFC 9116).
	CategoryDisclosure Category = "disclosure"
)

// Categories returns the categories in report order, in a fresh slice.
func Categories() []Category {
	return []Category{CategoryTLS, CategoryRedirect, CategoryHeaders, CategoryCookies, CategoryExposure, CategoryDisclosure}
}

// Finding is one problem or observation, with the fix.
type Finding struct {
	ID       string   `json:"id"`
	Category Category `json:"category"`
	Severity Severity `json:"severity"`
	// Title says what is wrong in one line.
	Title string `json:"title"`
	// Evidence is what was observed (a header value, a status line).
	Evidence string `json:"evidence,omitempty"`
	// Fix says what to change.
	Fix string `json:"fix"`
}

// TestResult is one MDN HTTP Observatory test outcome and its score modifier.
type TestResult struct {
	Name     string `json:"name"`
	Result   string `json:"result"`
	Modifier int    `json:"modifier"`
	Pass     bool   `json:"pass"`
}

// Report is the outcome of Run.
type Report struct {
	Target   string `json:"target"`
	FinalURL string `json:"final_url,omitempty"`
	Status   int    `json:"status,omitempty"`
	// Score and Grade follow the MDN HTTP Observatory (see SCORING.md).
	Score    int          `json:"score"`
	Grade    string       `json:"grade"`
	Tests    []TestResult `json:"tests"`
	Findings []Finding    `json:"findings"`
	TLS      TLSInfo      `json:"tls"`
	Redirect RedirectInfo `json:"redirect"`
	// NotTested names what this audit could not test, and why.
	NotTested []string `json:"not_tested,omitempty"`
}

// TLSInfo is what the TLS probes observed.
type TLSInfo struct {
	Versions    []VersionResult `json:"versions"`
	Suites      []SuiteResult   `json:"tls12_suites"`
	TLS13Suite  string          `json:"tls13_suite,omitempty"`
	Certificate *CertInfo       `json:"certificate,omitempty"`
}

// VersionResult says whether the server accepted a protocol version.
type VersionResult struct {
	Version  string `json:"version"`
	Accepted bool   `json:"accepted"`
}

// SuiteResult says whether the server accepted a TLS 1.2 cipher suite
// offered alone.
type SuiteResult struct {
	Name     string `json:"name"`
	Accepted bool   `json:"accepted"`
	// Weak is set for suites without forward secrecy or without AEAD.
	Weak bool `json:"weak"`
}

// CertInfo describes the leaf certificate.
type CertInfo struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	DNSNames   []string  `json:"dns_names,omitempty"`
	NotAfter   time.Time `json:"not_after"`
	ChainValid bool      `json:"chain_valid"`
	ChainError string    `json:"chain_error,omitempty"`
	HostnameOK bool      `json:"hostname_ok"`
	DaysLeft   int       `json:"days_left"`
}

// RedirectInfo is what the plain-HTTP probe observed.
type RedirectInfo struct {
	URL      string   `json:"url"`
	Status   int      `json:"status,omitempty"`
	Location string   `json:"location,omitempty"`
	Route    []string `json:"route,omitempty"`
	// ReflectsHost is set when a request with a foreign Host header was
	// redirected to that host (an open redirect).
	ReflectsHost bool   `json:"reflects_host"`
	Error        string `json:"error,omitempty"`
}

// Failed reports whether the deployment fails the gate minGrade: its grade
// is below minGrade, or a TLS finding has severity Error. TLS does not enter
// the Observatory score, so a site could grade A+ while accepting TLS 1.0;
// the gate refuses that. An empty minGrade is no gate: Failed is false.
func (r *Report) Failed(minGrade string) bool {
	if minGrade == "" {
		return false
	}
	if GradeRank(r.Grade) < GradeRank(minGrade) {
		return true
	}
	for _, f := range r.Findings {
		if f.Category == CategoryTLS && f.Severity == Error {
			return true
		}
	}
	return false
}
