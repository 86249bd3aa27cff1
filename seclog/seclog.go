// Package seclog records security events in the vocabulary of the OWASP
// Application Logging Vocabulary Cheat Sheet (authn_login_fail,
// excess_rate_limit_exceeded, input_validation_fail, ...), as structured
// log/slog records on a stream separate from the access log.
//
// Each record carries the event's name (event.action), its category and
// outcome, the description, the real client address, the request id,
// method, host and path of the request that caused it, plus the caller's
// own attributes, under Elastic Common Schema names (see Logger). Values
// are strings that slog's JSON handler escapes, so a hostile path or header
// cannot forge a record.
package seclog

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
)

// maxPath is how much of a request path an event keeps.
const maxPath = 1024

// Event names from the OWASP vocabulary used by rampart.
const (
	AuthnLoginSuccess       = "authn_login_success"
	AuthnLoginFail          = "authn_login_fail"
	AuthnLoginFailMax       = "authn_login_fail_max"
	AuthnLoginLock          = "authn_login_lock"
	AuthnTokenCreated       = "authn_token_created"
	AuthnTokenRevoked       = "authn_token_revoked"
	AuthnTokenReuse         = "authn_token_reuse"
	AuthzFail               = "authz_fail"
	ExcessRateLimitExceeded = "excess_rate_limit_exceeded"
	InputValidationFail     = "input_validation_fail"
	MaliciousCSRF           = "malicious_csrf"
	SessionCreated          = "session_created"
	SessionExpired          = "session_expired"
	SessionLogout           = "session_logout"
	// SessionUseAfterExpire: a token of a session that was ended
	// (logout, revocation) was presented again.
	SessionUseAfterExpire = "session_use_after_expire"
	CSPViolation          = "csp_violation"
	UpstreamUnavailable   = "upstream_unavailable"
	// UpstreamDebugPage: the application answered with a stack trace or
	// a debug page (it runs in debug mode), which the proxy replaced.
	UpstreamDebugPage  = "upstream_debug_page"
	SysMonitorDisabled = "sys_monitor_disabled"
	SysRestart         = "sys_restart"
	SysStartup         = "sys_startup"
	SysShutdown        = "sys_shutdown"
	SysConfigReload    = "sys_config_reload"
)

// Logger writes security events, one JSON-ready record each, with the
// OWASP event name in event.action and Elastic Common Schema names for the
// rest, so Elastic, Datadog, CrowdSec or a fail2ban filter read them
// without a mapping:
//
//	event.action             the OWASP name (authn_login_fail, malicious_csrf, ...)
//	event.category           authentication, session, iam, intrusion_detection,
//	                         web, configuration or process (Category)
//	event.outcome            success, failure or unknown (Outcome)
//	source.ip                the client address (clientip)
//	http.request.id          the request id
//	http.request.method      the method
//	url.domain, url.path     the Host and the path
//	user.name                the user, when the caller names one ("user")
//	http.response.status_code  when the caller gives one ("status")
//
// Other attributes keep the caller's names. The zero value and a nil
// *Logger write to slog.Default(): a security event is never silently
// dropped because a component was built without a logger.
type Logger struct {
	l         *slog.Logger
	observers atomic.Pointer[[]func(Record)]
}

// Record is an event as observers see it (see Observe).
type Record struct {
	Time   time.Time
	Level  slog.Level
	Action string     // the OWASP name
	Client netip.Addr // invalid when the event has no request
	Method string
	Path   string
	User   string
	// Count is how many events this record stands for: 1, plus those a
	// sampler suppressed since the last one logged (the caller's
	// "suppressed" attribute).
	Count int
	// Attrs are the caller's attributes, as given.
	Attrs []slog.Attr
}

// New returns a Logger writing to l (slog.Default() when l is nil).
func New(l *slog.Logger) *Logger { return &Logger{l: l} }

func (s *Logger) logger() *slog.Logger {
	if s == nil || s.l == nil {
		return slog.Default()
	}
	return s.l
}

// Observe calls f with every event logged from now on, synchronously, in
// the goroutine that logs it: f must be quick and must not log security
// events itself. Metrics, bans and the dashboard watch the log this way.
func (s *Logger) Observe(f func(Record)) {
	for {
		old := s.observers.Load()
		var list []func(Record)
		if old != nil {
			list = append(list, *old...)
		}
		list = append(list, f)
		if s.observers.CompareAndSwap(old, &list) {
			return
		}
	}
}

// Category is the ECS event.category of an OWASP event name.
func Category(action string) string {
	switch {
	case strings.HasPrefix(action, "authn_"):
		return "authentication"
	case strings.HasPrefix(action, "session_"):
		return "session"
	case strings.HasPrefix(action, "authz_"):
		return "iam"
	case strings.HasPrefix(action, "malicious_"), action == InputValidationFail, action == ExcessRateLimitExceeded,
		strings.HasPrefix(action, "ban_"):
		return "intrusion_detection"
	case action == SysStartup, action == SysShutdown, action == SysRestart:
		return "process"
	case strings.HasPrefix(action, "sys_"):
		return "configuration"
	}
	return "web"
}

// Outcome is the ECS event.outcome of an OWASP event name.
func Outcome(action string) string {
	switch {
	case strings.HasSuffix(action, "_success"), action == AuthnTokenCreated, action == SessionCreated,
		action == SessionLogout, action == SysStartup, action == SysShutdown:
		return "success"
	case strings.HasSuffix(action, "_fail"), strings.HasSuffix(action, "_fail_max"), action == AuthnLoginLock,
		action == AuthnTokenReuse, action == InputValidationFail, action == ExcessRateLimitExceeded,
		strings.HasPrefix(action, "malicious_"), action == SessionUseAfterExpire, action == UpstreamUnavailable:
		return "failure"
	}
	return "unknown"
}

// ecsName is the ECS name of a caller's attribute key, or the key itself.
func ecsName(key string) string {
	switch key {
	case "user":
		return "user.name"
	case "status":
		return "http.response.status_code"
	}
	return key
}

// Event records one security event caused by r (r may be nil for events not
// tied to a request, such as a backend becoming unreachable).
func (s *Logger) Event(ctx context.Context, r *http.Request, level slog.Level, event, description string, attrs ...slog.Attr) {
	l := s.logger()
	var obs []func(Record)
	if s != nil {
		if p := s.observers.Load(); p != nil {
			obs = *p
		}
	}
	enabled := l.Enabled(ctx, level)
	if !enabled && len(obs) == 0 {
		return
	}
	outcome := Outcome(event)
	for _, a := range attrs {
		// An event whose name does not say how it ended (a reload)
		// says it with an "outcome" attribute.
		if a.Key == "outcome" && a.Value.Kind() == slog.KindString {
			switch v := a.Value.String(); v {
			case "success", "failure", "unknown":
				outcome = v
			}
		}
	}
	all := make([]slog.Attr, 0, 10+len(attrs))
	all = append(all,
		slog.String("event.action", event),
		slog.String("event.category", Category(event)),
		slog.String("event.outcome", outcome),
	)
	rec := Record{Time: time.Now(), Level: level, Action: event, Count: 1}
	if r != nil {
		if a := clientip.FromRequest(r); a.IsValid() {
			rec.Client = a
			all = append(all, slog.String("source.ip", a.String()))
		}
		if id := requestid.FromRequest(r); id != "" {
			all = append(all, slog.String("http.request.id", id))
		}
		rec.Method, rec.Path = safe.Clean(r.Method, 32), safe.Clean(r.URL.Path, maxPath)
		all = append(all,
			slog.String("http.request.method", rec.Method),
			slog.String("url.domain", safe.Clean(r.Host, 256)),
			slog.String("url.path", rec.Path),
		)
	}
	// Callers' string attributes are often client-chosen too (a user
	// name, a rate-limit key, a report field): same cleaning, same bound.
	for _, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			a.Value = slog.StringValue(safe.Clean(a.Value.String(), maxPath))
		}
		switch a.Key {
		case "user":
			rec.User = a.Value.String()
		case "suppressed":
			if a.Value.Kind() == slog.KindInt64 && a.Value.Int64() > 0 {
				rec.Count += int(a.Value.Int64())
			}
		}
		if a.Key == "outcome" {
			continue
		}
		a.Key = ecsName(a.Key)
		all = append(all, a)
	}
	if enabled {
		l.LogAttrs(ctx, level, description, all...)
	}
	if len(obs) > 0 {
		rec.Attrs = attrs
		for _, f := range obs {
			f(rec)
		}
	}
}
