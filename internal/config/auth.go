package config

import (
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/csrf"
	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/state"
	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/users"
)

// Auth is the `auth:` section: login at the gateway (auth.Options, the
// plan's Auth). Absent, there is no login and requests reach the
// application as they come.
type Auth struct {
	// UsersFile is the users file (`rampart user add`). Required.
	UsersFile string `yaml:"users_file" plan:"Auth.Users.Path"`
	// UsersReloadInterval is how often the users file is checked for
	// changes. Default 5s.
	UsersReloadInterval Duration   `yaml:"users_reload_interval" plan:"Auth.Users.ReloadInterval"`
	Rules               []AuthRule `yaml:"rules" plan:"Auth.Rules"`
	Session             AuthTokens `yaml:"session"`
	Headers             AuthNames  `yaml:"headers" plan:"Auth.Headers"`
	// AssertionAudience is the aud of the assertion the application
	// verifies. Default "rampart-upstream".
	AssertionAudience string `yaml:"assertion_audience" plan:"Auth.AssertionAudience"`
	// JWKSFile is a file rampart keeps holding the public keys, for an
	// application on the same machine. Default none.
	JWKSFile string    `yaml:"jwks_file" plan:"Auth.JWKSFile"`
	Redis    AuthRedis `yaml:"redis" plan:"Auth.Redis"`
}

// AuthRule is one entry of `auth.rules`.
type AuthRule struct {
	Prefix  string   `yaml:"prefix" plan:"Auth.Rules[#].Prefix"`
	Methods []string `yaml:"methods" plan:"Auth.Rules[#].Methods"`
	Require string   `yaml:"require" plan:"Auth.Rules[#].Require"`
}

// AuthTokens is `auth.session`: the lifetimes of tokens and sessions.
type AuthTokens struct {
	AccessTTL       Duration `yaml:"access_ttl" plan:"Auth.Session.AccessTTL"`
	RefreshGrace    Duration `yaml:"refresh_grace" plan:"Auth.Session.RefreshGrace"`
	IdleTimeout     Duration `yaml:"idle_timeout" plan:"Auth.Session.IdleTimeout"`
	AbsoluteTimeout Duration `yaml:"absolute_timeout" plan:"Auth.Session.AbsoluteTimeout"`
	KeyRotation     Duration `yaml:"key_rotation" plan:"Auth.Session.KeyRotation"`
}

// AuthNames is `auth.headers`: the identity headers' names.
type AuthNames struct {
	User      string `yaml:"user" plan:"Auth.Headers.User"`
	Roles     string `yaml:"roles" plan:"Auth.Headers.Roles"`
	Assertion string `yaml:"assertion" plan:"Auth.Headers.Assertion"`
}

// AuthRedis is `auth.redis`: the state shared by every instance. Absent,
// the state is in the state directory (one instance).
type AuthRedis struct {
	URL string `yaml:"url" plan:"Auth.Redis.URL"`
	// PasswordSecret names the secret holding Redis's password (looked
	// up like secret_key).
	PasswordSecret string `yaml:"password_secret" plan:"-"`
	OnBackendError string `yaml:"on_backend_error" plan:"Auth.Redis.OnError"`
	Prefix         string `yaml:"prefix" plan:"Auth.Redis.Prefix"`
}

// CSRF is the `csrf:` section (csrf.Options, the plan's CSRF): the origin
// check of every unsafe request is on by default.
type CSRF struct {
	TrustedOrigins         []string `yaml:"trusted_origins" plan:"CSRF.TrustedOrigins"`
	InsecureBypassPrefixes []string `yaml:"insecure_bypass_prefixes" plan:"CSRF.InsecureBypassPrefixes"`
	TokenPrefixes          []string `yaml:"token_prefixes" plan:"CSRF.TokenPrefixes"`
}

func (l *loader) compileAuth(f *File, p *Plan) {
	p.CSRF = csrf.Options{
		TrustedOrigins:         f.CSRF.TrustedOrigins,
		InsecureBypassPrefixes: f.CSRF.InsecureBypassPrefixes,
		TokenPrefixes:          f.CSRF.TokenPrefixes,
	}
	a := f.Auth
	if a == nil {
		if len(f.CSRF.TokenPrefixes) > 0 {
			l.errorf("csrf.token_prefixes", "configure auth (users_file) or remove token_prefixes",
				"a token is bound to a session, and without auth there are none")
		}
		l.fieldFindings("CSRF", withoutPaths(p.CSRF.Validate(), "Secret", "SessionID"))
		return
	}
	o := auth.Options{
		Users: users.Options{Path: a.UsersFile, ReloadInterval: a.UsersReloadInterval.D},
		Rules: make([]auth.Rule, 0, len(a.Rules)),
		Session: session.Options{
			Secret:          p.SecretKey,
			AccessTTL:       a.Session.AccessTTL.D,
			RefreshGrace:    a.Session.RefreshGrace.D,
			IdleTimeout:     a.Session.IdleTimeout.D,
			AbsoluteTimeout: a.Session.AbsoluteTimeout.D,
			KeyRotation:     a.Session.KeyRotation.D,
		},
		Headers:           auth.IdentityHeaders{User: a.Headers.User, Roles: a.Headers.Roles, Assertion: a.Headers.Assertion},
		AssertionAudience: a.AssertionAudience,
		JWKSFile:          a.JWKSFile,
	}
	for _, r := range a.Rules {
		o.Rules = append(o.Rules, auth.Rule{Prefix: r.Prefix, Methods: r.Methods, Require: r.Require})
	}
	if a.Redis.URL != "" || a.Redis.OnBackendError != "" || a.Redis.PasswordSecret != "" || a.Redis.Prefix != "" {
		o.Redis = &state.RedisOptions{URL: a.Redis.URL, OnError: state.OnError(a.Redis.OnBackendError), Prefix: a.Redis.Prefix}
		if a.Redis.PasswordSecret != "" {
			if pw := l.secret("auth.redis.password_secret", a.Redis.PasswordSecret, "is configured but not set anywhere", Warning, ""); pw != nil {
				o.Redis.Password = string(pw)
			}
		}
	}
	errs := o.Validate()
	if p.SecretKey == nil {
		// The secret's own finding (absent, weak, a placeholder) is at
		// secret_key already when it was refused.
		if !l.hasFinding("secret_key") {
			name := f.SecretKey
			if name == "" {
				name = defaultSecretName
			}
			l.errorf("secret_key", "set "+name+" in the environment or the .env file; "+genSecretHint,
				"secret %s is required with auth: sessions are signed with keys derived from it", name)
		}
		errs = withoutPaths(errs, "Session.Secret")
	}
	l.fieldFindings("Auth", errs)
	p.Auth, p.AuthEnabled = o, true

	p.CSRF.Secret = p.SecretKey
	p.CSRF.SessionID = auth.SessionID
	cerrs := p.CSRF.Validate()
	if p.SecretKey == nil {
		cerrs = withoutPaths(cerrs, "Secret")
	}
	l.fieldFindings("CSRF", cerrs)
}

// withoutPaths drops the findings on the given Go paths: values the
// configuration does not set (the gateway does), or whose problem is
// reported at their own key already.
func withoutPaths(errs field.Errors, paths ...string) field.Errors {
	return slices.DeleteFunc(errs, func(e field.Error) bool {
		return slices.ContainsFunc(paths, func(p string) bool { return e.Path == p || strings.HasPrefix(e.Path, p+".") })
	})
}

// hasFinding reports whether a finding is recorded at key.
func (l *loader) hasFinding(key string) bool {
	return slices.ContainsFunc(l.findings, func(f Finding) bool { return f.Key == key })
}
