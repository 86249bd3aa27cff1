package config

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/secheaders"
)

// Plan is a validated configuration, compiled once with every default
// filled in. The gateway is built from a Plan and never reads the YAML
// types; a reload compiles a new Plan and swaps it whole. A Plan is not
// modified after Load returns it.
type Plan struct {
	Source   string // config file path, "" when none
	Demo     bool
	Hosts    []string // lower case, no port
	StateDir string
	// SecretKey is nil when no secret is configured.
	SecretKey []byte

	Listen   ListenPlan
	TLS      TLSPlan
	Upstream UpstreamPlan
	// MaxBodyBytes caps request bodies (413 past it).
	MaxBodyBytes int64
	// BodyMemoryBytes, BodyMemoryBudget, BodyTempBudget and BodyTempDir
	// configure request buffering: in memory per request, in memory for
	// all requests at once, on disk for all requests at once, and where
	// the files go ("" means the system temporary directory).
	BodyMemoryBytes  int64
	BodyMemoryBudget int64
	BodyTempBudget   int64
	BodyTempDir      string

	TrustedProxies []netip.Prefix
	ClientIPHeader string

	// Paths is the validated path policy.
	Paths reqpath.Options

	// Headers is the validated security header policy.
	Headers secheaders.Policy
	// RateLimit is the validated rate-limit configuration.
	RateLimit ratelimit.Options
	// RateLimitBackends are the shared stores of zones, by zone name.
	RateLimitBackends map[string]Backend

	LogLevel    slog.Level
	AccessLog   LogPlan
	SecurityLog LogPlan
}

// ListenPlan is the listeners' addresses and limits.
type ListenPlan struct {
	HTTPS             string
	HTTP              string // "" when the redirect listener is off
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration
	// MaxConnsPerClient caps one client's open connections per listener.
	MaxConnsPerClient int
}

// TLSMode says where certificates come from.
type TLSMode int

const (
	TLSFiles TLSMode = iota // cert_file and key_file, reloaded on change
	TLSACME                 // ACME for Hosts
	TLSDev                  // the local development certificate
)

func (m TLSMode) String() string {
	return [...]string{"files", "acme", "development certificate"}[m]
}

// TLSPlan is the certificate source.
type TLSPlan struct {
	Mode              TLSMode
	CertFile, KeyFile string
	ACMEEmail         string
	ACMEDirectory     string // "" means Let's Encrypt production
	MinVersion        uint16 // tls.VersionTLS12 or tls.VersionTLS13
	ReloadInterval    time.Duration
}

// UpstreamPlan is the protected application.
type UpstreamPlan struct {
	URL                   *url.URL
	PreserveHost          bool
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	MaxIdleConns          int
	StripRequestHeaders   []string
	RemoveResponseHeaders []string
	Forwarded             bool
	FlushInterval         time.Duration
	UpgradeIdleTimeout    time.Duration // 0 means the proxy's default
	// InsecureStreamRequestBodies streams request bodies instead of
	// buffering them.
	InsecureStreamRequestBodies bool
	// InsecureStreamRequestBodyPaths streams them for these paths only.
	InsecureStreamRequestBodyPaths []string
	// TLSClientConfig verifies an https upstream; nil means the defaults.
	TLSClientConfig *tls.Config
	// InsecureNoRedirectRewrite passes URLs naming the upstream in
	// Location, Content-Location and Refresh as sent.
	InsecureNoRedirectRewrite bool
	// InterceptErrors says which upstream 5xx responses are replaced.
	InterceptErrors proxy.InterceptErrors
}

// LogPlan is one log stream; Path "" means the standard stream.
type LogPlan struct {
	Path            string
	MaxSizeMB       int
	MaxBackups      int
	MaxAgeDays      int
	Compress        bool
	KeepQueryParams []string
}
