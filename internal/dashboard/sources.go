package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/rampart-dev/rampart/check"
	"github.com/rampart-dev/rampart/safe"
)

// Sources are the parts of the dashboard that other components own: each
// is a func the dashboard calls while it renders, so it imports none of
// them. A nil func shows its section as not configured. The funcs are
// called on every page load (every refresh): they must be quick and safe
// for concurrent use, and must not block on the network.
type Sources struct {
	// Bans lists the clients banned now.
	Bans func() []Ban
	// Zones lists the rate-limit zones. Their rejections over the last
	// hour come from the Recorder (the zone of excess_rate_limit_exceeded
	// events).
	Zones func() []Zone
	// Certificates lists the certificates served.
	Certificates func() []Cert
	// Grade is the latest `rampart check` grade of the public listener;
	// Grader.Grade provides it.
	Grade func() Grade
}

// Ban is a client banned until a time.
type Ban struct {
	Client string
	Until  time.Time // zero: until removed
	Reason string    // e.g. "5 authn_login_fail in 10m0s"
}

// Zone is a rate-limit zone as configured.
type Zone struct {
	Name  string
	Rate  string // as configured, e.g. "10r/s"
	Burst int
	Key   string // what requests are counted by: "client", "header:X-Api-Key", ...
}

// Cert is a certificate the gateway serves.
type Cert struct {
	Name     string   // the certificate's file, or its subject
	Hosts    []string // the names it covers
	NotAfter time.Time
}

// Grade is the outcome of `rampart check` against the public listener.
type Grade struct {
	Target  string
	Grade   string // A+ ... F; "" when the audit could not run
	Score   int
	Checked time.Time // zero: not graded yet
	Err     string    // why the audit could not run
}

// Defaults of GraderOptions.
const (
	DefaultGradeEvery   = 10 * time.Minute
	DefaultGradeTimeout = time.Minute
)

// GraderOptions configures a Grader.
type GraderOptions struct {
	// Target is the https:// URL audited, the public listener. To audit
	// it on loopback under its public name, set Check.Resolve.
	Target string
	// Check configures the audit, as the flags of `rampart check` do.
	Check check.Options
	// Every is the time between audits. Zero means DefaultGradeEvery.
	Every time.Duration
	// Timeout bounds one whole audit. Zero means DefaultGradeTimeout.
	Timeout time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Run runs the audit. Nil means check.Run (tests replace it).
	Run func(ctx context.Context, target string, o check.Options) (*check.Report, error)
}

// Grader runs `rampart check` against the public listener in the
// background and keeps the latest grade, so a page load never waits for
// an audit. Start it with Run in a goroutine of its own.
type Grader struct {
	o    GraderOptions
	mu   sync.Mutex
	last Grade
}

// NewGrader returns a Grader that has not graded yet.
func NewGrader(o GraderOptions) *Grader {
	if o.Every <= 0 {
		o.Every = DefaultGradeEvery
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultGradeTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Run == nil {
		o.Run = check.Run
	}
	return &Grader{o: o, last: Grade{Target: o.Target}}
}

// Run grades at once, then every GraderOptions.Every, until ctx is done.
func (g *Grader) Run(ctx context.Context) {
	t := time.NewTicker(g.o.Every)
	defer t.Stop()
	for {
		g.Once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Retarget points the next audits at target with o (a configuration
// reload changed the public listener's names); the grade already kept
// stays until the next audit replaces it.
func (g *Grader) Retarget(target string, o check.Options) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.o.Target, g.o.Check = target, o
}

// Once runs one audit and keeps its grade.
func (g *Grader) Once(ctx context.Context) {
	g.mu.Lock()
	target, o := g.o.Target, g.o.Check
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, g.o.Timeout)
	defer cancel()
	rep, err := g.o.Run(ctx, target, o)
	res := Grade{Target: target, Checked: g.o.Now()}
	if err != nil {
		res.Err = safe.Clean(err.Error(), 512)
	} else {
		res.Grade, res.Score = rep.Grade, rep.Score
	}
	g.mu.Lock()
	g.last = res
	g.mu.Unlock()
}

// Grade returns the latest grade; use it as Sources.Grade.
func (g *Grader) Grade() Grade {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}
