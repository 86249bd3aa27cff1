package dashboard

import (
	"cmp"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/internal/reqstate"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// Window is the span the dashboard's counts cover: the last hour, one
// bucket per minute.
const (
	Window  = time.Hour
	buckets = 60
)

// Defaults of RecorderOptions.
const (
	DefaultMaxClients = 1000
	DefaultMaxEvents  = 50
	maxStages         = 16
	maxZones          = 64
	maxDetail         = 256
)

// RecorderOptions configures a Recorder. The zero value is ready to use.
type RecorderOptions struct {
	// MaxClients bounds the clients tracked for the top offenders: when
	// it is reached, the half with the fewest failures in the window is
	// forgotten. Zero means DefaultMaxClients.
	MaxClients int
	// MaxEvents is how many recent security events are kept. Zero means
	// DefaultMaxEvents.
	MaxEvents int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Recorder counts what the gateway does, for the dashboard: responses per
// minute over the last hour (Request, Handler), and the security events
// (Observe) for the recent-events list, the top offenders and the
// rate-limit rejections per zone. Its memory is bounded whatever the
// traffic. It is safe for concurrent use; the zero value is not usable,
// call NewRecorder.
type Recorder struct {
	now        func() time.Time
	maxClients int
	maxEvents  int

	// Request path: lock-free, allocation-free.
	requests ring // every response
	client   ring // 4xx
	server   ring // 5xx
	rejected ring // refused by one of rampart's stages

	marked  atomic.Bool // Application is in use
	stageMu sync.Mutex  // serialises adding a stage
	stages  atomic.Pointer[[]*stage]

	// Security events: a mutex, they are rare next to requests.
	mu       sync.Mutex
	events   []Event // ring of the last maxEvents
	next     int     // where the next event goes in events
	failures ring    // failure events per minute
	clients  map[netip.Addr]*offender
	zones    map[string]*minutes
}

// stage counts the rejections of one of rampart's stages.
type stage struct {
	name string
	n    ring
}

// NewRecorder returns an empty Recorder.
func NewRecorder(o RecorderOptions) *Recorder {
	r := &Recorder{now: o.Now, maxClients: o.MaxClients, maxEvents: o.MaxEvents}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxClients <= 0 {
		r.maxClients = DefaultMaxClients
	}
	if r.maxEvents <= 0 {
		r.maxEvents = DefaultMaxEvents
	}
	r.clients = make(map[netip.Addr]*offender)
	r.zones = make(map[string]*minutes)
	empty := []*stage{}
	r.stages.Store(&empty)
	return r
}

// ring is a count per minute over the last hour: bucket m%60 holds minute
// m (minutes since the Unix epoch) when its stamp says so. A writer that
// finds an old stamp resets the bucket under mu, zeroing the count before
// it publishes the new stamp, so an increment is never lost to a reset
// unless its writer stalled for a whole hour between reading the clock and
// adding.
type ring struct {
	mu sync.Mutex
	b  [buckets]bucket
}

type bucket struct {
	minute atomic.Int64
	n      atomic.Uint64
}

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

func (g *ring) add(m int64, n uint64) {
	b := &g.b[m%buckets]
	if b.minute.Load() != m {
		g.mu.Lock()
		if b.minute.Load() != m {
			b.n.Store(0)
			b.minute.Store(m)
		}
		g.mu.Unlock()
	}
	b.n.Add(n)
}

// series returns the counts of the 60 minutes ending with minute now,
// oldest first.
func (g *ring) series(now int64) [buckets]uint64 {
	var out [buckets]uint64
	for i := range buckets {
		m := now - buckets + 1 + int64(i)
		b := &g.b[m%buckets]
		if b.minute.Load() == m {
			out[i] = b.n.Load()
		}
	}
	return out
}

func (g *ring) total(now int64) uint64 {
	var sum uint64
	for _, n := range g.series(now) {
		sum += n
	}
	return sum
}

// Request counts one response with its status. rejectedBy names the
// rampart stage that answered instead of the application ("ratelimit",
// "csrf", "auth", "ban", "listener", ...), or is "" when the application
// answered; a rejection is counted only when rejectedBy is set, whatever
// the status. It does not allocate (after the first rejection of each
// stage), so the gateway can call it on every request.
func (r *Recorder) Request(status int, rejectedBy string) {
	m := minuteOf(r.now())
	r.requests.add(m, 1)
	switch {
	case status >= 500:
		r.server.add(m, 1)
	case status >= 400:
		r.client.add(m, 1)
	}
	if rejectedBy != "" {
		r.rejected.add(m, 1)
		r.stage(rejectedBy).n.add(m, 1)
	}
}

// stage returns the counter of the named stage, adding it if there is
// room; past maxStages names, the rest count as "other".
func (r *Recorder) stage(name string) *stage {
	for _, s := range *r.stages.Load() {
		if s.name == name {
			return s
		}
	}
	r.stageMu.Lock()
	defer r.stageMu.Unlock()
	list := *r.stages.Load()
	for _, s := range list {
		if s.name == name {
			return s
		}
	}
	if len(list) >= maxStages-1 {
		name = "other"
		for _, s := range list {
			if s.name == name {
				return s
			}
		}
	}
	s := &stage{name: safe.Clean(name, 64)}
	grown := append(slices.Clip(list), s)
	r.stages.Store(&grown)
	return s
}

// refusalStatus reports whether status is one rampart's stages refuse
// requests with: 400 (malformed request, bad path), 401 (sign-in
// required), 403 (CSRF, IP rules, ban, authorisation), 405, 413 and 431
// (size budgets), 414, 421 (misdirected host) and 429 (rate limit).
func refusalStatus(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong, http.StatusMisdirectedRequest,
		http.StatusTooManyRequests, http.StatusRequestHeaderFieldsTooLarge:
		return true
	}
	return false
}

// statusLabels names the rejections Handler counts, by status, without
// allocating on the request path.
var statusLabels = func() map[int]string {
	m := map[int]string{}
	for code := 400; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			m[code] = strconv.Itoa(code) + " " + t
		}
	}
	return m
}()

func statusLabel(code int) string {
	if l, ok := statusLabels[code]; ok {
		return l
	}
	return "other status"
}

// Handler counts every response next writes, as Request does, naming a
// rejection by its status ("429 Too Many Requests"). Which responses are
// rejections depends on whether the application is marked:
//
//   - with Application around the handler that forwards to the
//     application (the reverse proxy), a rejection is a response with a
//     status of 400 or more that did not come from inside it: rampart
//     answered instead of forwarding. The application's own 403 or 404
//     is not one.
//   - without, a middleware cannot tell rampart's refusals from the
//     application's, and every response with a status rampart refuses
//     requests with (400, 401, 403, 405, 413, 414, 421, 429, 431) counts,
//     whoever wrote it.
//
// A response whose handler writes nothing counts as 200. Handler
// allocates one small writer per request; a gateway that knows which
// stage answered can call Request instead.
func (r *Recorder) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s, req := reqstate.Take(req, always)
		w, resp := reqstate.Record(req, w)
		defer func() {
			status := resp.Status
			if status == 0 {
				status = http.StatusOK
			}
			by := ""
			if r.marked.Load() {
				if !s.App && status >= 400 {
					by = statusLabel(status)
				}
			} else if refusalStatus(status) {
				by = statusLabel(status)
			}
			r.Request(status, by)
		}()
		next.ServeHTTP(w, req)
	})
}

// always is reqstate.Take's test for Handler: any State will do, the
// record it keeps being the response's and the application mark.
func always(*reqstate.State) bool { return true }

// Application marks the responses of next, the handler that forwards to
// the application, as the application's, for Handler (which must be
// outside it). It does not allocate.
func (r *Recorder) Application(next http.Handler) http.Handler {
	r.marked.Store(true)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reqstate.MarkApp(req.Context())
		next.ServeHTTP(w, req)
	})
}

// Event is a security event as the dashboard lists it. Every string is
// cleaned of control and format characters (safe.Clean) and bounded.
type Event struct {
	Time    time.Time
	Action  string // the OWASP name
	Outcome string // success, failure or unknown
	Client  string // "" when the event has no request
	Method  string
	Path    string
	User    string
	Detail  string // the zone, the reason, ... from the event's attributes
	Count   int    // events this one stands for (sampling)
}

// offender is a client's failure events over the last hour, in twelve
// five-minute buckets.
type offender struct {
	stamp [12]int64 // five-minute period held by n[i], +1 (0: empty)
	n     [12]uint32
	last  time.Time
	what  string // the action of the last failure
}

func (o *offender) add(period int64, n int) {
	i := period % 12
	if o.stamp[i] != period+1 {
		o.stamp[i], o.n[i] = period+1, 0
	}
	o.n[i] += uint32(n)
}

func (o *offender) total(period int64) uint64 {
	var sum uint64
	for i := range 12 {
		if p := o.stamp[i] - 1; o.stamp[i] != 0 && p > period-12 && p <= period {
			sum += uint64(o.n[i])
		}
	}
	return sum
}

// minutes is a per-minute count without atomics, for counts kept under
// Recorder.mu.
type minutes struct {
	stamp [buckets]int64
	n     [buckets]uint64
}

func (c *minutes) add(m int64, n uint64) {
	i := m % buckets
	if c.stamp[i] != m {
		c.stamp[i], c.n[i] = m, 0
	}
	c.n[i] += n
}

func (c *minutes) total(now int64) uint64 {
	var sum uint64
	for i := range buckets {
		if m := c.stamp[i]; m > now-buckets && m <= now {
			sum += c.n[i]
		}
	}
	return sum
}

// detailKeys are the event attributes shown as an event's detail, in
// this order.
var detailKeys = []string{"zone", "reason", "rule", "directive", "violated_directive", "status"}

// Observe records a security event: subscribe it with
// seclog.Logger.Observe(recorder.Observe). Failure events (seclog.Outcome)
// with a client count against that client, and rate-limit rejections
// (excess_rate_limit_exceeded with a "zone" attribute, not a dry run)
// against their zone, both weighted by the record's Count. It takes a
// mutex and copies a few cleaned strings: quick enough for the goroutine
// that logs.
func (r *Recorder) Observe(rec seclog.Record) {
	count := max(rec.Count, 1)
	t := rec.Time
	if t.IsZero() {
		t = r.now()
	}
	ev := Event{
		Time:    t,
		Action:  safe.Clean(rec.Action, 64),
		Outcome: seclog.Outcome(rec.Action),
		Method:  safe.Clean(rec.Method, 32),
		Path:    safe.Clean(rec.Path, maxDetail),
		User:    safe.Clean(rec.User, 128),
		Count:   count,
	}
	if rec.Client.IsValid() {
		ev.Client = rec.Client.String()
	}
	var zone string
	dryRun := false
	for _, k := range detailKeys {
		for _, a := range rec.Attrs {
			if a.Key == k && ev.Detail == "" {
				ev.Detail = k + "=" + safe.Clean(a.Value.String(), maxDetail)
			}
		}
	}
	for _, a := range rec.Attrs {
		switch a.Key {
		case "zone":
			zone = safe.Clean(a.Value.String(), 64)
		case "dry_run":
			dryRun = a.Value.String() == "true"
		}
	}
	m := minuteOf(r.now())

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) < r.maxEvents {
		r.events = append(r.events, ev)
	} else {
		r.events[r.next] = ev
	}
	r.next = (r.next + 1) % r.maxEvents
	if ev.Outcome != "failure" {
		return
	}
	r.failures.add(m, uint64(count))
	if rec.Action == seclog.ExcessRateLimitExceeded && zone != "" && !dryRun {
		z := r.zones[zone]
		if z == nil && len(r.zones) < maxZones {
			z = new(minutes)
			r.zones[zone] = z
		}
		if z != nil {
			z.add(m, uint64(count))
		}
	}
	if !rec.Client.IsValid() {
		return
	}
	o := r.clients[rec.Client]
	if o == nil {
		if len(r.clients) >= r.maxClients {
			r.evict(m / 5)
		}
		o = new(offender)
		r.clients[rec.Client] = o
	}
	o.add(m/5, count)
	o.last, o.what = t, ev.Action
}

// evict forgets the half of the clients with the fewest failures in the
// window (those with none first), so a flood of distinct addresses costs
// O(log n) per new client, amortised, and never more than maxClients
// entries.
func (r *Recorder) evict(period int64) {
	type entry struct {
		a netip.Addr
		n uint64
	}
	all := make([]entry, 0, len(r.clients))
	for a, o := range r.clients {
		all = append(all, entry{a, o.total(period)})
	}
	slices.SortFunc(all, func(x, y entry) int { return cmp.Compare(x.n, y.n) })
	for _, e := range all[:len(all)-r.maxClients/2] {
		delete(r.clients, e.a)
	}
}

// Offender is a client with failure events in the window.
type Offender struct {
	Client   string
	Failures uint64
	Last     time.Time
	LastWhat string // the action of its last failure
}

// Stats is a snapshot of a Recorder.
type Stats struct {
	Now time.Time
	// Per minute, oldest first, the last being the current minute.
	Requests, ClientErrors, ServerErrors, Rejected, Failures [buckets]uint64
	// Totals over the window.
	TotalRequests, TotalRejected, TotalFailures uint64
	// Rejections per stage over the window, most first.
	Stages []StageCount
	// Rate-limit rejections per zone over the window.
	Zones map[string]uint64
	// The most recent events, newest first.
	Events []Event
	// Clients with the most failures in the window, most first.
	Offenders []Offender
	// Clients tracked (at most RecorderOptions.MaxClients).
	TrackedClients int
}

// StageCount is the rejections of one stage.
type StageCount struct {
	Stage string
	Count uint64
}

// Stats returns what the recorder holds now, with at most top offenders.
func (r *Recorder) Stats(top int) Stats {
	now := r.now()
	m := minuteOf(now)
	s := Stats{
		Now:          now,
		Requests:     r.requests.series(m),
		ClientErrors: r.client.series(m),
		ServerErrors: r.server.series(m),
		Rejected:     r.rejected.series(m),
		Zones:        map[string]uint64{},
	}
	for _, n := range s.Requests {
		s.TotalRequests += n
	}
	for _, n := range s.Rejected {
		s.TotalRejected += n
	}
	for _, st := range *r.stages.Load() {
		if n := st.n.total(m); n > 0 {
			s.Stages = append(s.Stages, StageCount{st.name, n})
		}
	}
	slices.SortFunc(s.Stages, func(a, b StageCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Stage, b.Stage)
	})

	r.mu.Lock()
	defer r.mu.Unlock()
	s.Failures = r.failures.series(m)
	for _, n := range s.Failures {
		s.TotalFailures += n
	}
	for name, z := range r.zones {
		if n := z.total(m); n > 0 {
			s.Zones[name] = n
		}
	}
	// r.next is where the oldest event is (once the ring is full) or
	// len(r.events) (until then): either way the newest is just before.
	for i := range len(r.events) {
		s.Events = append(s.Events, r.events[(r.next-1-i+2*len(r.events))%len(r.events)])
	}
	s.TrackedClients = len(r.clients)
	for a, o := range r.clients {
		if n := o.total(m / 5); n > 0 {
			s.Offenders = append(s.Offenders, Offender{Client: a.String(), Failures: n, Last: o.last, LastWhat: o.what})
		}
	}
	slices.SortFunc(s.Offenders, func(a, b Offender) int {
		if c := cmp.Compare(b.Failures, a.Failures); c != 0 {
			return c
		}
		return cmp.Compare(a.Client, b.Client)
	})
	if len(s.Offenders) > top {
		s.Offenders = s.Offenders[:top]
	}
	return s
}
