package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart/internal/testenv/chromium"
)

// The screenshots of the dashboard in docs/screenshots are written by this
// test when RAMPART_UPDATE_SCREENSHOTS=1 (the variable the gateway's
// browser test uses too); a normal run writes nothing into the repository.
const (
	screenshotDir        = "../../docs/screenshots"
	updateScreenshotsVar = "RAMPART_UPDATE_SCREENSHOTS"
	viewportW            = 1200
	viewportH            = 900
	stepTimeout          = 20 * time.Second
	wholeTestDeadline    = 2 * time.Minute
)

// browserSetup is the dashboard on a loopback server, with a CSP report
// endpoint, a control page that breaks the same CSP, and Chromium.
type browserSetup struct {
	url     string
	evil    string       // another origin's page framing the dashboard
	reports atomic.Int32 // CSP reports about the dashboard
	control atomic.Int32 // CSP reports about the control page
	framed  atomic.Int32 // frame-ancestors reports (the framing attack)
	loads   atomic.Int32 // loads of the page itself
	actx    context.Context

	console chromium.Console
}

func newBrowserSetup(t *testing.T) *browserSetup {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	s := &browserSetup{}

	d, _, _ := fixture(t)
	d.o.Refresh = 2 * time.Second // the smallest allowed, to see it reload
	d.reportURI = "/csp-report"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /csp-report", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		switch {
		case strings.Contains(string(body), "/csp-control"):
			s.control.Add(1)
		case strings.Contains(string(body), `"violated-directive":"frame-ancestors"`):
			s.framed.Add(1)
		default:
			s.reports.Add(1)
			t.Logf("CSP report: %s", body)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// The control: the dashboard's own policy on a page with an inline
	// style and an inline script, which the policy must refuse; if its
	// violations are not seen, the detectors prove nothing.
	mux.HandleFunc("GET /csp-control", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", CSP+"; report-uri /csp-report")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang=en><head><title>control</title><style>p{color:red}</style></head><body><p id=control>control</p><script>document.title='ran'</script></body></html>`)
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			s.loads.Add(1)
		}
		d.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	// Another origin (another port) that frames the dashboard, for the
	// clickjacking attack.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang=en><head><title>evil</title></head><body><p id=evil>evil</p><iframe src="`+srv.URL+`/"></iframe></body></html>`)
	}))
	t.Cleanup(evil.Close)
	s.evil = evil.URL

	actx := chromium.Allocator(t, wholeTestDeadline,
		chromedp.WindowSize(viewportW, viewportH),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		// Only the loopback server: every name fails to resolve.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	s.actx = actx
	return s
}

// tab opens a new tab in the colour scheme, with or without JavaScript,
// and records its console.
func (s *browserSetup) tab(t *testing.T, scheme string, script bool) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(s.actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	if !script {
		if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(viewportW, viewportH)); err != nil {
		t.Fatal(err)
	}
	s.console.Record(tab)
	ctx, scancel := context.WithTimeout(tab, stepTimeout)
	t.Cleanup(scancel)
	return ctx
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

func (s *browserSetup) consoleCSP(path string) []string {
	var out []string
	for _, m := range s.console.Messages() {
		if strings.Contains(m.Text, "Content Security Policy") && strings.Contains(m.URL+m.Text, path) {
			out = append(out, m.URL+": "+m.Text)
		}
	}
	return out
}

// checkRendered asserts the page as a person sees it: the heading, bars in
// both charts, the line, the styles applied, and hostile values shown as
// text. It reads the DOM through DevTools, so it works with scripts off.
func checkRendered(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatalf("waiting for the page: %v", err)
	}
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || h1 != "Security dashboard" {
		t.Errorf("h1 = %q, %v", h1, err)
	}
	for _, id := range []string{"chart-requests", "chart-rejections"} {
		rects, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#"+id+" svg .bars rect")))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if len(rects) == 0 {
			t.Errorf("%s: no bar drawn", id)
		}
		t.Logf("%s: %d bars", id, len(rects))
	}
	if _, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#chart-rejections svg polyline"))); err != nil {
		t.Errorf("rejections chart: no line: %v", err)
	}
	// The stylesheet applied: a section has its rounded border.
	style, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS("section[aria-labelledby=h-traffic]")))
	if err != nil {
		t.Fatal(err)
	}
	radius := ""
	for _, p := range style {
		if p.Name == "border-top-left-radius" {
			radius = p.Value
		}
	}
	if radius != "10px" {
		t.Errorf("section border radius %q: the stylesheet did not apply", radius)
	}
	// The hostile path is text in the page, and no element came of it.
	events, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("table.events")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(events, hostileScript) {
		t.Errorf("the hostile path is not shown as text: %q", events)
	}
	if strings.ContainsAny(events, "\u202e\u2066") {
		t.Errorf("bidi control characters reached the page")
	}
	if n, _ := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("script"), chromedp.AtLeast(0))); len(n) != 0 {
		t.Errorf("%d script elements in the page", len(n))
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv(updateScreenshotsVar) != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", filepath.Join(screenshotDir, name))
}

// TestBrowser_Dashboard loads the dashboard, with events present, in
// Chromium: no CSP violation (no report, nothing in the console, while the
// control page's violations are seen), the charts drawn, the same with
// JavaScript disabled, and the page reloading itself.
func TestBrowser_Dashboard(t *testing.T) {
	s := newBrowserSetup(t)

	t.Run("Light", func(t *testing.T) {
		ctx := s.tab(t, "light", true)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/")); err != nil {
			t.Fatal(err)
		}
		checkRendered(t, ctx)
		screenshot(t, ctx, "dashboard.png")
	})
	t.Run("Dark", func(t *testing.T) {
		ctx := s.tab(t, "dark", true)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/")); err != nil {
			t.Fatal(err)
		}
		checkRendered(t, ctx)
		bg, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range bg {
			if p.Name == "color" && p.Value != "rgb(230, 237, 243)" {
				t.Errorf("dark scheme: body colour %s, want the dark palette's", p.Value)
			}
		}
		screenshot(t, ctx, "dashboard-dark.png")
	})
	t.Run("WithoutJavaScript", func(t *testing.T) {
		ctx := s.tab(t, "light", false)
		before := s.loads.Load()
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/")); err != nil {
			t.Fatal(err)
		}
		checkRendered(t, ctx)
		// The <meta> refresh reloads the page with scripts off (and
		// the CSP does not stop it).
		if !waitFor(ctx, func() bool { return s.loads.Load() >= before+2 }) {
			t.Errorf("the page did not reload itself: %d loads", s.loads.Load()-before)
		}
	})
	t.Run("NoCSPViolation", func(t *testing.T) {
		ctx := s.tab(t, "light", true)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/csp-control"), chromedp.WaitVisible(chromedp.ID("control"))); err != nil {
			t.Fatal(err)
		}
		if !waitFor(ctx, func() bool { return s.control.Load() > 0 }) {
			t.Fatal("the control page's violation was never reported: the check proves nothing")
		}
		if !waitFor(ctx, func() bool { return len(s.consoleCSP("/csp-control")) > 0 }) {
			t.Fatal("the control page's violation never reached the console: the check proves nothing")
		}
		// The reports of the dashboard's loads would have arrived
		// with the control's (sent in order, on one connection).
		if n := s.reports.Load(); n != 0 {
			t.Errorf("%d CSP reports about the dashboard", n)
		}
		for _, m := range s.console.Messages() {
			if strings.Contains(m.URL, "/csp-control") || strings.Contains(m.Text, "/csp-control") {
				continue
			}
			t.Errorf("console message on the dashboard: %s %s %s: %s", m.Type, m.Source, m.URL, m.Text)
		}
	}) // Clickjacking: another origin frames the dashboard; the browser
	// refuses (frame-ancestors 'none') and reports it. Last, as its
	// report is a violation by design.
	t.Run("FramingRefused", func(t *testing.T) {
		ctx := s.tab(t, "light", true)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.evil+"/"), chromedp.WaitVisible(chromedp.ID("evil"))); err != nil {
			t.Fatal(err)
		}
		if !waitFor(ctx, func() bool { return s.framed.Load() > 0 }) {
			t.Fatal("the framed dashboard was not refused (no frame-ancestors report)")
		}
	})
}
