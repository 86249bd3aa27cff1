// Package ban bans clients that cause security failures, with the
// semantics of fail2ban built into the gateway: MaxRetry counted events
// from one client within FindTime ban it for BanTime, longer on each
// repeat offence, up to MaxBanTime.
//
// The events are the security log's (package seclog): a Banner watches a
// seclog.Logger (Logger.Observe(b.Observe)) and counts, per client, the
// actions listed in Options.Actions: failed logins, CSRF rejects,
// rate-limit rejects and scanner probes (see Probe) by default. Nothing
// else counts: a 401 answered to a request without credentials is not an
// event, so it never leads to a ban.
//
// A client is an IPv4 address or an IPv6 /64 (clientip.Key), so that one
// IPv6 subscriber cannot dodge a ban by changing the host half of its
// address. Banned answers from memory in constant time; the listener
// refuses a banned peer's connection before the TLS handshake
// (RefuseConn), and Handler refuses a banned client's requests with 403
// (for clients behind trusted proxies, whose connection is the proxy's).
//
// Bans and failure counts live in a Store: in memory (NewMemoryStore),
// in rampart's embedded file, or in Redis, which shares them between
// instances: failures seen by two instances add up, and a ban made by one
// reaches the others within about a second.
package ban

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/seclog"
)

// Actions of the events a Banner logs, and of the probe events Probe logs.
// They are rampart's own names in the OWASP style; seclog files "ban_"
// under event.category intrusion_detection.
const (
	// ActionProbe: a request for a path only scanners ask for (/.env,
	// /.git/config, /wp-login.php, ...). See Probe.
	ActionProbe = "malicious_probe"
	// ActionBanned: a client was banned (automatically or by an operator).
	ActionBanned = "ban_added"
	// ActionUnbanned: an operator lifted a ban.
	ActionUnbanned = "ban_removed"
	// ActionRefused: a banned client's connection or request was refused
	// (sampled: at most one event per client every 10 seconds).
	ActionRefused = "ban_refused"
)

// DefaultActions returns the events counted when Options.Actions is
// empty. The slice is a copy: changing it changes no Banner.
func DefaultActions() []string { return slices.Clone(defaultActions) }

var defaultActions = []string{
	seclog.AuthnLoginFail,
	seclog.AuthnLoginFailMax,
	seclog.MaliciousCSRF,
	seclog.ExcessRateLimitExceeded,
	ActionProbe,
}

// Defaults of the zero Options fields.
const (
	DefaultMaxRetry         = 10
	DefaultFindTime         = 10 * time.Minute
	DefaultBanTime          = time.Hour
	DefaultBanTimeIncrement = 2.0
	DefaultMaxBanTime       = 7 * 24 * time.Hour
)

// Options configure a Banner. The zero value is the default jail: 10
// counted events within 10 minutes ban the client for 1 hour, doubled on
// each repeat offence up to a week; loopback clients are never banned
// automatically.
type Options struct {
	// MaxRetry is how many counted events within FindTime ban a client.
	// Zero: DefaultMaxRetry (10).
	MaxRetry int
	// FindTime is the window in which the events are counted; it starts
	// at the client's first event. Zero: DefaultFindTime (10m).
	FindTime time.Duration
	// BanTime is how long a first ban lasts. Zero: DefaultBanTime (1h).
	BanTime time.Duration
	// BanTimeIncrement multiplies the ban time on each repeat offence:
	// the n-th ban lasts BanTime × BanTimeIncrement^(n-1). A client's
	// bans are remembered until MaxBanTime after the last one ended.
	// Zero: DefaultBanTimeIncrement (2); 1 keeps every ban at BanTime.
	BanTimeIncrement float64
	// MaxBanTime caps a grown ban time. Zero: DefaultMaxBanTime (7 days).
	MaxBanTime time.Duration
	// Actions are the seclog event actions that count. Empty:
	// DefaultActions().
	Actions []string
	// Ignore are clients never banned automatically: trusted proxies
	// (their address carries many clients), monitoring. Loopback
	// addresses are always ignored. An operator's Ban applies to any.
	Ignore []netip.Prefix
	// Store keeps bans and counts failures. Nil: NewMemoryStore(), this
	// process only, lost on restart.
	Store Store
	// Log receives ban_added, ban_removed and ban_refused events. Nil:
	// slog.Default().
	Log *seclog.Logger
}

// Validate reports what is wrong with o by Go field path.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	if o.MaxRetry < 0 {
		errs.Errorf("MaxRetry", "remove it for the default (10)", "must not be negative")
	} else if o.MaxRetry == 1 {
		errs.Warnf("MaxRetry", "use at least 3", "one mistyped password bans a user")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"FindTime", o.FindTime}, {"BanTime", o.BanTime}, {"MaxBanTime", o.MaxBanTime}} {
		if d.v < 0 {
			errs.Errorf(d.name, "remove it for the default", "must not be negative")
		}
	}
	if o.BanTimeIncrement != 0 && (o.BanTimeIncrement < 1 || o.BanTimeIncrement > 100) {
		errs.Errorf("BanTimeIncrement", "use 1 (no growth) to 100; the default is 2", "%g is out of range", o.BanTimeIncrement)
	}
	if o.MaxBanTime > 0 && o.BanTime > o.MaxBanTime {
		errs.Errorf("MaxBanTime", "raise it above ban_time, or lower ban_time", "is shorter than BanTime")
	}
	for i, a := range o.Actions {
		switch {
		case a == "":
			errs.Errorf(field.Index("Actions", i), "name a security log event.action", "is empty")
		case len(a) > 4 && a[:4] == "ban_":
			errs.Errorf(field.Index("Actions", i), "count the failures that lead to bans, not the bans", "%q would make each ban count toward the next", a)
		case slices.Contains(o.Actions[:i], a):
			errs.Errorf(field.Index("Actions", i), "remove the duplicate", "%q is listed twice", a)
		}
	}
	for i, p := range o.Ignore {
		if !p.IsValid() {
			errs.Errorf(field.Index("Ignore", i), "write an address or a CIDR prefix", "is not a valid prefix")
		}
	}
	return errs
}

func (o Options) withDefaults() Options {
	if o.MaxRetry == 0 {
		o.MaxRetry = DefaultMaxRetry
	}
	if o.FindTime == 0 {
		o.FindTime = DefaultFindTime
	}
	if o.BanTime == 0 {
		o.BanTime = DefaultBanTime
	}
	if o.BanTimeIncrement == 0 {
		o.BanTimeIncrement = DefaultBanTimeIncrement
	}
	if o.MaxBanTime == 0 {
		o.MaxBanTime = max(DefaultMaxBanTime, o.BanTime)
	}
	if len(o.Actions) == 0 {
		o.Actions = defaultActions
	}
	if o.Store == nil {
		o.Store = NewMemoryStore()
	}
	return o
}

// Entry is one ban.
type Entry struct {
	// Prefix is who is banned: a client key's prefix (an IPv4 /32, an
	// IPv6 /64) for an automatic ban, any prefix for an operator's.
	Prefix netip.Prefix `json:"prefix"`
	// Until is when the ban ends.
	Until time.Time `json:"until"`
	// Created is when the ban was made.
	Created time.Time `json:"created"`
	// Reason says why ("10 failure events within 10m0s", or the
	// operator's words).
	Reason string `json:"reason"`
	// Offence is the ban's rank in the client's remembered history: 1
	// for a first ban.
	Offence int `json:"offence"`
	// Manual marks an operator's ban.
	Manual bool `json:"manual,omitempty"`
	// Forget is when the record is dropped, the ban over: after it, the
	// client's next ban is a first offence again.
	Forget time.Time `json:"forget"`
}

// Active reports whether e bans at now.
func (e Entry) Active(now time.Time) bool { return now.Before(e.Until) }

// Change is a ban made or lifted, as a Store announces it.
type Change struct {
	Entry   Entry
	Removed bool // the ban of Entry.Prefix was lifted
}

// Store keeps bans and failure counts, possibly shared between
// instances. Every method may be called concurrently; none is called on a
// request's goroutine except through Ban and Unban, which an operator
// calls.
type Store interface {
	// Fail counts one failure of key in a window of length window that
	// starts at the key's first failure, and returns the count so far.
	Fail(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// Reset forgets key's failures.
	Reset(ctx context.Context, key string) error
	// Ban records e (replacing any entry of e.Prefix) until e.Forget and
	// announces it to every Bans subscriber, on every instance.
	Ban(ctx context.Context, e Entry) error
	// Unban removes the entry of p, and announces it.
	Unban(ctx context.Context, p netip.Prefix) error
	// Bans returns the entries kept at now (bans in force and those
	// remembered), and then every change until ctx is done.
	Bans(ctx context.Context, now time.Time) ([]Entry, <-chan Change, error)
}
