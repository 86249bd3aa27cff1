package gateway

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/check"
	"github.com/rampart-dev/rampart/internal/admin"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/dashboard"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/metrics"
	redisstore "github.com/rampart-dev/rampart/ratelimit/redis"
	"github.com/rampart-dev/rampart/seclog"
)

// What the gateway does for its operators, all on the admin listener:
//
//	/metrics      Prometheus metrics (package metrics), built once per
//	              process so that counters go on across reloads
//	/healthz      alive
//	/readyz       the upstream answers, Redis answers when configured,
//	              the certificates in service are valid
//	/             the security dashboard (internal/dashboard)
//	/api/bans     the ban API of `rampart ban`, with the auto-ban on
//	/api/reload   the reload API of `rampart reload`
//
// The admin listener's own settings (admin.listen, admin.token_secret)
// are fixed while the process runs, like the public listeners'.

// newMetrics builds the process's metrics and subscribes them to the
// security log.
func (g *Gateway) newMetrics() error {
	m, err := metrics.New(metrics.Options{Version: g.o.Version})
	if err != nil {
		return err
	}
	g.metrics = m
	g.sec.Observe(m.ObserveSecurityEvent)
	g.sec.Observe(func(r seclog.Record) {
		if r.Action == ban.ActionBanned {
			m.BanAdded()
		}
	})
	m.SetCertificates(admin.CertificateMetrics(g.leaves))
	return nil
}

// leaves are the certificates in service now.
func (g *Gateway) leaves(ctx context.Context) []tlsconf.Leaf {
	if gen := g.cur.Load(); gen != nil {
		return gen.tls.Leaves(ctx)
	}
	return nil
}

// inService points what outlives a configuration at what gen built: the
// metrics at its routes and body budgets, the dashboard's grader at its
// public names.
func (g *Gateway) inService(gen *generation) {
	if g.grader != nil {
		// The dashboard grades the public listener under the names
		// of the configuration in force.
		g.grader.Retarget(g.publicURL(gen.plan), g.checkOptions(gen.plan))
	}
	if route, err := metrics.RouteByPrefix(gen.plan.RoutePrefixes()); err == nil {
		g.metrics.SetRoute(route)
	} else {
		g.logger.Warn("metrics: the route label is \"other\" for every request", "err", err)
		g.metrics.SetRoute(nil)
	}
	if px := gen.pipe.proxy; px != nil {
		g.metrics.SetBodyBufferUse(px.BodyBufferUse)
	}
}

// openAdmin builds the admin listener (unless admin.listen is off) and
// mounts what it serves.
func (g *Gateway) openAdmin(plan *config.Plan) error {
	ao := plan.Admin
	ao.Logger, ao.SecLog = g.logger, g.sec
	if g.o.AdminListener != nil {
		ao.Listener = g.o.AdminListener
	}
	if ao.Disabled() {
		return nil
	}
	adm, err := admin.New(ao)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	g.admin = adm
	adm.Handle("GET /metrics", g.metrics.HTTPHandler())
	g.metrics.SetHTTP1LaneConnections(g.https.LaneConnections)
	if g.banner != nil {
		b := g.banner
		g.metrics.SetBansActive(func() int { return b.Stats().Active })
		adm.Handle(ban.AdminPath, ban.AdminHandler(b))
	}
	if g.o.Source.Path != "" || g.o.Source.Data != nil {
		adm.Handle(ReloadPath, g.ReloadHandler(g.o.Source))
	}
	adm.Handle(RevokePath, g.RevokeHandler())

	// Readiness follows the configuration in force.
	adm.AddCheck("upstream", func(ctx context.Context) error {
		return admin.CheckUpstream(g.Plan().Proxy.Upstream, 2*time.Second)(ctx)
	})
	adm.AddCheck("certificate", admin.CheckLeaves(g.leaves))
	// Every Redis client the configuration in force uses (the state
	// store's, the shared rate-limit zones'); none, none to check.
	adm.AddCheck("redis", func(ctx context.Context) error {
		for _, v := range g.res.values() {
			var err error
			switch s := v.(type) {
			case *state.Redis:
				err = s.Ping(ctx)
			case *redisstore.Store:
				err = s.Ping(ctx)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})

	g.grader = dashboard.NewGrader(dashboard.GraderOptions{Target: g.publicURL(plan), Check: g.checkOptions(plan)})
	d, err := dashboard.New(dashboard.Options{
		Recorder: g.rec,
		Title:    strings.Join(plan.Hosts, ", "),
		Logger:   g.logger,
		Sources: dashboard.Sources{
			Bans:         g.dashboardBans(),
			Zones:        g.dashboardZones,
			Certificates: g.dashboardCerts,
			Grade:        g.grader.Grade,
		},
	})
	if err != nil {
		return err
	}
	adm.Handle("/", g.gradeOnFirstView(d))
	return nil
}

// gradeOnFirstView starts the grader when the dashboard is first shown:
// the audit sends requests to the public listener (and through it to the
// application, exposure probes included), which a deployment whose
// dashboard nobody opens should not see every 10 minutes.
func (g *Gateway) gradeOnFirstView(next http.Handler) http.Handler {
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.ctx != nil && !g.done {
				ctx := g.ctx
				g.wg.Go(func() { g.grader.Run(ctx) })
			}
		})
		next.ServeHTTP(w, r)
	})
}

// firstHost is the name the dashboard audits the public listener under.
func firstHost(plan *config.Plan) string {
	if len(plan.Hosts) > 0 {
		return plan.Hosts[0]
	}
	return "localhost"
}

// publicURL is the address of the public listener as clients name it,
// which the dashboard's grader audits.
func (g *Gateway) publicURL(plan *config.Plan) string {
	host := firstHost(plan)
	if g.port == 443 || g.port == 0 {
		return "https://" + host + "/"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(g.port)) + "/"
}

// checkOptions audit the public listener on loopback under its public
// name, as `rampart check --resolve` would: the grade is of this
// process, not of whatever DNS points at.
func (g *Gateway) checkOptions(plan *config.Plan) check.Options {
	host := firstHost(plan)
	lo := netip.MustParseAddr("127.0.0.1")
	o := check.Options{Resolve: []check.Resolve{{Host: host, Port: g.port, Addr: lo}}}
	if g.http != nil {
		if _, p, err := net.SplitHostPort(g.httpAddr()); err == nil {
			o.HTTPURL = "http://" + net.JoinHostPort(host, p) + "/"
		}
	}
	// A development certificate is trusted by no one; the grade is
	// about everything else.
	o.InsecureAcceptCert = plan.TLSMode() == "development certificate"
	return o
}

func (g *Gateway) dashboardBans() func() []dashboard.Ban {
	if g.banner == nil {
		return nil
	}
	return func() []dashboard.Ban {
		var out []dashboard.Ban
		for _, e := range g.banner.List() {
			out = append(out, dashboard.Ban{Client: e.Prefix.String(), Until: e.Until, Reason: e.Reason})
		}
		return out
	}
}

func (g *Gateway) dashboardZones() []dashboard.Zone {
	p := g.Plan()
	var out []dashboard.Zone
	for _, name := range slices.Sorted(maps.Keys(p.RateLimit.Zones)) {
		z := p.RateLimit.Zones[name]
		burst := 0
		for _, r := range p.RateLimit.Rules {
			for _, l := range r.Limits {
				if l.Zone == name {
					burst = max(burst, l.Burst)
				}
			}
		}
		key := z.Key
		if key == "" {
			key = "client_ip"
		}
		out = append(out, dashboard.Zone{Name: name, Rate: z.Rate.String(), Burst: burst, Key: key})
	}
	return out
}

func (g *Gateway) dashboardCerts() []dashboard.Cert {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []dashboard.Cert
	for _, l := range g.leaves(ctx) {
		if l.Cert == nil {
			continue
		}
		out = append(out, dashboard.Cert{Name: l.Name, Hosts: l.Cert.DNSNames, NotAfter: l.Cert.NotAfter})
	}
	return out
}

// AdminAddr is the admin listener's address once it is open, nil when it
// is off.
func (g *Gateway) AdminAddr() net.Addr {
	if g.admin == nil {
		return nil
	}
	return g.admin.Addr()
}
