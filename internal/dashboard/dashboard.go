package dashboard

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/check"
	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/safe"
)

// Paths the dashboard answers, relative to where it is mounted.
const (
	StylePath = "/dashboard.css"
	IconPath  = "/favicon.svg"
)

// CSP is the Content-Security-Policy of every response of the dashboard:
// nothing but its own stylesheet and icon, no script at all, no framing,
// no form, no base.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Defaults of Options.
const (
	DefaultRefresh      = 10 * time.Second
	DefaultTopOffenders = 10
	DefaultCertWarn     = 21 * 24 * time.Hour
)

// Options configures the dashboard. The zero value is a valid dashboard
// with every section "not configured".
type Options struct {
	// Recorder holds the request counts and the security events. Nil
	// shows those sections as not configured.
	Recorder *Recorder
	// Sources feed the other sections.
	Sources Sources
	// Title names what the dashboard watches, e.g. the public host
	// names. Empty means "rampart".
	Title string
	// Refresh is how often the page reloads itself (a <meta> refresh,
	// which needs no script). Zero means DefaultRefresh; at least 2s.
	Refresh time.Duration
	// TopOffenders is how many clients the top-offenders table lists.
	// Zero means DefaultTopOffenders.
	TopOffenders int
	// CertWarn flags certificates that expire sooner. Zero means
	// DefaultCertWarn (21 days).
	CertWarn time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives the errors of rendering. Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports what is wrong with o.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	if o.Refresh != 0 && o.Refresh < 2*time.Second {
		errs.Errorf("Refresh", "10s is the default", "must be at least 2s, got %s", o.Refresh)
	}
	if o.TopOffenders < 0 || o.TopOffenders > 1000 {
		errs.Errorf("TopOffenders", "10 is the default", "must be between 0 and 1000, got %d", o.TopOffenders)
	}
	if o.CertWarn < 0 {
		errs.Errorf("CertWarn", "21 days is the default", "must not be negative, got %s", o.CertWarn)
	}
	if len(o.Title) > 200 {
		errs.Errorf("Title", "name the hosts briefly", "must be at most 200 bytes, got %d", len(o.Title))
	}
	return errs
}

// Dashboard is the security dashboard, an http.Handler: mount it at the
// root of the admin listener, behind its access check. It answers GET and
// HEAD for "/" (the page), StylePath and IconPath, 404 for other paths
// and 405 for other methods; every response carries CSP, nosniff and
// no-store.
type Dashboard struct {
	o         Options
	page      *template.Template
	reportURI string // tests: a CSP report endpoint
}

//go:embed page.html
var pageHTML string

//go:embed dashboard.css
var styleCSS []byte

//go:embed favicon.svg
var iconSVG []byte

// New returns the dashboard, or the errors of o.
func New(o Options) (*Dashboard, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	if o.TopOffenders == 0 {
		o.TopOffenders = DefaultTopOffenders
	}
	if o.CertWarn == 0 {
		o.CertWarn = DefaultCertWarn
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Title = safe.Clean(o.Title, 200)
	if o.Title == "" {
		o.Title = "rampart"
	}
	t, err := template.New("page").Funcs(funcs).Parse(pageHTML)
	if err != nil {
		return nil, err
	}
	return &Dashboard{o: o, page: t}, nil
}

func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	csp := CSP
	if d.reportURI != "" {
		csp += "; report-uri " + d.reportURI
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")

	var body []byte
	var ctype string
	switch r.URL.Path {
	case "/", "":
		ctype = "text/html; charset=utf-8"
	case StylePath:
		body, ctype = styleCSS, "text/css; charset=utf-8"
	case IconPath, "/favicon.ico": // browsers ask for /favicon.ico on their own
		body, ctype = iconSVG, "image/svg+xml"
	default:
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if body == nil {
		var buf bytes.Buffer
		if err := d.page.Execute(&buf, d.view()); err != nil {
			d.o.Logger.Error("dashboard: rendering the page", "error", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		body = buf.Bytes()
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// view is what the page template renders.
type view struct {
	Title     string
	Now       time.Time
	Refresh   int // seconds
	Style     string
	Icon      string
	Recording bool
	Stats     Stats
	Cards     []card
	Charts    []chart
	Top       int

	Bans     section[Ban]
	Zones    section[zoneRow]
	Certs    section[certRow]
	Grade    gradeView
	GradeSet bool
	WarnDays int
}

// section is a list from a source: not configured (nil func), failed
// (the func panicked), or its rows.
type section[T any] struct {
	Configured bool
	Failed     bool
	Rows       []T
}

type card struct {
	Label, Value, Note, Class string
}

type zoneRow struct {
	Zone
	Rejected uint64
}

type certRow struct {
	Cert
	Hosts    string
	DaysLeft int
	Class    string // ok, warn, bad
	Status   string
}

type gradeView struct {
	G       Grade
	Class   string
	Pending bool
}

// call runs a source, turning a panic into a failed section (logged): a
// broken source must not take the whole page down.
func call[T any](l *slog.Logger, name string, f func() []T) (s section[T]) {
	if f == nil {
		return s
	}
	s.Configured = true
	defer func() {
		if p := recover(); p != nil {
			l.Error("dashboard: source failed", "source", name, "panic", fmt.Sprint(p))
			s.Failed, s.Rows = true, nil
		}
	}()
	s.Rows = f()
	return s
}

func (d *Dashboard) view() view {
	now := d.o.Now()
	v := view{
		Title:    d.o.Title,
		Now:      now,
		Refresh:  int(d.o.Refresh / time.Second),
		Style:    strings.TrimPrefix(StylePath, "/"),
		Icon:     strings.TrimPrefix(IconPath, "/"),
		Top:      d.o.TopOffenders,
		WarnDays: int(d.o.CertWarn / (24 * time.Hour)),
	}
	if d.o.Recorder != nil {
		v.Recording = true
		v.Stats = d.o.Recorder.Stats(d.o.TopOffenders)
		st := &v.Stats
		var ok [buckets]uint64
		for i := range buckets {
			ok[i] = st.Requests[i] - min(st.Requests[i], st.ClientErrors[i]+st.ServerErrors[i])
		}
		v.Charts = append(v.Charts,
			newChart("requests", "Requests per minute", "responses", now, []segment{
				{Name: "1xx–3xx", Class: "s-ok", Values: ok},
				{Name: "4xx", Class: "s-warn", Values: st.ClientErrors},
				{Name: "5xx", Class: "s-bad", Values: st.ServerErrors},
			}, nil),
			newChart("rejections", "Rejections and security failures per minute", "", now, []segment{
				{Name: "rejected by rampart", Class: "s-rej", Values: st.Rejected},
			}, &segment{Name: "failure events", Class: "s-line", Values: st.Failures}),
		)
		rate := "—"
		if st.TotalRequests > 0 {
			rate = fmt.Sprintf("%.1f%% of requests", 100*float64(st.TotalRejected)/float64(st.TotalRequests))
		}
		v.Cards = append(v.Cards,
			card{Label: "Requests, last hour", Value: count(st.TotalRequests)},
			card{Label: "Rejected, last hour", Value: count(st.TotalRejected), Note: rate},
			card{Label: "Security failures, last hour", Value: count(st.TotalFailures),
				Note: strconv.Itoa(len(st.Offenders)) + " clients listed"},
		)
	}

	v.Bans = call(d.o.Logger, "bans", d.o.Sources.Bans)
	for i := range v.Bans.Rows {
		b := &v.Bans.Rows[i]
		b.Client, b.Reason = safe.Clean(b.Client, 64), safe.Clean(b.Reason, 256)
	}
	slices.SortStableFunc(v.Bans.Rows, func(a, b Ban) int {
		switch {
		case a.Until.IsZero() != b.Until.IsZero():
			if a.Until.IsZero() {
				return 1
			}
			return -1
		}
		return a.Until.Compare(b.Until)
	})
	if v.Bans.Configured && !v.Bans.Failed {
		v.Cards = append(v.Cards, card{Label: "Active bans", Value: strconv.Itoa(len(v.Bans.Rows))})
	}

	zs := call(d.o.Logger, "zones", d.o.Sources.Zones)
	v.Zones = section[zoneRow]{Configured: zs.Configured, Failed: zs.Failed}
	for _, z := range zs.Rows {
		z.Name, z.Rate, z.Key = safe.Clean(z.Name, 64), safe.Clean(z.Rate, 64), safe.Clean(z.Key, 128)
		v.Zones.Rows = append(v.Zones.Rows, zoneRow{Zone: z, Rejected: v.Stats.Zones[z.Name]})
	}
	slices.SortFunc(v.Zones.Rows, func(a, b zoneRow) int { return strings.Compare(a.Name, b.Name) })

	cs := call(d.o.Logger, "certificates", d.o.Sources.Certificates)
	v.Certs = section[certRow]{Configured: cs.Configured, Failed: cs.Failed}
	for _, c := range cs.Rows {
		hosts := make([]string, len(c.Hosts))
		for i, h := range c.Hosts {
			hosts[i] = safe.Clean(h, 256)
		}
		c.Name = safe.Clean(c.Name, 256)
		left := c.NotAfter.Sub(now)
		row := certRow{Cert: c, Hosts: strings.Join(hosts, ", "), DaysLeft: int(left / (24 * time.Hour))}
		switch {
		case left <= 0:
			row.Class, row.Status = "bad", "expired"
		case left < d.o.CertWarn:
			row.Class, row.Status = "warn", "renew soon"
		default:
			row.Class, row.Status = "ok", "valid"
		}
		v.Certs.Rows = append(v.Certs.Rows, row)
	}
	slices.SortStableFunc(v.Certs.Rows, func(a, b certRow) int { return a.NotAfter.Compare(b.NotAfter) })
	if len(v.Certs.Rows) > 0 {
		first := v.Certs.Rows[0]
		v.Cards = append(v.Cards, card{Label: "Next certificate expiry", Value: days(first.DaysLeft),
			Note: first.Name, Class: first.Class})
	}

	if f := d.o.Sources.Grade; f != nil {
		v.GradeSet = true
		g := func() (g Grade) {
			defer func() {
				if p := recover(); p != nil {
					d.o.Logger.Error("dashboard: source failed", "source", "grade", "panic", fmt.Sprint(p))
					g = Grade{Err: "the grade source failed"}
				}
			}()
			return f()
		}()
		g.Target, g.Grade, g.Err = safe.Clean(g.Target, 256), safe.Clean(g.Grade, 4), safe.Clean(g.Err, 512)
		gv := gradeView{G: g, Pending: g.Checked.IsZero() && g.Err == ""}
		switch r := check.GradeRank(g.Grade); {
		case r >= check.GradeRank("A-"):
			gv.Class = "ok"
		case r >= check.GradeRank("C-"):
			gv.Class = "warn"
		default:
			gv.Class = "bad"
		}
		v.Grade = gv
		val := g.Grade
		if val == "" {
			val = "—"
		}
		v.Cards = append(v.Cards, card{Label: "rampart check grade", Value: val, Class: gv.Class})
	}
	return v
}

func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "\u202f" + s[i:]
	}
	return s
}

func days(n int) string {
	if n == 1 || n == -1 {
		return strconv.Itoa(n) + " day"
	}
	return strconv.Itoa(n) + " days"
}

// short writes a duration the way the page shows it: "3m", "2h 5m", "4d".
func short(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

var funcs = template.FuncMap{
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"count": count,
	"since": func(now, t time.Time) string {
		if now.Before(t) {
			return "just now"
		}
		return short(now.Sub(t)) + " ago"
	},
	"until": func(now, t time.Time) string {
		if !t.After(now) {
			return "now"
		}
		return "in " + short(t.Sub(now))
	},
	"days": days,
	"dur":  short,
}
