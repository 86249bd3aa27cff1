package secheaders

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// CollectorOptions configures the CSP violation report collector.
type CollectorOptions struct {
	// Log receives one seclog.CSPViolation event per report. Default: a
	// seclog.Logger on slog.Default().
	Log *seclog.Logger
	// MaxBodyBytes caps a report body. Default 64 KiB; a browser report is
	// a few hundred bytes, a batch of them a few KiB.
	MaxBodyBytes int64
	// MaxReportsPerBody caps the reports logged from one Reporting API
	// batch. Default 20.
	MaxReportsPerBody int
	// PerClientBurst is how many report bodies one client address (for
	// IPv6, one /64) may send per PerClientInterval before the rest are
	// dropped (still answered
	// 204: browsers do not retry, and a flooder learns nothing). Default 20
	// per minute. The number dropped is logged with the next accepted one.
	PerClientBurst    int
	PerClientInterval time.Duration
}

// Collector receives CSP violation reports, from report-uri
// (application/csp-report) and from the Reporting API
// (application/reports+json), and writes each one to the security log as a
// seclog.CSPViolation event.
//
// Everything in a report is attacker-controlled: anyone can POST to the
// endpoint. So bodies are capped, each client is rate limited, only a fixed
// set of fields is logged, each truncated, stripped of control characters
// and, for URLs, of query and fragment (which may hold tokens), and the
// answer is always the same empty 204.
type Collector struct {
	log      *seclog.Logger
	maxBody  int64
	maxBatch int
	sampler  *seclog.Sampler
}

// NewCollector returns a collector; see CollectorOptions for defaults.
func NewCollector(o CollectorOptions) *Collector {
	c := &Collector{log: o.Log, maxBody: o.MaxBodyBytes, maxBatch: o.MaxReportsPerBody}
	if c.maxBody <= 0 {
		c.maxBody = 64 << 10
	}
	if c.maxBatch <= 0 {
		c.maxBatch = 20
	}
	burst, iv := o.PerClientBurst, o.PerClientInterval
	if burst <= 0 {
		burst = 20
	}
	if iv <= 0 {
		iv = time.Minute
	}
	c.sampler = &seclog.Sampler{Burst: burst, Interval: iv, MaxKeys: 10000}
	return c
}

// Collector returns the policy's collector, or nil when CSP.Report is off.
// Mount it at ReportPath: the middleware only points browsers there.
//
// Mount it behind the host check and a rate limit of its own. Anyone can
// POST to it, and each report is an access-log line and a security event;
// outside the limits, one client could write lines as fast as it can send
// requests and rotate the log history away.
func (m *Middleware) Collector() *Collector { return m.collector }

// ReportPath is the path the policy sends violation reports to (report-uri
// and Reporting-Endpoints), or "" when CSP.Report is off.
func (m *Middleware) ReportPath() string { return m.report }

// Violation is the sanitized content of one report.
type Violation struct {
	DocumentURI        string
	BlockedURI         string
	ViolatedDirective  string
	EffectiveDirective string
	SourceFile         string
	Line               int
	Column             int
	Disposition        string
	Sample             string
}

// errReport is why a body was refused; it goes to the log, not the client.
var (
	errReportType = errors.New("content type is neither application/csp-report nor application/reports+json")
	errReportSize = errors.New("report body too large")
	errReportJSON = errors.New("report body is not valid report JSON")
)

// Parse decodes a report body of the given content type into violations.
// It is separate from ServeHTTP so the decision can be tested (and fuzzed)
// alone.
func (c *Collector) Parse(contentType string, body []byte) ([]Violation, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/csp-report", "application/json":
		var doc struct {
			Report *legacyReport `json:"csp-report"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.Report == nil {
			return nil, errReportJSON
		}
		return []Violation{doc.Report.violation()}, nil
	case "application/reports+json":
		var batch []struct {
			Type string          `json:"type"`
			URL  string          `json:"url"`
			Body json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, errReportJSON
		}
		var out []Violation
		for _, r := range batch {
			if r.Type != "csp-violation" || len(out) >= c.maxBatch {
				continue
			}
			var b apiReport
			if json.Unmarshal(r.Body, &b) != nil {
				continue
			}
			if b.DocumentURL == "" {
				b.DocumentURL = r.URL
			}
			out = append(out, b.violation())
		}
		if len(out) == 0 {
			return nil, errReportJSON
		}
		return out, nil
	}
	return nil, errReportType
}

type legacyReport struct {
	DocumentURI        string `json:"document-uri"`
	BlockedURI         string `json:"blocked-uri"`
	ViolatedDirective  string `json:"violated-directive"`
	EffectiveDirective string `json:"effective-directive"`
	SourceFile         string `json:"source-file"`
	Line               any    `json:"line-number"`
	Column             any    `json:"column-number"`
	Disposition        string `json:"disposition"`
	Sample             string `json:"script-sample"`
}

func (r *legacyReport) violation() Violation {
	return Violation{
		DocumentURI:        cleanURL(r.DocumentURI),
		BlockedURI:         cleanURL(r.BlockedURI),
		ViolatedDirective:  safe.Clean(r.ViolatedDirective, 200),
		EffectiveDirective: safe.Clean(r.EffectiveDirective, 64),
		SourceFile:         cleanURL(r.SourceFile),
		Line:               cleanInt(r.Line),
		Column:             cleanInt(r.Column),
		Disposition:        safe.Clean(r.Disposition, 16),
		Sample:             safe.Clean(r.Sample, 40),
	}
}

type apiReport struct {
	DocumentURL        string `json:"documentURL"`
	BlockedURL         string `json:"blockedURL"`
	EffectiveDirective string `json:"effectiveDirective"`
	SourceFile         string `json:"sourceFile"`
	Line               any    `json:"lineNumber"`
	Column             any    `json:"columnNumber"`
	Disposition        string `json:"disposition"`
	Sample             string `json:"sample"`
}

func (r *apiReport) violation() Violation {
	return Violation{
		DocumentURI:        cleanURL(r.DocumentURL),
		BlockedURI:         cleanURL(r.BlockedURL),
		ViolatedDirective:  safe.Clean(r.EffectiveDirective, 64),
		EffectiveDirective: safe.Clean(r.EffectiveDirective, 64),
		SourceFile:         cleanURL(r.SourceFile),
		Line:               cleanInt(r.Line),
		Column:             cleanInt(r.Column),
		Disposition:        safe.Clean(r.Disposition, 16),
		Sample:             safe.Clean(r.Sample, 40),
	}
}

// cleanURL keeps scheme, host and path of a URL; query and fragment may
// carry session tokens and are dropped. Non-URL values browsers use
// ("inline", "eval", "self") pass through safe.Clean. So does anything
// url.Parse refuses or that has no host ("https://a/%zz?token=x",
// "/page?token=x"), cut before its first '?' or '#' all the same.
func cleanURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
		s = u.String()
	} else if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return safe.Clean(s, 300)
}

func cleanInt(v any) int {
	switch n := v.(type) {
	case float64:
		if n >= 0 && n < 1e9 {
			return int(n)
		}
	case string:
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < 1e9 {
			return i
		}
	}
	return 0
}

// ServeHTTP answers POSTed reports with 204 and logs them.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httperr.Write(w, r, http.StatusMethodNotAllowed, "", requestid.FromRequest(r))
		return
	}
	ok, dropped := c.sampler.Allow(clientKey(r))
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.reject(r, errReportSize)
			httperr.Write(w, r, http.StatusRequestEntityTooLarge, "", requestid.FromRequest(r))
			return
		}
		httperr.Write(w, r, http.StatusBadRequest, "", requestid.FromRequest(r))
		return
	}
	vs, err := c.Parse(r.Header.Get("Content-Type"), body)
	if err != nil {
		c.reject(r, err)
		if err == errReportType {
			httperr.Write(w, r, http.StatusUnsupportedMediaType, "", requestid.FromRequest(r))
		} else {
			httperr.Write(w, r, http.StatusBadRequest, "", requestid.FromRequest(r))
		}
		return
	}
	for _, v := range vs {
		attrs := []slog.Attr{
			slog.String("document_uri", v.DocumentURI),
			slog.String("blocked_uri", v.BlockedURI),
			slog.String("violated_directive", v.ViolatedDirective),
			slog.String("effective_directive", v.EffectiveDirective),
			slog.String("source_file", v.SourceFile),
			slog.Int("line", v.Line),
			slog.Int("column", v.Column),
			slog.String("disposition", v.Disposition),
		}
		if v.Sample != "" {
			attrs = append(attrs, slog.String("sample", v.Sample))
		}
		if dropped > 0 {
			attrs = append(attrs, slog.Int("reports_dropped", dropped))
			dropped = 0
		}
		c.log.Event(r.Context(), r, slog.LevelWarn, seclog.CSPViolation, "content security policy violation", attrs...)
	}
	w.WriteHeader(http.StatusNoContent)
}

// clientKey is the flood-control key of r's client: its address, or for
// IPv6 its /64. One subscriber usually holds a whole /64 and can send from
// as many of its addresses as it likes; keyed per address, each would get
// its own burst of log records.
func clientKey(r *http.Request) string {
	a := clientip.FromRequest(r)
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

func (c *Collector) reject(r *http.Request, err error) {
	c.log.Event(r.Context(), r, slog.LevelInfo, seclog.InputValidationFail, "csp report refused",
		slog.String("reason", err.Error()), slog.String("content_type", safe.Clean(r.Header.Get("Content-Type"), 100)))
}
