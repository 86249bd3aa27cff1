package admin

import (
	"context"
	"time"

	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/metrics"
)

// CertificateMetrics adapts (*tlsconf.Server).Leaves to
// metrics.Metrics.SetCertificates: each configured host's certificate in
// service, read at each scrape within a short timeout (the ACME cache is
// on disk).
func CertificateMetrics(leaves func(context.Context) []tlsconf.Leaf) func() []metrics.Certificate {
	return func() []metrics.Certificate {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ls := leaves(ctx)
		out := make([]metrics.Certificate, 0, len(ls))
		for _, l := range ls {
			if l.Cert != nil {
				out = append(out, metrics.Certificate{Name: l.Name, NotAfter: l.Cert.NotAfter})
			}
		}
		return out
	}
}
