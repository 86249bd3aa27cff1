package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/check"
)

// rampart on its default configuration, audited by `rampart check` over
// the network like any site: A+ (score ≥ 100) with no TLS finding and no
// error at all.
func TestGateway_DefaultConfigGradesAPlus(t *testing.T) {
	h := startFor(t, "localhost", upstream(t).URL, "")
	_, port, _ := strings.Cut(h.httpsAddr, ":")
	_, httpPort, _ := strings.Cut(h.httpAddr, ":")
	rep, err := check.Run(context.Background(), "https://localhost:"+port+"/", check.Options{
		RootCAs: h.pool,
		HTTPURL: "http://localhost:" + httpPort + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Score < 100 || rep.Grade != "A+" {
		t.Errorf("default rampart scored %d (%s), want A+ ≥ 100", rep.Score, rep.Grade)
	}
	for _, f := range rep.Findings {
		if f.Category == check.CategoryTLS && f.Severity != check.Info || f.Severity == check.Error {
			t.Errorf("finding on default rampart: %s %s: %s (%s)", f.Severity, f.ID, f.Title, f.Evidence)
		}
	}
	if t.Failed() {
		var b strings.Builder
		check.WriteText(&b, rep)
		t.Log(b.String())
	}
}
