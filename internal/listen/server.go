package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/seclog"
)

// Defaults applied to zero Options fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultShutdownTimeout   = 30 * time.Second
	// DefaultMaxConcurrentStreams caps HTTP/2 streams per connection, like
	// nginx's http2_max_concurrent_streams (128).
	DefaultMaxConcurrentStreams = 100
)

// Options are a listener's timeouts and limits (YAML listen.*). The zero
// value gives the documented defaults; negative values are errors. There is
// no way to turn a timeout off: each one is what stops a slow client from
// holding a connection and a goroutine forever.
type Options struct {
	// ReadHeaderTimeout bounds reading the request line and headers
	// (YAML listen.read_header_timeout). Zero means 10s. This is the
	// slowloris defence: a client trickling header bytes is disconnected
	// when it expires. On kept-alive connections it starts when the next
	// request's first byte arrives; IdleTimeout covers the wait before.
	ReadHeaderTimeout time.Duration

	// ReadTimeout bounds reading the request body, counted from the start
	// of the handler and lifted once the body has been read to its end
	// (YAML listen.read_timeout). Zero means 60s; raise it for large
	// uploads over slow links. It defeats slow-body attacks (R-U-D-Y).
	//
	// It is deliberately not http.Server.ReadTimeout: that deadline stays
	// on the connection after the body is read, and when it fires net/http
	// cancels the request context, cutting off any response that lasts
	// longer (server-sent events, long polling, large downloads).
	ReadTimeout time.Duration

	// WriteTimeout bounds how long one write to the client may stall (YAML
	// listen.write_timeout); the deadline is renewed before writes and
	// flushes, like nginx's send_timeout (at most every eighth of the
	// timeout, so each write has at least seven eighths of it). Zero means 60s. It disconnects
	// clients that stop reading (slow-read attacks) without capping the
	// total length of a response, so streaming responses, server-sent
	// events and large downloads keep working. A hijacked connection
	// (WebSocket) has its deadlines cleared by net/http and manages its
	// own. For HTTP/2 it bounds each write to the connection and each
	// stream's wait for the client's flow-control window (with
	// Options.GoHTTP2, net/http's WriteByteTimeout).
	//
	// It is deliberately not http.Server.WriteTimeout, which is a fixed
	// cap on the whole response and would cut every stream at that age.
	WriteTimeout time.Duration

	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request (YAML listen.idle_timeout). Zero means 120s.
	IdleTimeout time.Duration

	// MaxHeaderBytes caps the request line plus headers (YAML
	// listen.max_header_bytes); net/http answers 431 Request Header Fields
	// Too Large beyond it (it allows 4 KiB of slack over the value). For
	// HTTP/2 it is advertised as SETTINGS_MAX_HEADER_LIST_SIZE. Zero means
	// DefaultMaxHeaderBytes, 32 KiB: room for large cookies and tokens
	// (nginx allows 4 × 8 KiB), far below net/http's own 1 MiB default.
	// From MinMaxHeaderBytes (4 KiB) to MaxMaxHeaderBytes (1 MiB).
	MaxHeaderBytes int

	// ShutdownTimeout is how long Run waits for in-flight requests after
	// its context is done before closing connections (YAML
	// listen.shutdown_timeout). Zero means 30s.
	ShutdownTimeout time.Duration

	// MaxConnsPerClient caps the connections one client may hold open at
	// once (YAML listen.max_conns_per_client), like nginx's limit_conn; a
	// client is an IPv4 address or an IPv6 /64. Zero means
	// DefaultMaxConnsPerClient (256, see there why); at most
	// MaxMaxConnsPerClient. Without it, one client within its request
	// rate could hold thousands of idle or HTTP/2 connections and exhaust
	// file descriptors and goroutines. See LimitPerClient; a running
	// server's cap is changed by Server.SetConnLimits.
	MaxConnsPerClient int

	// TrustedProxies are peers not counted against MaxConnsPerClient (YAML
	// trusted_proxies): a load balancer carries many clients' connections
	// from its own address. Default none.
	TrustedProxies []netip.Prefix

	// Logger receives net/http's server errors. Nil means slog.Default().
	Logger *slog.Logger

	// SecurityLog receives refused connections as security events. Nil
	// means slog.Default().
	SecurityLog *seclog.Logger

	// Refuse, when set, is asked about each accepted connection's peer
	// (unmapped, without zone) before anything is read from it: when it
	// returns true the connection is reset at once, before the TLS
	// handshake, so a refused peer costs no handshake, no goroutine and
	// no buffer. It is called on the accepting goroutine, so it must be
	// quick and must not block; it logs its refusals itself (sampled).
	// The auto-ban's ban.Banner.RefuseConn is one. Nil refuses none.
	Refuse func(netip.Addr) bool

	// NoLane leaves every HTTP/1.1 request to net/http's server (YAML
	// listen.http1_lane: false). By default the lane (lane.go) answers the
	// plain ones over TLS, at about a fifth less CPU per request; this is
	// the way back should a client need net/http's own answers.
	NoLane bool

	// GoHTTP2 leaves HTTP/2 to net/http's server (YAML
	// listen.http2_server: go). By default rampart's own HTTP/2 server
	// (h2.go) serves it; this is the way back should a client need
	// net/http's.
	GoHTTP2 bool

	// Rejected answers the requests the server refuses before its
	// handler: those net/http's parser refuses, headers over
	// MaxHeaderBytes, and those strictFraming refuses (see early.go). It
	// is called with the Rejection in the request's context
	// (RejectionFromContext); its response is sent with Connection:
	// close. The request is made up from what is known: the peer, the TLS
	// state, and the method and target when the request line could be
	// read; it has no headers. Nil means a generic error page of the
	// Rejection's status (httperr), with nothing logged.
	Rejected http.Handler
}

// Bounds of MaxHeaderBytes.
const (
	// MinMaxHeaderBytes: below it, real browsers' cookies do not fit.
	MinMaxHeaderBytes = 4 << 10
	// MaxMaxHeaderBytes: above it, headers cost memory per connection
	// for no legitimate client.
	MaxMaxHeaderBytes = 1 << 20
)

// Validate reports what is wrong with o, and what is valid but weakens a
// defence, by Go field name. NewServer refuses o on any error; the
// warnings are for `rampart config check`.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	for _, d := range []struct {
		name string
		d    time.Duration
		def  time.Duration
	}{
		{"ReadHeaderTimeout", o.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{"ReadTimeout", o.ReadTimeout, DefaultReadTimeout},
		{"WriteTimeout", o.WriteTimeout, DefaultWriteTimeout},
		{"IdleTimeout", o.IdleTimeout, DefaultIdleTimeout},
		{"ShutdownTimeout", o.ShutdownTimeout, DefaultShutdownTimeout},
	} {
		if d.d < 0 {
			errs.Errorf(d.name, "remove it for the default ("+d.def.String()+")", "must not be negative")
		}
	}
	if n := o.MaxHeaderBytes; n != 0 && n < MinMaxHeaderBytes {
		errs.Errorf("MaxHeaderBytes", `use at least "4k"; the default is "32k"`, "%d bytes is too small for real browsers' cookies", n)
	} else if n > MaxMaxHeaderBytes {
		errs.Errorf("MaxHeaderBytes", `use at most "1m"; the default is "32k"`, "%d bytes invites memory exhaustion", n)
	}
	if n := o.MaxConnsPerClient; n < 0 || n > MaxMaxConnsPerClient {
		errs.Errorf("MaxConnsPerClient", fmt.Sprintf("use 1 to %d; the default (0) is %d", MaxMaxConnsPerClient, DefaultMaxConnsPerClient), "%d is out of range", n)
	}
	const keep = "the default is safe for real clients; remove the setting"
	if o.ReadHeaderTimeout > time.Minute {
		errs.Warnf("ReadHeaderTimeout", keep, "above 1m lets slow-header (slowloris) clients hold connections for long")
	}
	if o.ReadTimeout > 10*time.Minute {
		errs.Warnf("ReadTimeout", keep, "above 10m lets slow-body clients hold requests for long")
	}
	if o.WriteTimeout > 10*time.Minute {
		errs.Warnf("WriteTimeout", keep, "above 10m lets clients that stop reading hold responses for long")
	}
	return errs
}

// withDefaults fills in the defaults of o's zero fields; o is valid.
func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxConnsPerClient == 0 {
		o.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Server is an http.Server with the shutdown budget Run gives it and,
// optionally, a listener opened by the caller (for tests, or socket
// activation).
type Server struct {
	HTTP *http.Server
	// Listener, when not nil, is served instead of listening on HTTP.Addr.
	// Run applies the per-client connection cap to it as to a listener it
	// opens itself.
	Listener        net.Listener
	ShutdownTimeout time.Duration

	// The per-client connection cap Run applies, shared with the
	// listeners it wraps so that SetConnLimits reaches them; a Server not
	// made by NewServer gets DefaultMaxConnsPerClient and no exemption.
	limits      atomic.Pointer[capLimits]
	securityLog *seclog.Logger
	refuse      func(netip.Addr) bool
	// state is shared by the connections Run wraps for early.go; nil for
	// a Server not made by NewServer, whose connections are not wrapped.
	state *serverState
}

// Listen opens the server's address unless a Listener is already set, so
// that a port in use is reported before anything says it is serving. Run
// calls it for servers that have not.
func (s *Server) Listen() error {
	if s.Listener != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.HTTP.Addr)
	if err != nil {
		return err
	}
	s.Listener = ln
	return nil
}

// serve serves ln (already capped) with TLS when the server has a TLS
// configuration, each connection wrapped for early.go.
func (s *Server) serve(ln net.Listener) error {
	if s.HTTP.TLSConfig != nil {
		ln = tls.NewListener(ln, s.HTTP.TLSConfig)
	}
	if s.state != nil {
		ln = earlyListener{Listener: ln, s: s.state}
	}
	return s.HTTP.Serve(ln)
}

// limitConns wraps ln in the server's per-client connection cap and its
// Refuse hook.
func (s *Server) limitConns(ln net.Listener) net.Listener {
	s.limits.CompareAndSwap(nil, newCapLimits(0, nil))
	cl := newCapListener(ln, &s.limits, s.securityLog)
	cl.refuse = s.refuse
	return cl
}

// SetConnLimits replaces, on a running server or before Run, the
// per-client connection cap and the peers it does not count
// (Options.MaxConnsPerClient and TrustedProxies, validated the same way):
// each connection accepted from then on is counted against the new
// values. Open connections are not touched: lowering the cap closes none
// (a client over it opens no more until it is under), and a connection
// accepted from a peer that was exempt stays uncounted until it closes.
func (s *Server) SetConnLimits(maxPerClient int, trusted []netip.Prefix) error {
	o := Options{MaxConnsPerClient: maxPerClient, TrustedProxies: trusted}
	if err := o.Validate().Err(); err != nil {
		return err
	}
	s.limits.Store(newCapLimits(maxPerClient, exemptPrefixes(trusted)))
	return nil
}

// NewServer returns a server for addr running h with o's timeouts. With a
// non-nil tlsConfig (tlsconf.Server.TLSConfig) it serves HTTPS with HTTP/2
// and HTTP/1.1; without, plain HTTP/1.1 only (no cleartext HTTP/2: the plain
// listener only redirects).
func NewServer(addr string, h http.Handler, tlsConfig *tls.Config, o Options) (*Server, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if h == nil {
		return nil, errors.New("listen: nil handler")
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	if tlsConfig != nil {
		protos.SetHTTP2(true)
	}
	rejected := o.Rejected
	if rejected == nil {
		rejected = http.HandlerFunc(plainRejection)
	}
	st := &serverState{rejected: rejected, tls: tlsConfig != nil, writeTimeout: o.WriteTimeout}
	srv := &http.Server{
		Addr:              addr,
		Handler:           dispatched(withDeadlines(strictFraming(h, rejected), o.ReadTimeout, o.WriteTimeout)),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(errorLogHandler{o.Logger.Handler()}, slog.LevelWarn),
		Protocols:         &protos,
		// "OPTIONS *" goes to the handler like any request, so that its
		// answer has the pipeline's headers and log line; net/http's own
		// answer has neither and skips the host check.
		DisableGeneralOptionsHandler: true,
		// What early.go needs to see net/http answer without a handler.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if ec := connOf(c); ec != nil {
				return context.WithValue(ctx, connKey{}, ec)
			}
			return ctx
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			if ec := connOf(c); ec != nil {
				ec.state(s)
			}
		},
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: DefaultMaxConcurrentStreams,
			// A peer that stops reading is dropped, as for HTTP/1.
			WriteByteTimeout: o.WriteTimeout,
			// Unanswered pings close the connection (Go's default, stated).
			PingTimeout: 15 * time.Second,
			CountError:  h2ProtocolErrors(o.SecurityLog, addr),
		},
	}
	if tlsConfig != nil && !o.GoHTTP2 {
		// rampart's HTTP/2 server sets its streams' deadlines itself, as
		// the lane does: withDeadlines is net/http's alone.
		h2 := newH2Server(dispatchedOnWorker(strictFraming(h, rejected)), rejected, o, h2Events(o.SecurityLog, addr))
		h2.logf = srv.ErrorLog.Printf
		if wrapTLS {
			st.h2 = h2 // served from the handshake (early.go)
		} else {
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){"h2": h2.serveTLS}
		}
		srv.RegisterOnShutdown(h2.beginShutdown)
	}
	if tlsConfig != nil && wrapTLS && !o.NoLane {
		// The lane sets its requests' write deadlines itself (it has no
		// request body to bound): withDeadlines is net/http's alone.
		st.lane = newLane(dispatched(strictFraming(h, rejected)), o)
		srv.RegisterOnShutdown(st.lane.beginShutdown)
	}
	s := &Server{HTTP: srv, ShutdownTimeout: o.ShutdownTimeout, state: st, securityLog: o.SecurityLog, refuse: o.Refuse}
	s.limits.Store(newCapLimits(o.MaxConnsPerClient, exemptPrefixes(o.TrustedProxies)))
	return s, nil
}

// dispatched tells the connection that net/http called the handler: what
// it writes from now on is the handler's response (see early.go). It
// grows the stack of a request of net/http's HTTP/2 server first
// (primeStack).
func dispatched(h http.Handler) http.Handler {
	d := dispatchedOnWorker(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		primeStack(r)
		d.ServeHTTP(w, r)
	})
}

// dispatchedOnWorker is dispatched without primeStack, for rampart's
// HTTP/2 server, whose handlers run on goroutines whose stacks stay grown
// (h2Workers).
func dispatchedOnWorker(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		markDispatched(r)
		h.ServeHTTP(w, r)
	})
}

// h2ProtocolErrors logs the HTTP/2 errors Go's server answers without
// calling the handler: a malformed request's stream reset (a missing or
// invalid pseudo-header, two content-lengths, a forbidden header), a
// flow-control violation, a flood of resets. They are
// input_validation_fail events, sampled per kind (5 every 10 s, the count
// of the others with the next). net/http reports only the kind, not the
// connection: the event has no client address, and so never feeds the
// auto-ban.
func h2ProtocolErrors(log *seclog.Logger, listener string) func(string) {
	event := h2Event(log, listener, "HTTP/2 request refused by Go's HTTP/2 server (stream or connection reset)")
	return func(kind string) { event(kind) }
}

// h2Events logs the HTTP/2 protocol errors rampart's HTTP/2 server
// answers without calling the handler (see h2.go) as h2ProtocolErrors
// does, with the client's address.
func h2Events(log *seclog.Logger, listener string) func(client, kind string) {
	event := h2Event(log, listener, "HTTP/2 protocol error (stream or connection reset, or request refused)")
	return func(client, kind string) { event(kind, slog.String("source.ip", client)) }
}

// h2Event logs input_validation_fail events of an HTTP/2 error kind,
// sampled per kind (5 every 10 s, the count of the others with the next).
func h2Event(log *seclog.Logger, listener, message string) func(kind string, attrs ...slog.Attr) {
	sampler := &seclog.Sampler{Burst: 5, Interval: 10 * time.Second, MaxKeys: 1000}
	return func(kind string, attrs ...slog.Attr) {
		ok, suppressed := sampler.Allow(kind)
		if !ok {
			return
		}
		attrs = append(attrs, slog.String("h2_error", kind), slog.String("listener", listener), slog.Int("suppressed", suppressed))
		log.Event(context.Background(), nil, slog.LevelWarn, seclog.InputValidationFail, message, attrs...)
	}
}

// plainRejection is the Rejected handler of a server configured without
// one.
func plainRejection(w http.ResponseWriter, r *http.Request) {
	rej, _ := RejectionFromContext(r.Context())
	httperr.Write(w, r, rej.Status, "", "")
}

// errorLogHandler lowers client-caused net/http noise (failed TLS
// handshakes from scanners, clients resetting connections) to debug level
// so that real server errors stay visible at warn.
type errorLogHandler struct{ slog.Handler }

func (e errorLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, errLaneDone.Error()) {
		return nil // not an error: a connection the lane served ended
	}
	if strings.Contains(r.Message, "TLS handshake error") || strings.Contains(r.Message, "connection reset by peer") {
		if !e.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	r.Message = strings.TrimSuffix(r.Message, "\n")
	return e.Handler.Handle(ctx, r)
}

// LaneConnections counts the HTTPS/1.1 connections the lane (lane.go)
// has served since the server started: those it served to their end, and
// those it handed to net/http's server at a request that was not plain
// (a body, an upgrade, Expect, HTTP/1.0, a head net/http's parser is to
// refuse). A connection counts when it ends or is handed over. Both are
// zero without the lane.
func (s *Server) LaneConnections() (ended, handedOver int64) {
	l := s.lane()
	if l == nil {
		return 0, 0
	}
	return l.ended.Load(), l.handOvers.Load()
}

// lane is the server's lane (lane.go), or nil.
func (s *Server) h2() *h2Server {
	if s.state == nil {
		return nil
	}
	return s.state.h2
}

func (s *Server) lane() *lane {
	if s.state == nil {
		return nil
	}
	return s.state.lane
}

// withState gives a request's context, as the lane and the HTTP/2 server
// make it, the request's record (internal/reqstate): the gateway's first
// stage then records in it without copying the request, as it must for a
// request of net/http's server.
func withState(ctx context.Context) context.Context {
	_, ctx = reqstate.With(ctx)
	return ctx
}
