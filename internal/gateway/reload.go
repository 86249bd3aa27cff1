package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/logfile"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// generation is what one plan builds: the certificate source, the
// pipeline and the redirect handler, with what they own. Requests hold a
// reference while they run (inflight), so a generation replaced by a
// reload is closed only once its last request is done.
type generation struct {
	plan     *config.Plan
	tls      *tlsconf.Server
	pipe     *pipeline
	redirect http.Handler
	closers  []io.Closer
	runners  []func(context.Context)
	keys     []string // resources held (see resources)

	inflight atomic.Int64
	retired  atomic.Bool
	drained  chan struct{} // closed when retired and inflight reaches 0
	once     sync.Once
	cancel   context.CancelFunc
}

func (gen *generation) httpsHandler() http.Handler { return gen.pipe.https }
func (gen *generation) rejected() http.Handler     { return gen.pipe.rejected }
func (gen *generation) redirectHandler() http.Handler {
	return gen.redirect
}

// release ends one request's hold on gen.
func (gen *generation) release() {
	if gen.inflight.Add(-1) == 0 && gen.retired.Load() {
		gen.once.Do(func() { close(gen.drained) })
	}
}

// close releases what gen alone owns.
func (gen *generation) close() error {
	if gen.cancel != nil {
		gen.cancel()
	}
	var errs []error
	// Last opened, first closed: the session manager stops reading the
	// state store before the store closes.
	for _, c := range slices.Backward(gen.closers) {
		errs = append(errs, c.Close())
	}
	gen.closers = nil
	return errors.Join(errs...)
}

// build makes a generation from plan. prev is the generation it will
// replace (nil at start-up): resources whose settings did not change are
// taken over from it.
func (g *Gateway) build(plan *config.Plan, prev *generation) (_ *generation, err error) {
	gen := &generation{plan: plan, drained: make(chan struct{})}
	defer func() {
		if err != nil {
			gen.close()
			g.res.release(gen.keys)
		}
	}()
	if err := os.MkdirAll(plan.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	t, err := g.res.acquire(&gen.keys, tlsKey(plan.TLS), func() (any, io.Closer, func(context.Context), error) {
		o := plan.TLS
		o.Logger = g.logger
		s, err := tlsconf.New(o)
		if err != nil {
			return nil, nil, nil, err
		}
		return s, nil, s.Run, nil
	})
	if err != nil {
		return nil, err
	}
	gen.tls = t.(*tlsconf.Server)

	d := pipelineDeps{logger: g.logger, access: g.access, sec: g.sec, closers: &gen.closers,
		runners: &gen.runners, port: g.port, res: g.res, keys: &gen.keys, rec: g.rec, banner: g.banner, sweep: &g.sweep,
		metrics: g.metrics}
	if prev != nil {
		d.prev = prev.pipe
	}
	if gen.pipe, err = buildPipeline(plan, d); err != nil {
		return nil, err
	}
	rd, err := listen.NewRedirect(listen.RedirectOptions{
		Hosts:         plan.Hosts,
		HTTPSPort:     g.port,
		ACMEChallenge: gen.tls.ChallengeHandler(),
		Logger:        g.logger,
	})
	if err != nil {
		return nil, err
	}
	gen.redirect = gen.pipe.around(rd)
	return gen, nil
}

// tlsKey names a certificate source by everything that shapes it: an
// unchanged tls section keeps its source (and its session ticket keys)
// across a reload, and its files are checked again instead.
func tlsKey(o tlsconf.Options) string {
	acme := "-"
	if o.ACME != nil {
		acme = fmt.Sprintf("%q %q %p", o.ACME.Email, o.ACME.DirectoryURL, o.ACME.HTTPClient)
	}
	return fmt.Sprintf("tls %q %q %s %t %q %q %d %d", o.CertFile, o.KeyFile, acme, o.InsecureDevCertificate,
		o.Hosts, o.StateDir, o.MinVersion, o.ReloadInterval)
}

// tlsConfig is the HTTPS listener's TLS configuration: each handshake
// uses the current generation's certificate source.
func (g *Gateway) tlsConfig(first *generation) *tls.Config {
	c := first.tls.TLSConfig().Clone()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if gen := g.cur.Load(); gen != nil {
			return gen.tls.TLSConfig(), nil
		}
		return nil, errors.New("gateway closed")
	}
	return c
}

// start runs gen's background work under the gateway's context. Called
// with g.mu held, once Run has set g.ctx.
func (g *Gateway) start(gen *generation) {
	if g.ctx == nil || g.done {
		return
	}
	g.res.start(g.ctx, &g.wg)
	ctx, cancel := context.WithCancel(g.ctx)
	gen.cancel = cancel
	for _, run := range gen.runners {
		g.wg.Go(func() { run(ctx) })
	}
}

// Settings a reload cannot change: the listeners are open with them.
func restartOnly(old, next *config.Plan) []string {
	var keys []string
	if old.HTTPS != next.HTTPS {
		keys = append(keys, "listen.https")
	}
	if old.HTTP != next.HTTP {
		keys = append(keys, "listen.http")
	}
	if old.BanEnabled != next.BanEnabled {
		keys = append(keys, "ban.enabled")
	} else if old.BanEnabled && (old.StateDir != next.StateDir || !reflect.DeepEqual(old.BanRedis, next.BanRedis)) {
		keys = append(keys, "state_dir or ban.redis (where bans are kept)")
	}
	a0, b0 := old.Admin, next.Admin
	a0.Logger, b0.Logger, a0.SecLog, b0.SecLog, a0.Listener, b0.Listener = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(a0, b0) {
		keys = append(keys, "admin (listen, token_secret)")
	}
	a, b := old.Listen, next.Listen
	a.Logger, b.Logger, a.SecurityLog, b.SecurityLog, a.Rejected, b.Rejected = nil, nil, nil, nil, nil, nil
	// The connection cap and its exemptions are replaced on the running
	// listeners (listen.Server.SetConnLimits).
	a.MaxConnsPerClient, b.MaxConnsPerClient, a.TrustedProxies, b.TrustedProxies = 0, 0, nil, nil
	if !reflect.DeepEqual(a, b) {
		keys = append(keys, "listen (timeouts, max_header_bytes, http1_lane, http2_server)")
	}
	return keys
}

// Reload replaces the running configuration by plan, a configuration
// already loaded and validated (config.Load). Everything is built before
// anything changes: on error the running configuration stays, untouched.
// On success new requests (and new TLS handshakes) use the new one at
// once; requests in flight finish on the old one, whose resources are
// released when the last is done. No connection is closed. Rate-limit
// zones whose settings did not change keep their states, the state store
// (sessions, revocations, bans) and unchanged log files stay open.
//
// The listeners' addresses, timeouts and header limit are fixed while the
// process runs: a change to them is applied only by a restart, and Reload
// says so in its error (the rest of the new configuration is then not
// applied either, so that what runs is always one whole configuration).
// Their per-client connection cap and trusted proxies are replaced, for
// the connections accepted from then on.
func (g *Gateway) Reload(plan *config.Plan) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.cur.Load()
	if old == nil || g.done {
		return errors.New("gateway is not running")
	}
	if keys := restartOnly(old.plan, plan); len(keys) > 0 {
		return fmt.Errorf("changed settings need a restart (the running configuration stays): %v", keys)
	}
	accessDone, err := g.access.replace(plan.AccessFile)
	if err != nil {
		return fmt.Errorf("log.access: %w", err)
	}
	secDone, err := g.secW.replace(plan.SecurityLog)
	if err != nil {
		accessDone(false)
		return fmt.Errorf("log.security: %w", err)
	}
	gen, err := g.build(plan, old)
	if err == nil && g.banner != nil {
		err = g.banner.Reconfigure(plan.Ban)
	}
	if err != nil {
		if gen != nil {
			gen.close()
			g.res.release(gen.keys)
		}
		// The log files of the refused plan, if it named new ones,
		// are put back.
		accessDone(false)
		secDone(false)
		return err
	}
	// A certificate source kept from the old generation re-reads its
	// files now, as SIGHUP always did.
	if err := gen.tls.Reload(); err != nil {
		g.logger.Warn("reload: certificate files", "err", err)
	}
	g.start(gen)
	g.cur.Store(gen)
	g.inService(gen)
	for _, srv := range []*listen.Server{g.https, g.http} {
		if srv == nil {
			continue
		}
		// Validated with the plan: an error here is a bug.
		if err := srv.SetConnLimits(plan.Listen.MaxConnsPerClient, plan.Listen.TrustedProxies); err != nil {
			g.logger.Error("reload: connection limits", "err", err)
		}
	}
	accessDone(true)
	secDone(true)
	g.retire(old)
	return nil
}

// retire closes old once its last in-flight request is done, or after
// the shutdown timeout (a WebSocket may stay open for hours; it keeps
// working, the resources it no longer reaches are released).
func (g *Gateway) retire(old *generation) {
	old.retired.Store(true)
	if old.inflight.Load() == 0 {
		old.once.Do(func() { close(old.drained) })
	}
	wait := old.plan.Listen.ShutdownTimeout
	if wait <= 0 {
		wait = 30 * time.Second
	}
	var stopped <-chan struct{} // never, before Run
	if g.ctx != nil {
		stopped = g.ctx.Done()
	}
	g.wg.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-old.drained:
		case <-t.C:
		case <-stopped:
		}
		old.pipe.closeIdle()
		if err := old.close(); err != nil {
			g.logger.Warn("reload: releasing the previous configuration", "err", err)
		}
		g.res.release(old.keys)
	})
}

// resources are what outlives a generation when the next one's settings
// for it are the same: the certificate source, the state store, shared
// rate-limit stores. Each is named by a key made of its settings; a
// generation acquires the ones it uses, and a resource no generation holds
// any more is stopped and closed.
type resources struct {
	mu  sync.Mutex
	m   map[string]*resource
	ctx context.Context
	wg  *sync.WaitGroup
}

type resource struct {
	v      any
	closer io.Closer
	run    func(context.Context)
	cancel context.CancelFunc
	done   chan struct{}
	refs   int
}

func newResources() *resources { return &resources{m: map[string]*resource{}} }

// acquire returns the resource named key, opening it with open when no
// generation holds it, and records key in keys. run, when not nil, is its
// background work, started once the gateway runs and stopped when the
// resource is closed.
func (rs *resources) acquire(keys *[]string, key string, open func() (any, io.Closer, func(context.Context), error)) (any, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r := rs.m[key]; r != nil {
		r.refs++
		*keys = append(*keys, key)
		return r.v, nil
	}
	v, c, run, err := open()
	if err != nil {
		return nil, err
	}
	r := &resource{v: v, closer: c, run: run, refs: 1}
	rs.m[key] = r
	*keys = append(*keys, key)
	if rs.ctx != nil {
		rs.launch(r)
	}
	return v, nil
}

// start runs every resource's background work under ctx, and that of
// resources acquired later.
func (rs *resources) start(ctx context.Context, wg *sync.WaitGroup) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.ctx != nil {
		return
	}
	rs.ctx, rs.wg = ctx, wg
	for _, r := range rs.m {
		rs.launch(r)
	}
}

func (rs *resources) launch(r *resource) {
	if r.run == nil || r.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(rs.ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	rs.wg.Go(func() {
		defer close(r.done)
		r.run(ctx)
	})
}

// release drops one hold on each key, closing what nobody holds.
func (rs *resources) release(keys []string) error {
	rs.mu.Lock()
	var last []*resource
	for _, k := range keys {
		r := rs.m[k]
		if r == nil {
			continue
		}
		if r.refs--; r.refs == 0 {
			delete(rs.m, k)
			last = append(last, r)
		}
	}
	rs.mu.Unlock()
	var errs []error
	for _, r := range slices.Backward(last) {
		errs = append(errs, r.stop())
	}
	return errors.Join(errs...)
}

func (r *resource) stop() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// values are the resources open now.
func (rs *resources) values() []any {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]any, 0, len(rs.m))
	for _, r := range rs.m {
		out = append(out, r.v)
	}
	return out
}

// closeAll stops and closes every resource, whoever holds it.
func (rs *resources) closeAll() error {
	rs.mu.Lock()
	all := rs.m
	rs.m = map[string]*resource{}
	rs.mu.Unlock()
	var errs []error
	for _, r := range all {
		errs = append(errs, r.stop())
	}
	return errors.Join(errs...)
}

// swapWriter is a log stream whose file a reload may change: the writer
// every logger holds stays the same object.
type swapWriter struct {
	std io.Writer
	mu  sync.RWMutex
	w   io.Writer
	o   logfile.Options
	f   io.WriteCloser // nil on the standard stream
	set bool
}

func (s *swapWriter) Write(p []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

// replace directs the stream to o at once, opening its file unless it is
// the one already open. done(true) closes the file replaced; done(false)
// puts it back and closes the new one.
func (s *swapWriter) replace(o logfile.Options) (done func(ok bool), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set && o == s.o {
		return func(bool) {}, nil
	}
	var f io.WriteCloser
	var w io.Writer = s.std
	switch {
	case !o.Stdout():
		if f, err = logfile.Open(o); err != nil {
			return nil, err
		}
		w = f
	case o.BufferSize > 0:
		// The standard stream behind a buffer that Close flushes but
		// must not close.
		b := logfile.NewBuffered(struct{ io.Writer }{s.std}, o.BufferSize, o.FlushInterval)
		w, f = b, b
	}
	oldW, oldO, oldF, oldSet := s.w, s.o, s.f, s.set
	s.w, s.o, s.f, s.set = w, o, f, true
	return func(ok bool) {
		if ok {
			if oldF != nil {
				oldF.Close()
			}
			return
		}
		s.mu.Lock()
		s.w, s.o, s.f, s.set = oldW, oldO, oldF, oldSet
		s.mu.Unlock()
		if f != nil {
			f.Close()
		}
	}, nil
}

// rotate reopens the file (logrotate moved it away) or rotates it.
func (s *swapWriter) rotate() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.f.(interface{ Rotate() error }); ok {
		return r.Rotate()
	}
	return nil
}

func (s *swapWriter) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.f != nil {
		err = s.f.Close()
	}
	s.w, s.f, s.set = nil, nil, false
	return err
}

// ReloadConfig reads the configuration again from src, as at start-up,
// and applies it with Reload. Every finding is logged with its file:line,
// key and hint; on any error (a finding, or a change that needs a
// restart) the running configuration stays. The outcome is a
// sys_config_reload event in the security log either way.
func (g *Gateway) ReloadConfig(ctx context.Context, src config.Source) error {
	plan, findings := config.Load(src)
	for _, f := range findings {
		level := slog.LevelWarn
		if f.Severity == config.Error {
			level = slog.LevelError
		}
		g.logger.Log(ctx, level, "reload: configuration "+f.Severity.String(), "where", f.Where, "key", f.Key, "message", f.Message, "hint", f.Hint)
	}
	var err error
	defer func() { g.metrics.ConfigReloaded(err == nil) }()
	if findings.HasErrors() {
		err = fmt.Errorf("configuration refused (%d error(s), first: %s)", len(findings.Errors()), findings.Errors()[0])
	} else {
		err = g.Reload(plan)
	}
	if err != nil {
		g.sec.Event(ctx, nil, slog.LevelError, seclog.SysConfigReload, "configuration reload refused; the running configuration stays",
			slog.String("outcome", "failure"), slog.String("config", src.Path), slog.String("error", err.Error()))
		return err
	}
	g.sec.Event(ctx, nil, slog.LevelInfo, seclog.SysConfigReload, "configuration reloaded",
		slog.String("outcome", "success"), slog.String("config", src.Path))
	return nil
}

// ReloadPath is where the admin listener takes a reload request.
const ReloadPath = "/api/reload"

// ReloadResult is the admin API's answer to a reload: what `rampart
// reload` prints.
type ReloadResult struct {
	Reloaded bool   `json:"reloaded"`
	Error    string `json:"error,omitempty"`
}

// ReloadHandler serves POST ReloadPath for the admin listener (which
// checks the operator's token in front): the configuration is reloaded
// from src as on SIGHUP, and the answer says whether it was applied (200)
// or refused (422, the findings in rampart's own log). The request must
// be application/json, so that a cross-site form cannot send one.
func (g *Gateway) ReloadHandler(src config.Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		switch {
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			w.WriteHeader(http.StatusMethodNotAllowed)
			json.NewEncoder(w).Encode(ReloadResult{Error: "use POST"})
			return
		case !isJSON(r.Header.Get("Content-Type")):
			w.WriteHeader(http.StatusUnsupportedMediaType)
			json.NewEncoder(w).Encode(ReloadResult{Error: "send Content-Type: application/json"})
			return
		}
		if err := g.ReloadConfig(r.Context(), src); err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(ReloadResult{Error: safe.Clean(err.Error(), 4096)})
			return
		}
		json.NewEncoder(w).Encode(ReloadResult{Reloaded: true})
	})
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
