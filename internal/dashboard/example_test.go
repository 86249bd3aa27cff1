package dashboard_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/rampart-dev/rampart/check"
	"github.com/rampart-dev/rampart/internal/dashboard"
	"github.com/rampart-dev/rampart/seclog"
)

// How a gateway wires the dashboard: one Recorder fed by every response
// and by the security log, sources for what other components own, a
// Grader in the background, and the Dashboard mounted at the root of the
// admin listener's mux, behind its access check.
func Example() {
	sec := seclog.New(slog.Default())
	rec := dashboard.NewRecorder(dashboard.RecorderOptions{})
	sec.Observe(rec.Observe)

	grader := dashboard.NewGrader(dashboard.GraderOptions{
		Target: "https://app.example.com/",
		// Audit the public listener on loopback under its public name.
		Check: check.Options{Resolve: []check.Resolve{{Host: "app.example.com", Port: 443, Addr: netip.MustParseAddr("127.0.0.1")}}},
	})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go grader.Run(ctx)

	d, err := dashboard.New(dashboard.Options{
		Recorder: rec,
		Title:    "app.example.com",
		Sources: dashboard.Sources{
			Certificates: func() []dashboard.Cert {
				return []dashboard.Cert{{Name: "app.pem", Hosts: []string{"app.example.com"}, NotAfter: time.Now().Add(60 * 24 * time.Hour)}}
			},
			Grade: grader.Grade,
			// Bans and Zones from their packages; nil shows "not configured".
		},
	})
	if err != nil {
		panic(err)
	}
	admin := http.NewServeMux()
	admin.Handle("/", d) // the rest of the admin API on more specific patterns

	// The public side: Request(status, stage) where the gateway knows
	// which stage answered, or the Handler middleware around it all.
	public := rec.Handler(http.NotFoundHandler())
	_, _ = admin, public
}
