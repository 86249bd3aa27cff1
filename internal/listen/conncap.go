package listen

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/internal/rawio"
	"github.com/rampart-dev/rampart/seclog"
)

// Per-client connection cap bounds.
const (
	// DefaultMaxConnsPerClient is the default cap on one client's open
	// connections (nginx's limit_conn). A browser opens at most 6
	// HTTP/1.1 connections, or one HTTP/2 connection, per origin, so a
	// single person needs a handful; 256 leaves room for an office or a
	// mobile carrier putting dozens of people behind one NAT address,
	// while one client can no longer take the thousands of descriptors
	// and goroutines that idle or HTTP/2 connections would otherwise cost.
	DefaultMaxConnsPerClient = 256
	// MaxMaxConnsPerClient is the highest cap accepted: beyond it the cap
	// is no longer below any real file descriptor limit.
	MaxMaxConnsPerClient = 100000
)

// connCapLogInterval is how often a refused client is logged at most.
const connCapLogInterval = 10 * time.Second

// LimitPerClient returns ln with at most max connections open at once per
// client, the client being the peer's IPv4 address or its IPv6 /64
// (clientip.Key: one subscriber is routinely given a whole /64, so
// counting single IPv6 addresses would let one client open max
// connections from each of 2^64 addresses). A connection over the cap is closed as soon as it is
// accepted, before any TLS handshake, so refusing it costs no handshake
// CPU, no goroutine and no buffer; it is reset rather than closed
// gracefully, so that a flood of refused connections leaves no sockets in
// TIME_WAIT behind.
//
// A connection is counted from Accept until its Close; Close is
// idempotent and whoever calls it first (net/http after the response, a
// failed TLS handshake, an idle timeout, a hijacker) frees the slot. The
// slot is freed before the socket is closed, so a peer that has seen the
// connection end may connect again at once.
//
// Peers for which exempt returns true (trusted proxies: a load balancer
// carries many clients over its own address) are not counted. Peers that
// are not IP addresses (Unix sockets) are not counted either. max <= 0
// means DefaultMaxConnsPerClient.
//
// Refused connections are recorded as excess_rate_limit_exceeded security
// events on log (nil: slog.Default()), at most once per client every 10s,
// with the number left unlogged in between.
//
// Memory is bounded: only clients holding an open connection are kept,
// one small entry each.
func LimitPerClient(ln net.Listener, max int, exempt func(netip.Addr) bool, log *seclog.Logger) net.Listener {
	limits := new(atomic.Pointer[capLimits])
	limits.Store(newCapLimits(max, exempt))
	return newCapListener(ln, limits, log)
}

func newCapListener(ln net.Listener, limits *atomic.Pointer[capLimits], log *seclog.Logger) *capListener {
	return &capListener{
		Listener: ln,
		limits:   limits,
		log:      log,
		sampler:  &seclog.Sampler{Burst: 1, Interval: connCapLogInterval, MaxKeys: 10000},
		open:     make(map[netip.Addr]int),
	}
}

// capLimits are a cap and the peers it does not count, replaced as a whole
// (Server.SetConnLimits) while connections are accepted.
type capLimits struct {
	max    int
	exempt func(netip.Addr) bool // nil: none
}

// newCapLimits applies the default to max <= 0.
func newCapLimits(max int, exempt func(netip.Addr) bool) *capLimits {
	if max <= 0 {
		max = DefaultMaxConnsPerClient
	}
	return &capLimits{max: max, exempt: exempt}
}

// exemptPrefixes is the exempt function of trusted proxies' prefixes; nil
// for none.
func exemptPrefixes(prefixes []netip.Prefix) func(netip.Addr) bool {
	if len(prefixes) == 0 {
		return nil
	}
	prefixes = slices.Clone(prefixes)
	return func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}

type capListener struct {
	net.Listener
	// limits is read at each Accept; the Server that made the listener
	// replaces it.
	limits  *atomic.Pointer[capLimits]
	log     *seclog.Logger
	sampler *seclog.Sampler
	// refuse is Options.Refuse, set by Server.limitConns; nil for a
	// listener made by LimitPerClient alone.
	refuse func(netip.Addr) bool
	// refused counts the connections refuse refused.
	refused atomic.Uint64

	mu   sync.Mutex
	open map[netip.Addr]int // client key → open connections, never 0
}

// Accept returns the next connection whose client is under the cap,
// closing those that are not.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, ok := peerAddr(c)
		if ok && l.refuse != nil && l.refuse(addr) {
			// A refused peer (a banned client): reset before any
			// byte is read, whoever it is, trusted proxy or not.
			l.refused.Add(1)
			reset(c)
			continue
		}
		lim := l.limits.Load()
		// Accepted: its reads and writes are raw system calls
		// (internal/rawio) from here on.
		if !ok || (lim.exempt != nil && lim.exempt(addr)) {
			return rawio.Wrap(c), nil
		}
		key := clientip.Key(addr)
		if l.acquire(key, lim.max) {
			return &capConn{Conn: rawio.Wrap(c), l: l, key: key}, nil
		}
		l.logRefused(addr, key, lim.max)
		reset(c)
	}
}

// reset closes c with a reset rather than a graceful close, so that a
// flood of refused connections leaves no sockets in TIME_WAIT.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (l *capListener) acquire(key netip.Addr, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= max {
		return false
	}
	l.open[key]++
	return true
}

func (l *capListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[key] - 1; n > 0 {
		l.open[key] = n
	} else {
		delete(l.open, key)
	}
}

// clients is the number of clients holding connections (for tests).
func (l *capListener) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

func (l *capListener) logRefused(addr, key netip.Addr, max int) {
	ok, suppressed := l.sampler.Allow(key.String())
	if !ok {
		return
	}
	l.log.Event(context.Background(), nil, slog.LevelWarn, seclog.ExcessRateLimitExceeded,
		"connection refused: client holds the maximum number of connections",
		slog.String("client_ip", addr.String()),
		slog.String("listener", l.Addr().String()),
		slog.Int("max_conns_per_client", max),
		slog.Int("suppressed", suppressed),
	)
}

// peerAddr is c's remote IP address, unmapped and without zone.
func peerAddr(c net.Conn) (netip.Addr, bool) {
	var ap netip.AddrPort
	switch ra := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		ap = ra.AddrPort()
	case nil:
		return netip.Addr{}, false
	default:
		var err error
		if ap, err = netip.ParseAddrPort(ra.String()); err != nil {
			return netip.Addr{}, false
		}
	}
	a := ap.Addr().Unmap().WithZone("")
	return a, a.IsValid()
}

// capConn frees its client's slot when it is first closed.
type capConn struct {
	net.Conn
	l    *capListener
	key  netip.Addr
	once sync.Once
}

func (c *capConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

// CloseWrite is passed through so that net/http can half-close plain
// HTTP connections before closing them (which keeps a final response
// from being lost to a reset).
func (c *capConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
