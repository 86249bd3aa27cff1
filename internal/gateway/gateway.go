// Package gateway assembles rampart from a compiled configuration plan: the
// certificate source, the HTTPS and redirect listeners, the log streams and
// the request pipeline in front of the reverse proxy.
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
	"slices"
	"strconv"
	"sync"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/tlsconf"
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
	// opening the plan's addresses (tests pass :0 listeners).
	HTTPSListener, HTTPListener net.Listener
}

// Gateway is a running configuration. Build it with New, serve with Run.
type Gateway struct {
	plan    *config.Plan
	logger  *slog.Logger
	tls     *tlsconf.Server
	https   *listen.Server
	http    *listen.Server // nil when the redirect listener is off
	handler http.Handler
	closers []io.Closer
	runners []func(context.Context)
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
	g := &Gateway{plan: plan, logger: o.Logger}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if err := os.MkdirAll(plan.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}

	accessW, err := g.openLog(plan.AccessFile, o.Stdout)
	if err != nil {
		return nil, fmt.Errorf("log.access: %w", err)
	}
	secW, err := g.openLog(plan.SecurityLog, o.Stderr)
	if err != nil {
		return nil, fmt.Errorf("log.security: %w", err)
	}
	sec := seclog.New(slog.New(slog.NewJSONHandler(secW, nil)))

	tlsOpts := plan.TLS
	tlsOpts.Logger = o.Logger
	if g.tls, err = tlsconf.New(tlsOpts); err != nil {
		return nil, err
	}

	pl, err := buildPipeline(plan, pipelineDeps{logger: o.Logger, access: accessW, sec: sec, closers: &g.closers,
		runners: &g.runners, port: httpsPort(plan.HTTPS, o.HTTPSListener)})
	if err != nil {
		return nil, err
	}
	g.handler = pl.https

	// Both listeners cap each client's open connections, the listeners
	// given in Options included (listen.Run wraps them); trusted proxies
	// (plan.Listen.TrustedProxies) carry many clients and are not
	// counted.
	lo := plan.Listen
	lo.Logger, lo.SecurityLog, lo.Rejected = o.Logger, sec, pl.rejected
	if g.https, err = listen.NewServer(plan.HTTPS, g.handler, g.tls.TLSConfig(), lo); err != nil {
		return nil, err
	}
	g.https.Listener = o.HTTPSListener
	if plan.HTTP != "" || o.HTTPListener != nil {
		rd, err := listen.NewRedirect(listen.RedirectOptions{
			Hosts:         plan.Hosts,
			HTTPSPort:     httpsPort(plan.HTTPS, o.HTTPSListener),
			ACMEChallenge: g.tls.ChallengeHandler(),
			Logger:        o.Logger,
		})
		if err != nil {
			return nil, err
		}
		if g.http, err = listen.NewServer(plan.HTTP, pl.around(rd), nil, lo); err != nil {
			return nil, err
		}
		g.http.Listener = o.HTTPListener
	}
	return g, nil
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

// Handler is the HTTPS request pipeline, for tests and embedding.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Listen opens the listeners' addresses (those not given in Options), so
// that a port in use or a privileged port is reported before anything
// says it is serving. Run calls it if it has not been.
func (g *Gateway) Listen() error {
	servers := []*listen.Server{g.https}
	if g.http != nil {
		servers = append(servers, g.http)
	}
	return listen.ListenAll(servers...)
}

// Run serves until ctx is done, then drains in-flight requests within the
// shutdown timeout. It returns the first listener error.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	ctx, cancel := context.WithCancel(ctx)
	tlsDone := make(chan struct{})
	go func() {
		defer close(tlsDone)
		g.tls.Run(ctx)
	}()
	var wg sync.WaitGroup
	for _, run := range g.runners {
		wg.Go(func() { run(ctx) })
	}
	// The certificate reloader, ticket-key rotation and the other
	// background work stop before Run returns, not at some later point.
	defer func() { cancel(); <-tlsDone; wg.Wait() }()
	servers := []*listen.Server{g.https}
	if g.http != nil {
		servers = append(servers, g.http)
	}
	err := listen.Run(ctx, servers...)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Reopen is what SIGHUP does: log files are reopened (after logrotate moved
// them away, or rotated in place by rampart's own rotation otherwise) and
// certificate files are checked for a new pair at once rather than at the
// next poll. Configuration is not reloaded.
func (g *Gateway) Reopen() error {
	var errs []error
	for _, c := range g.closers {
		if r, ok := c.(interface{ Rotate() error }); ok {
			errs = append(errs, r.Rotate())
		}
	}
	errs = append(errs, g.tls.Reload())
	return errors.Join(errs...)
}

// Close releases log files. Run calls it on return.
func (g *Gateway) Close() error {
	var errs []error
	// Last opened, first closed: the session manager stops reading the
	// state store before the store closes.
	for _, c := range slices.Backward(g.closers) {
		errs = append(errs, c.Close())
	}
	g.closers = nil
	return errors.Join(errs...)
}
