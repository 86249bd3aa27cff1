// Package admin is rampart's admin listener: an HTTP server of its own,
// apart from the public ports, on which operations endpoints are mounted:
// /healthz and /readyz here, /metrics and whatever else the gateway
// mounts with Handle (dashboard, ban and reload APIs).
//
// # Access
//
// By default it listens on 127.0.0.1:9180 and has no token: only loopback
// peers are served, and only with a Host that names a loopback address or
// localhost, so a web page cannot reach it through the browser of someone
// on the machine by pointing a name of its own at 127.0.0.1 (DNS
// rebinding). With a token (Options.Token), every request must carry
// "Authorization: Bearer <token>", compared in constant time, except
// /healthz, which says only "ok" and is what load balancers and container
// health checks probe without a secret. Validate refuses an address other
// than a loopback one without a token.
//
// Every response carries a Content-Security-Policy of "default-src 'none';
// frame-ancestors 'none'" (a mounted page may set its own), nosniff,
// Cache-Control: no-store and X-Frame-Options: DENY. The server has short
// timeouts, small header and body limits and a bound on connections.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// DefaultListen is the admin listener's address when Options.Listen is
// empty.
const DefaultListen = "127.0.0.1:9180"

// Off as Options.Listen disables the admin listener.
const Off = "off"

// Limits of the admin server.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 16 << 10
	// MaxBodyBytes bounds a request body (the APIs mounted take small
	// JSON documents).
	MaxBodyBytes = 1 << 20
	// MaxConns bounds the connections served at once; more wait in the
	// kernel's backlog.
	MaxConns = 64
	// DefaultCheckTimeout bounds each readiness check.
	DefaultCheckTimeout = 2 * time.Second
	// DefaultShutdownTimeout is how long Run waits for requests in flight
	// when its context ends.
	DefaultShutdownTimeout = 5 * time.Second
	// MinTokenBytes is the shortest token accepted.
	MinTokenBytes = 32
)

// Options configure the admin Server. The zero value listens on
// DefaultListen, loopback only, without a token.
type Options struct {
	// Listen is the address (YAML admin.listen): host:port, or "off". ""
	// means DefaultListen. An address that is not a loopback one
	// (127.0.0.0/8, ::1, localhost) needs Token.
	Listen string

	// Token is the bearer token every request but /healthz must carry
	// (YAML admin.token_secret names the secret holding it). Nil: none,
	// and only loopback peers are served. At least MinTokenBytes.
	Token []byte

	// Listener, when not nil, is served instead of opening Listen (tests,
	// socket activation). Listen still decides the access rules: without
	// a token, only loopback peers are served whatever it is.
	Listener net.Listener

	// CheckTimeout bounds each readiness check. Zero means
	// DefaultCheckTimeout.
	CheckTimeout time.Duration

	// ShutdownTimeout bounds the wait for requests in flight when Run's
	// context ends. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Logger receives the server's own diagnostics (a check failing, a
	// listener error). Nil means slog.Default().
	Logger *slog.Logger

	// SecLog receives an authn_login_fail event (sampled per client) for
	// a request refused for a missing or wrong token, and an authz_fail
	// event for a peer or Host refused without a token. Nil means a
	// seclog.Logger writing to slog.Default().
	SecLog *seclog.Logger
}

// Disabled reports whether o turns the admin listener off.
func (o Options) Disabled() bool { return strings.EqualFold(o.Listen, Off) }

func (o Options) addr() string {
	if o.Listen == "" {
		return DefaultListen
	}
	return o.Listen
}

// Validate reports what is wrong with o by Go field path ("Listen",
// "Token"). An address that is not a loopback one is an error without a
// token and, with one, a warning: the listener is then reachable from the
// network, where a firewall should still keep everyone else out.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	if o.Disabled() {
		return errs
	}
	if len(o.Token) > 0 && len(o.Token) < MinTokenBytes {
		errs.Errorf("Token", fmt.Sprintf("use a random token of at least %d bytes, e.g. openssl rand -base64 32", MinTokenBytes),
			"is %d bytes, fewer than %d", len(o.Token), MinTokenBytes)
	}
	host, port, err := net.SplitHostPort(o.addr())
	if err != nil || port == "" {
		errs.Errorf("Listen", `write host:port such as "127.0.0.1:9180", or "off"`, "%q is not a listen address", o.Listen)
		return errs
	}
	if safe.Loopback(host) {
		return errs
	}
	where := fmt.Sprintf("%q", o.Listen)
	if host == "" {
		where += " (every interface)"
	}
	if len(o.Token) == 0 {
		errs.Errorf("Listen", "listen on 127.0.0.1 (the default) and reach it through SSH or a local agent, or set a token secret (admin.token_secret) so that every request must present it",
			"%s is not a loopback address: without a token anyone who can reach it could read the metrics and use the admin APIs", where)
		return errs
	}
	errs.Warnf("Listen", "prefer 127.0.0.1, or allow only the monitoring hosts in the firewall",
		"%s is reachable from the network; every request but /healthz needs the token", where)
	return errs
}

// Check is one readiness check: nil when ready.
type Check func(ctx context.Context) error

// Server is the admin listener. Build it with New, mount handlers with
// Handle and checks with AddCheck, then Listen and Run.
type Server struct {
	o        Options
	mux      *http.ServeMux
	srv      *http.Server
	ln       net.Listener
	logger   *slog.Logger
	sec      *seclog.Logger
	sampler  seclog.Sampler
	tokenSum [sha256.Size]byte
	hasToken bool

	mu     sync.Mutex
	checks []namedCheck
	failed map[string]string // the failing checks' last errors, to log changes only
}

type namedCheck struct {
	name string
	f    Check
}

// New validates o and builds the Server; nothing is opened yet. With
// Listen "off" the Server is disabled: Handle and AddCheck record
// nothing, Listen does nothing and Run waits for its context.
func New(o Options) (*Server, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	s := &Server{o: o, logger: o.Logger, sec: o.SecLog, mux: http.NewServeMux(), failed: map[string]string{},
		sampler: seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000}}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if len(o.Token) > 0 {
		s.hasToken, s.tokenSum = true, sha256.Sum256(o.Token)
	}
	if s.o.CheckTimeout <= 0 {
		s.o.CheckTimeout = DefaultCheckTimeout
	}
	if s.o.ShutdownTimeout <= 0 {
		s.o.ShutdownTimeout = DefaultShutdownTimeout
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Enabled reports whether the server listens at all (Listen is not
// "off").
func (s *Server) Enabled() bool { return s != nil && !s.o.Disabled() }

// Handle mounts h at pattern (http.ServeMux syntax, "GET /metrics"). The
// access rules, security headers and limits apply to it.
func (s *Server) Handle(pattern string, h http.Handler) {
	if !s.Enabled() {
		return
	}
	s.mux.Handle(pattern, h)
}

// AddCheck adds a readiness check run by /readyz. Names are shown to the
// caller of /readyz: name what is checked ("upstream", "redis",
// "certificate"), never a secret.
func (s *Server) AddCheck(name string, f Check) {
	if !s.Enabled() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, namedCheck{name, f})
}

// Listen opens the address (unless Options.Listener was given), so that a
// port in use is reported at start-up, before anything says it serves.
// Run calls it if it has not been.
func (s *Server) Listen() error {
	if !s.Enabled() || s.ln != nil {
		return nil
	}
	ln := s.o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.o.addr()); err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	s.ln = ln
	return nil
}

// Addr is the address listened on, nil before Listen or when disabled.
func (s *Server) Addr() net.Addr {
	if !s.Enabled() || s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run serves until ctx ends, then shuts down gracefully within
// ShutdownTimeout. A disabled Server waits for ctx. It returns the
// listener's error, or nil after ctx ended.
func (s *Server) Run(ctx context.Context) error {
	if !s.Enabled() {
		<-ctx.Done()
		return nil
	}
	if err := s.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(netutil.LimitListener(s.ln, MaxConns)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Handler is the server's handler, access rules and headers included, for
// tests and for serving it on a listener of the caller's.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.allowed(w, r) {
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		s.mux.ServeHTTP(w, r)
	})
}

// allowed applies the access rules, answering the refusals itself.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request) bool {
	if !s.hasToken {
		peer := peerAddr(r)
		if !peer.IsValid() || !peer.IsLoopback() {
			s.refuse(w, r, http.StatusForbidden, seclog.AuthzFail, "admin request refused: not from a loopback address")
			return false
		}
		if !loopbackHost(r.Host) {
			s.refuse(w, r, http.StatusForbidden, seclog.AuthzFail, "admin request refused: Host is not a loopback name (DNS rebinding?)")
			return false
		}
		return true
	}
	if r.URL.Path == "/healthz" {
		return true
	}
	if !s.tokenOK(r.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-admin"`)
		s.refuse(w, r, http.StatusUnauthorized, seclog.AuthnLoginFail, "admin request refused: missing or wrong token")
		return false
	}
	return true
}

// tokenOK compares the bearer token with the configured one in constant
// time: both are hashed first, so neither the token's length nor its
// bytes show in the time taken.
func (s *Server) tokenOK(auth string) bool {
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		tok = ""
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1 && tok != ""
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, event, msg string) {
	key := ""
	if a := peerAddr(r); a.IsValid() {
		key = a.String()
	}
	if ok, suppressed := s.sampler.Allow(key); ok {
		s.sec.Event(r.Context(), r, slog.LevelWarn, event, msg,
			slog.String("peer", key), slog.Int("status", code), slog.Int("suppressed", suppressed))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, http.StatusText(code))
}

// peerAddr is the TCP peer: the admin listener trusts no forwarding
// header.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// loopbackHost reports whether a Host header names a loopback address or
// localhost, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return safe.Loopback(host)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}
