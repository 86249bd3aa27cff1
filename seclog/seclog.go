// Package seclog records security events in the vocabulary of the OWASP
// Application Logging Vocabulary Cheat Sheet (authn_login_fail,
// excess_rate_limit_exceeded, input_validation_fail, ...), as structured
// log/slog records on a stream separate from the access log.
//
// Each record carries: event, description, the real client address, the
// request id, method, host and path of the request that caused it, plus the
// caller's own attributes. Values are strings that slog's JSON handler
// escapes, so a hostile path or header cannot forge a record.
package seclog

import (
	"context"
	"log/slog"
	"net/http"

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
)

// Logger writes security events. The zero value and a nil *Logger write to
// slog.Default(): a security event is never silently dropped because a
// component was built without a logger.
type Logger struct {
	l *slog.Logger
}

// New returns a Logger writing to l (slog.Default() when l is nil).
func New(l *slog.Logger) *Logger { return &Logger{l: l} }

func (s *Logger) logger() *slog.Logger {
	if s == nil || s.l == nil {
		return slog.Default()
	}
	return s.l
}

// Event records one security event caused by r (r may be nil for events not
// tied to a request, such as a backend becoming unreachable).
func (s *Logger) Event(ctx context.Context, r *http.Request, level slog.Level, event, description string, attrs ...slog.Attr) {
	l := s.logger()
	if !l.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, 8+len(attrs))
	all = append(all, slog.String("event", event))
	if r != nil {
		if a := clientip.FromRequest(r); a.IsValid() {
			all = append(all, slog.String("client_ip", a.String()))
		}
		if id := requestid.FromRequest(r); id != "" {
			all = append(all, slog.String("request_id", id))
		}
		all = append(all,
			slog.String("method", safe.Clean(r.Method, 32)),
			slog.String("host", safe.Clean(r.Host, 256)),
			slog.String("path", safe.Clean(r.URL.Path, maxPath)),
		)
	}
	// Callers' string attributes are often client-chosen too (a user
	// name, a rate-limit key, a report field): same cleaning, same bound.
	for _, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			a.Value = slog.StringValue(safe.Clean(a.Value.String(), maxPath))
		}
		all = append(all, a)
	}
	l.LogAttrs(ctx, level, description, all...)
}
