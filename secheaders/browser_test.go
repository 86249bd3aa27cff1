package secheaders

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/internal/testenv/chromium"
	"github.com/rampart-dev/rampart/seclog"
)

// TestBrowser_NonceAndInjectedScript drives a real Chromium against the
// middleware: the application's nonce'd script runs, an injected inline
// script (a reflected XSS) is blocked, and the browser's violation report
// reaches the collector and the security log.
func TestBrowser_NonceAndInjectedScript(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}

	var logs testenv.Buffer
	m := mustNew(t, Policy{CSP: CSP{
		Nonce:  NonceOptions{Enabled: true},
		Report: ReportOptions{Enabled: true, Collector: CollectorOptions{Log: seclog.New(slog.New(slog.NewJSONHandler(&logs, nil)))}},
	}})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The application uses the nonce it was handed in the request
		// header; the second script stands for attacker markup that the
		// page reflects.
		fmt.Fprintf(w, `<!doctype html><html><head><title>t</title></head><body>
<script nonce="%s">window.appRan = true;</script>
<script>window.injectedRan = true;</script>
</body></html>`, r.Header.Get("X-CSP-Nonce"))
	})
	mux := http.NewServeMux()
	mux.Handle("/", app)
	mux.Handle(m.ReportPath(), m.Collector())
	srv := httptest.NewTLSServer(m.Handler(mux))
	defer srv.Close()

	actx := chromium.Allocator(t, 90*time.Second,
		chromedp.Flag("ignore-certificate-errors", true),
		// Deliver Reporting API reports after 100 ms instead of a minute.
		chromedp.Flag("short-reporting-delay", true),
	)
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	appRan, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.appRan === true`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	injectedRan, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.injectedRan === true`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if !appRan {
		t.Error("the application's nonce'd script did not run")
	}
	if injectedRan {
		t.Error("the injected inline script ran despite the CSP")
	}
	// Wait (bounded by the browser's deadline) for it to deliver its report.
	for !strings.Contains(logs.String(), `"event.action":"csp_violation"`) {
		select {
		case <-bctx.Done():
			t.Fatalf("no violation report reached the collector; log:\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if l := logs.String(); !strings.Contains(l, `"effective_directive":"script-src-elem"`) || !strings.Contains(l, `"blocked_uri":"inline"`) {
		t.Errorf("violation record lacks directive or blocked uri:\n%s", l)
	}
}
