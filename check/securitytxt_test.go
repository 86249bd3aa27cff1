package check

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/securitytxt"
)

// probeSecurityTxt serves app over TLS on loopback and runs the
// security.txt probe at now.
func probeSecurityTxt(t *testing.T, app http.Handler, now time.Time) []Finding {
	t.Helper()
	f := start(t, strongTLS(t), app, func(string) http.Handler { return http.NotFoundHandler() })
	p := newProber(Options{}, f.tlsURL)
	defer p.client.CloseIdleConnections()
	return p.securityTxt(context.Background(), f.tlsURL, now)
}

func serveText(ct, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != securitytxt.Path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Write([]byte(body))
	})
}

func ids(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Severity)+":"+f.ID)
	}
	return strings.Join(out, " ")
}

const plain = "text/plain; charset=utf-8"

func TestSecurityTxt_Findings(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		app  http.Handler
		want string
	}{
		"good":         {serveText(plain, "Contact: mailto:s@example.com\nExpires: 2026-12-01T00:00:00Z\n"), ""},
		"missing":      {http.NotFoundHandler(), "info:security-txt-missing"},
		"catch-all":    {http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<!doctype html><title>app</title>")) }), "info:security-txt-missing"},
		"empty":        {serveText(plain, "# nothing here\n"), "info:security-txt-missing"},
		"expired":      {serveText(plain, "Contact: mailto:s@example.com\nExpires: 2026-05-31T23:59:59Z\n"), "warning:security-txt-expired"},
		"incomplete":   {serveText(plain, "Policy: https://example.com/p\n"), "warning:security-txt-no-contact warning:security-txt-no-expires"},
		"two expires":  {serveText(plain, "Contact: mailto:s@example.com\nExpires: 2026-12-01T00:00:00Z\nExpires: 2027-12-01T00:00:00Z\n"), "warning:security-txt-bad-expires"},
		"long expiry":  {serveText(plain, "Contact: mailto:s@example.com\nExpires: 2030-01-01T00:00:00Z\n"), "info:security-txt-long-expiry"},
		"content type": {serveText("application/octet-stream", "Contact: mailto:s@example.com\nExpires: 2026-12-01T00:00:00Z\n"), "info:security-txt-content-type"},
		"syntax":       {serveText(plain, "Contact: mailto:s@example.com\nExpires: 2026-12-01T00:00:00Z\nthis is prose\n"), "info:security-txt-syntax"},
		"same-host redirect": {http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/security.txt" {
				w.Header().Set("Content-Type", plain)
				w.Write([]byte("Contact: mailto:s@example.com\nExpires: 2026-12-01T00:00:00Z\n"))
				return
			}
			http.Redirect(w, r, "/security.txt", http.StatusMovedPermanently)
		}), ""},
		// Attack on the auditor: a redirect elsewhere is not followed.
		"foreign redirect": {http.RedirectHandler("https://evil.example/security.txt", http.StatusFound), "info:security-txt-missing"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := ids(probeSecurityTxt(t, tc.app, now)); got != tc.want {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
		})
	}
}

// The file rampart's own securitytxt package serves passes the audit.
func TestSecurityTxt_RampartsOwnFilePasses(t *testing.T) {
	file, err := securitytxt.New(securitytxt.Options{Contact: []string{"mailto:security@example.com"},
		Expires: time.Now().Add(90 * 24 * time.Hour), PreferredLanguages: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	f := start(t, strongTLS(t), file.Handler(http.HandlerFunc(strongApp)), func(port string) http.Handler {
		return http.RedirectHandler("https://127.0.0.1:"+port+"/", http.StatusMovedPermanently)
	})
	rep := run(t, f, Options{})
	for _, fd := range rep.Findings {
		if fd.Category == CategoryDisclosure {
			t.Errorf("finding on rampart's own security.txt: %+v", fd)
		}
	}
}

// Attack on the auditor's terminal: a hostile Expires is cleaned and
// bounded in the evidence.
func TestSecurityTxt_HostileEvidenceCleaned(t *testing.T) {
	body := "Contact: mailto:s@example.com\nExpires: \x1b]0;pwned\x07" + strings.Repeat("A", 5000) + "\n"
	fs := probeSecurityTxt(t, serveText(plain, body), time.Now())
	if len(fs) == 0 {
		t.Fatal("no finding")
	}
	for _, f := range fs {
		if strings.ContainsAny(f.Evidence, "\x1b\x07") || len(f.Evidence) > 200 {
			t.Errorf("evidence not cleaned: %q", f.Evidence)
		}
	}
}
