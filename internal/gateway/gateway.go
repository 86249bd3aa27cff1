// Package gateway assembles rampart from a compiled configuration plan: the
// certificate source, the HTTPS and redirect listeners, the log streams and
// the request pipeline in front of the reverse proxy.
//
// A running gateway takes a new plan with Reload: the listeners and their
// connections stay, everything a plan decides (hosts, certificates, the
// pipeline and its rules) is rebuilt beside the running one and swapped in
// at once, and what must outlive a plan (rate-limit states, the state
// store, open log files) is handed over rather than rebuilt.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/internal/admin"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/dashboard"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/metrics"
	"github.com/rampart-dev/rampart/seclog"
)

// Options are what the gateway needs beyond the plan.
type Options struct {
	// Logger is rampart's own diagnostic log. Nil means slog.Default().
	Logger *slog.Logger
	// Stdout and Stderr receive the access log and the security log when
	// the plan sends them to the standard streams. Nil means os.Stdout and
	// os.Stderr.
	Stdout, Stderr io.Writer
	// HTTPSListener and HTTPListener, when not nil, are served instead of
	// opening the plan's addresses (tests and socket activation pass
	// listeners).
	HTTPSListener, HTTPListener net.Listener
	// Version is rampart's version, for the sys_startup event and
	// rampart_build_info.
	Version string
	// AdminListener, when not nil, is served by the admin listener
	// instead of opening admin.listen (tests pass :0 listeners).
	AdminListener net.Listener
	// Source is where the configuration came from: the admin listener's
	// reload API reads it again. Zero: no reload API.
	Source config.Source
}

// Gateway is a running configuration. Build it with New, serve with Run,
// replace its configuration with Reload.
type Gateway struct {
	o      Options
	logger *slog.Logger
	port   int // the HTTPS listener's port, the one a Host may name

	// The log streams are opened once and their files swapped by a
	// reload: the security log's observers (metrics, bans) and the
	// access log's writer stay the same objects.
	access, secW *swapWriter
	sec          *seclog.Logger
	// rec counts responses and security events for the dashboard; it
	// outlives reloads, as metrics do.
	rec     *dashboard.Recorder
	metrics *metrics.Metrics
	// admin is the admin listener, nil when admin.listen is off; grader
	// audits the public listener for its dashboard.
	admin  *admin.Server
	grader *dashboard.Grader

	https *listen.Server
	http  *listen.Server // nil when the redirect listener is off

	// banner is the auto-ban, nil when it is off; it outlives reloads
	// (Reconfigure changes its jail), holding the state store by keys.
	banner *ban.Banner
	keys   []string
	sweep  atomic.Int64

	cur  atomic.Pointer[generation]
	res  *resources
	mu   sync.Mutex // serialises Reload and Run's start
	ctx  context.Context
	wg   sync.WaitGroup // generations' runners and retirements
	done bool
}

// New builds everything the plan describes, opening log files and loading
// certificates, but accepts no connection yet. On error it releases what it
// had built.
func New(plan *config.Plan, o Options) (_ *Gateway, err error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	g := &Gateway{o: o, logger: o.Logger, port: httpsPort(plan.HTTPS, o.HTTPSListener), res: newResources()}
	g.access = &swapWriter{std: o.Stdout}
	g.secW = &swapWriter{std: o.Stderr}
	g.sec = seclog.New(slog.New(slog.NewJSONHandler(g.secW, nil)))
	g.rec = dashboard.NewRecorder(dashboard.RecorderOptions{})
	g.sec.Observe(g.rec.Observe)
	if err := g.newMetrics(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if done, err := g.access.replace(plan.AccessFile); err != nil {
		return nil, fmt.Errorf("log.access: %w", err)
	} else {
		done(true)
	}
	if done, err := g.secW.replace(plan.SecurityLog); err != nil {
		return nil, fmt.Errorf("log.security: %w", err)
	} else {
		done(true)
	}
	if plan.BanEnabled {
		if err := g.openBanner(plan); err != nil {
			return nil, err
		}
	}
	gen, err := g.build(plan, nil)
	if err != nil {
		return nil, err
	}
	g.cur.Store(gen)
	g.inService(gen)

	// Both listeners cap each client's open connections, the listeners
	// given in Options included (listen.Run wraps them); trusted proxies
	// (plan.Listen.TrustedProxies) carry many clients and are not
	// counted. The listeners' settings are fixed for the process's life
	// (see Reload); their handlers and certificates follow the current
	// generation.
	lo := plan.Listen
	lo.Logger, lo.SecurityLog = o.Logger, g.sec
	if g.banner != nil {
		// A banned client's connections end before the TLS handshake.
		lo.Refuse = g.banner.RefuseConn
	}
	lo.Rejected = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, (*generation).rejected) })
	if g.https, err = listen.NewServer(plan.HTTPS, http.HandlerFunc(g.ServeHTTP), g.tlsConfig(gen), lo); err != nil {
		return nil, err
	}
	g.https.Listener = o.HTTPSListener
	if plan.HTTP != "" || o.HTTPListener != nil {
		redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, (*generation).redirectHandler) })
		if g.http, err = listen.NewServer(plan.HTTP, redirect, nil, lo); err != nil {
			return nil, err
		}
		g.http.Listener = o.HTTPListener
	}
	if err := g.openAdmin(plan); err != nil {
		return nil, err
	}
	return g, nil
}

// openBanner opens the state store the bans are kept in (shared through
// ban.redis, or auth.redis) and starts the auto-ban, watching the
// security log.
func (g *Gateway) openBanner(plan *config.Plan) error {
	d := pipelineDeps{logger: g.logger, res: g.res, keys: &g.keys, sweep: &g.sweep}
	store, err := d.openState(plan, plan.BanRedis)
	if err != nil {
		if plan.BanRedis != nil {
			return fmt.Errorf("ban.redis: %w", err)
		}
		return err
	}
	bo := plan.Ban
	bo.Store, bo.Log = store, g.sec
	if g.banner, err = ban.New(bo); err != nil {
		return err
	}
	g.sec.Observe(g.banner.Observe)
	return nil
}

// httpsPort is the port redirects point at.
func httpsPort(addr string, ln net.Listener) int {
	if ln != nil {
		addr = ln.Addr().String()
	}
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}

// ServeHTTP is the HTTPS request pipeline of the current configuration.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.serve(w, r, (*generation).httpsHandler)
}

// serve runs the request on one handler of the current generation, which
// stays alive (its closers open) until the request is done, even when a
// reload replaces it meanwhile.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, pick func(*generation) http.Handler) {
	gen := g.cur.Load()
	if gen == nil {
		// Closed: a connection that outlived the shutdown.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	gen.inflight.Add(1)
	for gen.retired.Load() {
		// A reload retired gen between the two lines above, and may
		// have found it idle and released it: take the current one.
		gen.release()
		if gen = g.cur.Load(); gen == nil {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		gen.inflight.Add(1)
	}
	defer gen.release()
	pick(gen).ServeHTTP(w, r)
}

// Handler is the HTTPS request pipeline, for tests and embedding. It
// follows reloads.
func (g *Gateway) Handler() http.Handler { return http.HandlerFunc(g.ServeHTTP) }

// SecurityLog is the gateway's security event log, for observers.
func (g *Gateway) SecurityLog() *seclog.Logger { return g.sec }

// Plan is the configuration in force.
func (g *Gateway) Plan() *config.Plan { return g.cur.Load().plan }

// Listen opens the listeners' addresses (those not given in Options), so
// that a port in use or a privileged port is reported before anything
// says it is serving. Run calls it if it has not been.
func (g *Gateway) Listen() error {
	if err := listen.ListenAll(g.servers()...); err != nil {
		return err
	}
	if g.admin != nil {
		if err := g.admin.Listen(); err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	return nil
}

func (g *Gateway) servers() []*listen.Server {
	servers := []*listen.Server{g.https}
	if g.http != nil {
		servers = append(servers, g.http)
	}
	return servers
}

// Run serves until ctx is done, then drains in-flight requests within the
// shutdown timeout. It returns the first listener error.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	ctx, cancel := context.WithCancel(ctx)
	g.mu.Lock()
	g.ctx = ctx
	g.start(g.cur.Load())
	g.mu.Unlock()
	if g.admin != nil {
		if err := g.admin.Listen(); err != nil {
			cancel()
			g.wg.Wait()
			return err
		}
		g.wg.Go(func() {
			if err := g.admin.Run(ctx); err != nil {
				g.logger.Error("admin listener", "err", err)
			}
		})
	}
	// The certificate reloader, ticket-key rotation and the other
	// background work stop before Run returns, not at some later point.
	defer func() {
		cancel()
		g.mu.Lock()
		g.done = true
		g.mu.Unlock()
		g.wg.Wait()
	}()
	plan := g.Plan()
	g.sec.Event(ctx, nil, slog.LevelInfo, seclog.SysStartup, "rampart started",
		slog.String("version", g.o.Version), slog.String("https", g.httpsAddr()), slog.String("upstream", plan.Proxy.Upstream.Redacted()))
	err := listen.Run(ctx, g.servers()...)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	reason := "signal"
	if err != nil {
		reason = "listener error: " + err.Error()
	}
	// Logged before Close, while the security log is still open.
	g.sec.Event(context.WithoutCancel(ctx), nil, slog.LevelInfo, seclog.SysShutdown, "rampart stopped", slog.String("reason", reason))
	return err
}

// httpAddr is the redirect listener's address, once it is open.
func (g *Gateway) httpAddr() string {
	if g.http.Listener != nil {
		return g.http.Listener.Addr().String()
	}
	return g.http.HTTP.Addr
}

// httpsAddr is the HTTPS listener's address, once it is open.
func (g *Gateway) httpsAddr() string {
	if g.https.Listener != nil {
		return g.https.Listener.Addr().String()
	}
	return g.https.HTTP.Addr
}

// Reopen reopens the log files (after logrotate moved them away, or
// rotated in place by rampart's own rotation otherwise) and checks the
// certificate files for a new pair at once rather than at the next poll.
// The configuration is not read again: that is Reload.
func (g *Gateway) Reopen() error {
	return errors.Join(g.access.rotate(), g.secW.rotate(), g.cur.Load().tls.Reload())
}

// Close releases log files and the current configuration's resources. Run
// calls it on return.
func (g *Gateway) Close() error {
	var errs []error
	if gen := g.cur.Swap(nil); gen != nil {
		errs = append(errs, gen.close())
	}
	if g.banner != nil {
		errs = append(errs, g.banner.Close())
		g.banner = nil
	}
	errs = append(errs, g.res.closeAll(), g.access.close(), g.secW.close())
	return errors.Join(errs...)
}
