package auth

import (
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// Prefix is where rampart's own endpoints live: the login page and API,
// logout, refresh, the JWKS and the pages' assets. Requests under it are
// answered by rampart, never forwarded.
const Prefix = "/.well-known/rampart/"

// The endpoints under Prefix.
const (
	LoginPath   = Prefix + "login"
	LogoutPath  = Prefix + "logout"
	RefreshPath = Prefix + "refresh"
	JWKSPath    = Prefix + "jwks.json"
	assetsPath  = Prefix + "assets/"
)

// Cookie names. The access cookie's __Host- prefix makes browsers refuse
// it unless it is Secure, Path=/ and without Domain, so no sibling
// subdomain can plant one; the refresh cookie is scoped to the refresh
// endpoint, which __Host- forbids, so it has the __Secure- prefix.
const (
	SessionCookie = "__Host-rampart-session"
	RefreshCookie = "__Secure-rampart-refresh"
)

// Default identity header names.
const (
	DefaultUserHeader      = "X-Rampart-User"
	DefaultRolesHeader     = "X-Rampart-Roles"
	DefaultAssertionHeader = "X-Rampart-Assertion"
)

// Options configure authentication at the gateway. Users.Path is
// required; every other zero field is the default written beside it.
type Options struct {
	// Users is the users file (users.Options; Path required).
	Users users.Options

	// Session configures the tokens (session.Options). Secret is the
	// gateway's secret_key.
	Session session.Options

	// Rules say who may reach which paths (see Rule). None: every path
	// needs a session.
	Rules []Rule

	// Headers name the identity headers sent to the application.
	Headers IdentityHeaders

	// AssertionAudience is the aud claim of the assertion sent in the
	// assertion header, which the application checks. Zero means
	// "rampart-upstream".
	AssertionAudience string

	// JWKSFile, when set, is a file the gateway keeps holding the public
	// keys (the JWKS), for an application on the same machine to verify
	// the assertion without fetching it over HTTPS. Written atomically,
	// mode 0644 (public keys only), at start and at each key rotation.
	JWKSFile string

	// Redis, when set, is the state shared by every instance (sessions,
	// revocations, login counters): a logout on one is enforced by all
	// at once. Nil: the embedded store in the state directory, for one
	// instance. The gateway opens the store; Local and Logger are its.
	Redis *state.RedisOptions
}

// IdentityHeaders name the headers that carry the user to the
// application. Zero fields mean the defaults. A client's copy of each is
// removed from every request, a session or not.
type IdentityHeaders struct {
	User      string // the user name; default X-Rampart-User
	Roles     string // the roles, comma-separated; default X-Rampart-Roles
	Assertion string // a signed assertion (JWT); default X-Rampart-Assertion
}

// DefaultAssertionAudience is the assertion's aud claim by default.
const DefaultAssertionAudience = "rampart-upstream"

func (h IdentityHeaders) withDefaults() IdentityHeaders {
	if h.User == "" {
		h.User = DefaultUserHeader
	}
	if h.Roles == "" {
		h.Roles = DefaultRolesHeader
	}
	if h.Assertion == "" {
		h.Assertion = DefaultAssertionHeader
	}
	h.User = http.CanonicalHeaderKey(h.User)
	h.Roles = http.CanonicalHeaderKey(h.Roles)
	h.Assertion = http.CanonicalHeaderKey(h.Assertion)
	return h
}

// Validate reports every problem of o by Go field path. New runs the same
// checks.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	errs.Add("Users", o.Users.Validate())
	errs.Add("Session", o.Session.Validate())
	validateRules(&errs, "Rules", o.Rules)
	if o.Redis != nil {
		errs.Add("Redis", o.Redis.Validate())
	}
	seen := map[string]string{}
	for _, h := range []struct{ path, name string }{
		{"Headers.User", o.Headers.User}, {"Headers.Roles", o.Headers.Roles}, {"Headers.Assertion", o.Headers.Assertion},
	} {
		if h.name == "" {
			continue
		}
		if !safe.Token(h.name) {
			errs.Errorf(h.path, "a header name is letters, digits and '-'", "%q is not a header name", h.name)
			continue
		}
		c := http.CanonicalHeaderKey(h.name)
		if prev, dup := seen[c]; dup {
			errs.Errorf(h.path, "give each header its own name", "%s is already the name of %s", h.name, prev)
		}
		seen[c] = h.path
		if reserved(c) {
			errs.Errorf(h.path, "choose a name of its own, such as X-Rampart-User", "%s is a header HTTP or the proxy gives a meaning of its own", h.name)
		}
	}
	if a := o.AssertionAudience; a != "" && (len(a) > session.MaxNameLen || !printableASCII(a)) {
		errs.Errorf("AssertionAudience", "use a short name such as the application's URL", "must be 1 to %d printable ASCII characters", session.MaxNameLen)
	}
	return errs
}

// reserved names headers an identity header must not be: they have a
// meaning for HTTP, the proxy or the application's framework.
func reserved(canonical string) bool {
	switch canonical {
	case "Host", "Cookie", "Authorization", "Content-Length", "Content-Type", "Transfer-Encoding",
		"Connection", "Upgrade", "Te", "Trailer", "X-Forwarded-For", "X-Forwarded-Proto",
		"X-Forwarded-Host", "Forwarded", "X-Real-Ip", "X-Request-Id":
		return true
	}
	return strings.HasPrefix(canonical, "Sec-") || strings.HasPrefix(canonical, "Proxy-")
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
