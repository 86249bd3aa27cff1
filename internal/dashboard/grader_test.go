package dashboard

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/check"
)

// The Grader with the real check.Run against a TLS listener on loopback
// (here the dashboard itself), as the gateway runs it against its public
// listener: a grade, no error, and the page shows it.
func TestGrader_RealCheckOnLoopback(t *testing.T) {
	d, _, _ := fixture(t)
	srv := httptest.NewUnstartedServer(d)
	// The audit's refused handshakes (old suites) are expected.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	t.Cleanup(redirect.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	g := NewGrader(GraderOptions{
		Target: srv.URL + "/",
		Check:  check.Options{RootCAs: roots, HTTPURL: redirect.URL + "/", Timeout: 10 * time.Second},
	})
	g.Once(context.Background())
	got := g.Grade()
	if got.Err != "" || !check.ValidGrade(got.Grade) || got.Checked.IsZero() {
		t.Fatalf("grade %+v", got)
	}
	t.Logf("the dashboard's own responses grade %s (%d)", got.Grade, got.Score)

	d.o.Sources.Grade = g.Grade
	body := get(t, d, "GET", "/").Body.String()
	if !strings.Contains(body, "Score <strong>") || !strings.Contains(body, srv.URL) {
		t.Errorf("the grade is not on the page")
	}
}

// TestGrader_Retarget: after a reload renames the public listener, the
// next audit is of the new name.
func TestGrader_Retarget(t *testing.T) {
	var audited []string
	g := NewGrader(GraderOptions{Target: "https://old.example/", Run: func(_ context.Context, target string, _ check.Options) (*check.Report, error) {
		audited = append(audited, target)
		return &check.Report{Grade: "A", Score: 100}, nil
	}})
	g.Once(context.Background())
	g.Retarget("https://new.example/", check.Options{})
	g.Once(context.Background())
	if len(audited) != 2 || audited[1] != "https://new.example/" || g.Grade().Target != "https://new.example/" {
		t.Errorf("audited %v, grade of %q", audited, g.Grade().Target)
	}
}
