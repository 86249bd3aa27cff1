package ban

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// queueLen is how many observed events wait for the counting goroutine;
// beyond it events are dropped (and counted in Stats.Dropped).
const queueLen = 4096

// Banner counts security events per client and bans. Banned, RefuseConn
// and Handler answer from memory; counting and the Store run on a
// goroutine of the Banner's own.
type Banner struct {
	jail    atomic.Pointer[jail]
	store   Store
	log     *seclog.Logger
	sampler *seclog.Sampler

	mu      sync.RWMutex
	entries map[netip.Prefix]Entry
	lens    [2][129]int32 // entries by family (0: IPv4, 1: IPv6) and prefix length
	// size is len(entries), stored under mu after every change: Banned
	// reads it first, so a request to a gateway that bans no one does not
	// write the RWMutex's reader count, a memory word every CPU shares.
	size atomic.Int64

	events chan seclog.Record
	cancel context.CancelFunc
	wg     sync.WaitGroup

	refusedConns, refusedRequests, dropped, bans atomic.Uint64
}

// jail is the settings in force (Reconfigure swaps them whole).
type jail struct {
	o       Options // with defaults
	actions map[string]bool
}

func newJail(o Options) *jail {
	j := &jail{o: o, actions: map[string]bool{}}
	for _, a := range o.Actions {
		j.actions[a] = true
	}
	return j
}

// Stats are a Banner's counters since New.
type Stats struct {
	Active          int    // bans in force
	Bans            uint64 // bans made by this instance (automatic and manual)
	RefusedConns    uint64 // connections refused (RefuseConn)
	RefusedRequests uint64 // requests refused (Handler)
	Dropped         uint64 // events not counted: the queue was full
}

// New returns a Banner over o.Store, with the bans the store keeps
// already in force, following the store's changes until Close.
func New(o Options) (*Banner, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	b := &Banner{
		store:   o.Store,
		log:     o.Log,
		sampler: &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000},
		entries: map[netip.Prefix]Entry{},
		events:  make(chan seclog.Record, queueLen),
	}
	b.jail.Store(newJail(o))
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	list, changes, err := o.Store.Bans(ctx, time.Now())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ban: reading the bans: %w", err)
	}
	for _, e := range list {
		b.apply(Change{Entry: e})
	}
	b.wg.Add(2)
	go b.follow(ctx, changes)
	go b.count(ctx)
	return b, nil
}

// Reconfigure puts o's jail (MaxRetry, FindTime, BanTime,
// BanTimeIncrement, MaxBanTime, Actions, Ignore) in force from the next
// event, for a configuration reload: bans and counts stay, in memory and
// in the store. o.Store and o.Log are ignored (the Banner keeps its own).
func (b *Banner) Reconfigure(o Options) error {
	if err := o.Validate().Err(); err != nil {
		return err
	}
	o.Store, o.Log = b.store, b.log
	b.jail.Store(newJail(o.withDefaults()))
	return nil
}

// Close stops following the store and counting. Bans in memory stay in
// force for Banned.
func (b *Banner) Close() error {
	b.cancel()
	b.wg.Wait()
	return nil
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// apply puts a change into memory.
func (b *Banner) apply(c Change) {
	p := c.Entry.Prefix.Masked()
	if !p.IsValid() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() { b.size.Store(int64(len(b.entries))) }()
	_, had := b.entries[p]
	if c.Removed {
		if had {
			delete(b.entries, p)
			b.lens[family(p.Addr())][p.Bits()]--
		}
		return
	}
	c.Entry.Prefix = p
	b.entries[p] = c.Entry
	if !had {
		b.lens[family(p.Addr())][p.Bits()]++
	}
}

// lookup returns the entry covering a with the latest end; b.mu is held.
func (b *Banner) lookup(a netip.Addr) (Entry, bool) {
	var best Entry
	found := false
	lens := &b.lens[family(a)]
	for bits := range a.BitLen() + 1 {
		if lens[bits] == 0 {
			continue
		}
		p, _ := a.Prefix(bits)
		if e, ok := b.entries[p]; ok && (!found || e.Until.After(best.Until)) {
			best, found = e, true
		}
	}
	return best, found
}

// Banned reports whether addr is banned now, and until when. It reads
// memory only: a few map lookups (one per prefix length in use, two with
// automatic bans alone).
func (b *Banner) Banned(addr netip.Addr) (until time.Time, ok bool) {
	a := addr.Unmap().WithZone("")
	if !a.IsValid() || b.size.Load() == 0 {
		return time.Time{}, false
	}
	b.mu.RLock()
	e, found := b.lookup(a)
	b.mu.RUnlock()
	if !found || !e.Active(time.Now()) {
		return time.Time{}, false
	}
	return e.Until, true
}

// RefuseConn reports whether a connection from addr must be closed before
// anything is read from it (the listener's Refuse hook); a refusal is
// counted and logged, sampled.
func (b *Banner) RefuseConn(addr netip.Addr) bool {
	until, ok := b.Banned(addr)
	if ok {
		b.refusedConns.Add(1)
		b.logRefused(context.Background(), nil, addr, until, "connection")
	}
	return ok
}

func (b *Banner) logRefused(ctx context.Context, r *http.Request, addr netip.Addr, until time.Time, what string) {
	if ok, suppressed := b.sampler.Allow(clientip.Key(addr).String()); ok {
		b.log.Event(ctx, r, slog.LevelInfo, ActionRefused, what+" refused: the client is banned",
			slog.String("client_ip", addr.Unmap().String()),
			slog.Time("until", until),
			slog.Int("suppressed", suppressed))
	}
}

// Handler answers 403 Forbidden (httperr's generic page) to the requests
// of banned clients, the client being the resolved one (clientip): the
// listener refuses a banned peer's connections already, this refuses a
// banned client behind a trusted proxy.
func (b *Banner) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := clientip.FromRequest(r)
		if until, ok := b.Banned(a); ok {
			b.refusedRequests.Add(1)
			b.logRefused(r.Context(), r, a, until, "request")
			httperr.Write(w, r, http.StatusForbidden, "", requestid.FromRequest(r))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Observe takes a security event; pass it to seclog.Logger.Observe. It
// never blocks: counted events are queued for the Banner's goroutine
// (dropped, and counted in Stats, when the queue is full). The client is
// the event's (source.ip), or, for an event without a request (a
// connection refused by the per-client cap), its client_ip attribute.
func (b *Banner) Observe(r seclog.Record) {
	if !b.jail.Load().actions[r.Action] {
		return
	}
	if !r.Client.IsValid() {
		for _, a := range r.Attrs {
			if a.Key == "client_ip" && a.Value.Kind() == slog.KindString {
				r.Client, _ = netip.ParseAddr(a.Value.String())
				break
			}
		}
		if !r.Client.IsValid() {
			return
		}
		r.Client = r.Client.Unmap().WithZone("")
	}
	select {
	case b.events <- r:
	default:
		b.dropped.Add(1)
	}
}

// Ignored reports whether a is never banned automatically.
func (b *Banner) Ignored(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	for _, p := range b.jail.Load().o.Ignore {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// KeyPrefix is the prefix an automatic ban of a covers: its IPv4
// address, or its IPv6 /64 (clientip.Key).
func KeyPrefix(a netip.Addr) netip.Prefix {
	k := clientip.Key(a)
	if k.Is4() {
		return netip.PrefixFrom(k, 32)
	}
	return netip.PrefixFrom(k, 64)
}

// count is the goroutine counting observed events.
func (b *Banner) count(ctx context.Context) {
	defer b.wg.Done()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			b.forget(time.Now())
		case r := <-b.events:
			b.countOne(ctx, r)
		}
	}
}

// forget drops from memory the entries past their Forget time.
func (b *Banner) forget(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() { b.size.Store(int64(len(b.entries))) }()
	for p, e := range b.entries {
		if !now.Before(e.Forget) {
			delete(b.entries, p)
			b.lens[family(p.Addr())][p.Bits()]--
		}
	}
}

func (b *Banner) countOne(ctx context.Context, r seclog.Record) {
	if b.Ignored(r.Client) {
		return
	}
	if _, banned := b.Banned(r.Client); banned {
		return
	}
	o := b.jail.Load().o
	key := "ban:" + clientip.Key(r.Client).String()
	now := time.Now()
	n := 0
	for range min(max(r.Count, 1), o.MaxRetry) {
		var err error
		if n, err = b.store.Fail(ctx, key, o.FindTime, now); err != nil {
			if ctx.Err() == nil {
				slog.Warn("ban: counting a failure", "error", err)
			}
			return
		}
		if n >= o.MaxRetry {
			break
		}
	}
	if n < o.MaxRetry {
		return
	}
	reason := fmt.Sprintf("%d failure events within %s (last: %s)", n, o.FindTime, r.Action)
	if _, err := b.ban(ctx, KeyPrefix(r.Client), 0, reason, false); err != nil && ctx.Err() == nil {
		slog.Warn("ban: recording a ban", "error", err)
	}
	b.store.Reset(ctx, key)
}

// duration is the ban time of an offence of rank n ≥ 1.
func (b *Banner) duration(n int) time.Duration {
	o := b.jail.Load().o
	d := float64(o.BanTime) * math.Pow(o.BanTimeIncrement, float64(n-1))
	if d >= float64(o.MaxBanTime) || math.IsInf(d, 0) || math.IsNaN(d) {
		return o.MaxBanTime
	}
	return time.Duration(d)
}

// ErrInvalid is Ban's and Unban's error for a prefix that cannot be
// banned.
var ErrInvalid = errors.New("ban: not a valid address or prefix to ban")

func (b *Banner) ban(ctx context.Context, p netip.Prefix, d time.Duration, reason string, manual bool) (Entry, error) {
	now := time.Now()
	b.mu.RLock()
	prev, had := b.entries[p]
	b.mu.RUnlock()
	offence := 1
	if had && now.Before(prev.Forget) {
		offence = prev.Offence + 1
	}
	if d <= 0 {
		d = b.duration(offence)
	}
	e := Entry{Prefix: p, Until: now.Add(d), Created: now, Reason: reason, Offence: offence, Manual: manual,
		Forget: now.Add(d + b.jail.Load().o.MaxBanTime)}
	b.apply(Change{Entry: e})
	b.bans.Add(1)
	err := b.store.Ban(ctx, e)
	by := "auto"
	if manual {
		by = "operator"
	}
	b.log.Event(ctx, nil, slog.LevelWarn, ActionBanned, "client banned",
		slog.String("client_ip", p.Addr().String()),
		slog.String("prefix", p.String()),
		slog.Time("until", e.Until),
		slog.String("duration", d.String()),
		slog.Int("offence", offence),
		slog.String("reason", reason),
		slog.String("by", by))
	return e, err
}

// Ban bans p (an address's client: see ParseTarget) for d (the offence's
// grown ban time when d ≤ 0), in force here at once and announced through
// the store. The zero prefix (everyone) is refused.
func (b *Banner) Ban(ctx context.Context, p netip.Prefix, d time.Duration, reason string) (Entry, error) {
	p = normalize(p)
	if !p.IsValid() || p.Bits() == 0 {
		return Entry{}, ErrInvalid
	}
	return b.ban(ctx, p, d, reason, true)
}

// Unban lifts the ban of p (and forgets its offences), here at once and
// through the store. It reports whether p was banned here.
func (b *Banner) Unban(ctx context.Context, p netip.Prefix) (bool, error) {
	p = normalize(p)
	if !p.IsValid() {
		return false, ErrInvalid
	}
	b.mu.RLock()
	e, had := b.entries[p]
	b.mu.RUnlock()
	b.apply(Change{Entry: Entry{Prefix: p}, Removed: true})
	err := b.store.Unban(ctx, p)
	b.log.Event(ctx, nil, slog.LevelInfo, ActionUnbanned, "ban lifted",
		slog.String("client_ip", p.Addr().String()),
		slog.String("prefix", p.String()))
	return had && e.Active(time.Now()), err
}

// List returns the bans in force, the latest ending first.
func (b *Banner) List() []Entry {
	now := time.Now()
	b.mu.RLock()
	var out []Entry
	for _, e := range b.entries {
		if e.Active(now) {
			out = append(out, e)
		}
	}
	b.mu.RUnlock()
	slices.SortFunc(out, func(x, y Entry) int { return y.Until.Compare(x.Until) })
	return out
}

// Stats returns the counters.
func (b *Banner) Stats() Stats {
	return Stats{Active: len(b.List()), Bans: b.bans.Load(), RefusedConns: b.refusedConns.Load(),
		RefusedRequests: b.refusedRequests.Load(), Dropped: b.dropped.Load()}
}

// follow applies the store's changes (other instances' bans) until ctx
// is done.
func (b *Banner) follow(ctx context.Context, changes <-chan Change) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-changes:
			if !ok {
				return
			}
			b.apply(c)
		}
	}
}

// normalize masks p and folds an IPv4-mapped prefix to IPv4.
func normalize(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return netip.Prefix{}
	}
	a := p.Addr().WithZone("")
	if a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}
		}
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// ParseTarget reads what an operator bans: an address, meaning its client
// (an IPv4 address, the /64 of an IPv6 address: KeyPrefix), or a CIDR
// prefix, taken as written (host bits cleared). The whole address space
// (/0) is refused.
func ParseTarget(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: an address to ban has no zone", s)
		}
		return KeyPrefix(a), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR prefix", s)
	}
	if p = normalize(p); !p.IsValid() || p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q would ban every client", s)
	}
	return p, nil
}
