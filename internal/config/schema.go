package config

// File is the user-facing schema of rampart.yaml. It is only ever decoded
// and validated; the gateway runs from the compiled Plan, never from a File.
// Every field's default is stated on it; a file with nothing in it (plus an
// upstream) is the secure configuration.
type File struct {
	// Hosts are the public host names rampart serves. The HTTP listener
	// redirects only these, ACME obtains certificates only for these, and
	// requests for any other Host are refused. Required outside the demo.
	Hosts []string `yaml:"hosts" plan:"Hosts,TLS.Hosts"`

	// StateDir holds the development certificate, the ACME cache and, later,
	// embedded state. Default: /var/lib/rampart; for the demo, rampart under
	// the user cache directory (~/.cache/rampart), or ./.rampart-state when
	// there is none.
	StateDir string `yaml:"state_dir" plan:"StateDir,TLS.StateDir"`

	// SecretKey names the secret rampart signs with (sessions, CSRF tokens).
	// It is looked up as NAME in the environment, then NAME_FILE, then
	// $CREDENTIALS_DIRECTORY/NAME. Default name: RAMPART_SECRET_KEY. It is
	// optional while no enabled feature signs anything; when set it must
	// pass the secret checks (≥ 32 bytes, not low-entropy, not an example).
	SecretKey string `yaml:"secret_key" plan:"-"`

	// RequireSecrets names secrets the deployment must have, such as the
	// application's own SECRET_KEY, looked up like secret_key (environment,
	// .env, NAME_FILE, $CREDENTIALS_DIRECTORY). Each must be set and pass
	// the same checks, or rampart refuses to start: a Flask app whose
	// SECRET_KEY is missing signs sessions with None. Default none.
	RequireSecrets []string `yaml:"require_secrets" plan:"-"`

	Listen   Listen   `yaml:"listen"`
	TLS      TLS      `yaml:"tls" plan:"TLS"`
	Upstream Upstream `yaml:"upstream"`
	Limits   Limits   `yaml:"limits"`

	// TrustedProxies are the CIDRs of proxies (load balancers, CDNs) whose
	// forwarding headers are believed. Default: none, so the client is the
	// TCP peer and X-Forwarded-For sent by anyone is ignored.
	TrustedProxies []string `yaml:"trusted_proxies" plan:"ClientIP.TrustedProxies,Listen.TrustedProxies"`
	// ClientIPHeader is the header trusted proxies put the client in:
	// X-Forwarded-For (default), X-Real-IP or Forwarded.
	ClientIPHeader string `yaml:"client_ip_header" plan:"ClientIP.Header"`

	Log Log `yaml:"log"`

	// Paths relax the refusal of request paths that an application could
	// read differently from rampart. Absent: the strict policy.
	Paths Paths `yaml:"paths" plan:"Paths"`

	// Headers are the security headers on every response. Absent: the
	// secure defaults (see README).
	Headers Headers `yaml:"headers" plan:"Headers"`

	// RateLimit is nginx's limit_req. Absent: the flood guard (50r/s per client, burst 200, on every path).
	RateLimit *RateLimit `yaml:"ratelimit" plan:"RateLimit"`

	// Auth is login at the gateway. Absent: no login.
	Auth *Auth `yaml:"auth" plan:"Auth"`

	// CSRF configures the cross-site request forgery protection, which
	// checks the origin of every unsafe request by default.
	CSRF CSRF `yaml:"csrf" plan:"CSRF"`

	// IPRules are allow and deny lists of client addresses. Absent:
	// every client is served.
	IPRules IPRules `yaml:"ip_rules" plan:"IPFilter"`

	// Ban is the auto-ban (fail2ban built in). Absent: on, with the
	// default jail.
	Ban Ban `yaml:"ban"`
	// SecurityTxt is the security.txt file (RFC 9116). Absent: none is
	// served.
	SecurityTxt *SecurityTxt `yaml:"security_txt" plan:"SecurityTxt"`
	// Admin is the admin listener (metrics, health, the operations
	// APIs). Absent: on 127.0.0.1:9180, loopback clients only.
	Admin Admin `yaml:"admin" plan:"Admin"`
}

// Admin is the `admin:` section: the admin listener (admin.Options, the
// plan's Admin), never on the public ports.
type Admin struct {
	// Listen is its address, or "off". Default 127.0.0.1:9180. An
	// address that is not a loopback one needs TokenSecret.
	Listen string `yaml:"listen" plan:"Admin.Listen"`
	// TokenSecret names the secret holding the bearer token every admin
	// request but /healthz must then carry, looked up like secret_key.
	// Default none: loopback clients only.
	TokenSecret string `yaml:"token_secret" plan:"-"`
}

// Paths are the relaxations of reqpath's strict policy: request paths
// holding an encoded slash, or ";" parameters, are refused with 400 except
// under these prefixes.
type Paths struct {
	// InsecureAllowEncodedSlashes are prefixes under which %2F is accepted
	// in a path (and matched as a separator). Default none.
	InsecureAllowEncodedSlashes []string `yaml:"insecure_allow_encoded_slashes" plan:"Paths.InsecureAllowEncodedSlashes"`
	// InsecureAllowSemicolons are prefixes under which ";params" are
	// accepted in a path (and matched stripped). Default none.
	InsecureAllowSemicolons []string `yaml:"insecure_allow_semicolons" plan:"Paths.InsecureAllowSemicolons"`
	// CaseInsensitive says the application routes paths ignoring case
	// (Express by default, ASP.NET, IIS). Default false (Flask, Django):
	// a path that falls under a rule's prefix only when case is ignored
	// is refused.
	CaseInsensitive bool `yaml:"case_insensitive" plan:"Paths.CaseInsensitive"`
}

// Listen configures the listeners.
type Listen struct {
	// HTTPS is the TLS listener address. Default ":443".
	HTTPS string `yaml:"https" plan:"HTTPS"`
	// HTTP is the plain listener that only redirects to HTTPS (and answers
	// ACME HTTP-01 challenges). "off" disables it. Default ":80".
	HTTP string `yaml:"http" plan:"HTTP"`
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slowloris). Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" plan:"Listen.ReadHeaderTimeout"`
	// ReadTimeout bounds reading the whole request, body included.
	// Default 60s.
	ReadTimeout Duration `yaml:"read_timeout" plan:"Listen.ReadTimeout"`
	// WriteTimeout bounds how long one write to the client may stall; it is
	// renewed before every write (nginx's send_timeout), so streams and
	// long downloads work while clients that stop reading are dropped.
	// Default 60s.
	WriteTimeout Duration `yaml:"write_timeout" plan:"Listen.WriteTimeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout" plan:"Listen.IdleTimeout"`
	// MaxHeaderBytes caps request header size; larger requests get 431.
	// Default 32k (nginx's large_client_header_buffers is 4×8k).
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes" plan:"Listen.MaxHeaderBytes"`
	// ShutdownTimeout is how long SIGTERM waits for in-flight requests.
	// Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" plan:"Listen.ShutdownTimeout"`
	// MaxConnsPerClient caps the connections one client (an IPv4 address,
	// an IPv6 /64) may hold open at once on each listener, like nginx's
	// limit_conn; trusted_proxies are not counted. Connections over it are
	// closed before the TLS handshake. Default 256 (0 means the default):
	// a browser uses 6 HTTP/1.1 connections or one HTTP/2 connection per
	// origin, and an office behind one NAT address needs headroom. At most
	// 100000.
	MaxConnsPerClient int `yaml:"max_conns_per_client" plan:"Listen.MaxConnsPerClient"`
	// HTTP1Lane answers plain HTTP/1.1 requests over TLS (GET and HEAD
	// without a body) with rampart's own server, the lane, and the others
	// with Go's net/http server; false leaves them all to net/http, at
	// about a fifth more CPU per request. Default true.
	HTTP1Lane *bool `yaml:"http1_lane" plan:"Listen.NoLane"`
	// HTTP2Server is the server that answers HTTP/2: "rampart" (rampart's
	// own, the default) or "go" (Go's net/http HTTP/2 server, at more CPU
	// per request).
	HTTP2Server string `yaml:"http2_server" plan:"Listen.GoHTTP2"`
}

// TLS selects where certificates come from. With cert_file and key_file
// set, those files (reloaded when they change). Otherwise with acme set,
// ACME for Hosts. With neither, a locally generated development
// certificate, which `config check` reports as an error outside the demo
// unless insecure_dev_certificate is set.
type TLS struct {
	CertFile string `yaml:"cert_file" plan:"TLS.CertFile"`
	KeyFile  string `yaml:"key_file" plan:"TLS.KeyFile"`
	ACME     *ACME  `yaml:"acme" plan:"TLS.ACME"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or
	// "1.3". Nothing below 1.2 can be configured.
	MinVersion string `yaml:"min_version" plan:"TLS.MinVersion"`
	// ReloadInterval is how often certificate files are checked for
	// changes. Default 5s.
	ReloadInterval Duration `yaml:"reload_interval" plan:"TLS.ReloadInterval"`
	// InsecureDevCertificate allows serving the self-signed development
	// certificate from `rampart serve`. Browsers will warn. Default false.
	InsecureDevCertificate bool `yaml:"insecure_dev_certificate" plan:"TLS.InsecureDevCertificate"`
}

// ACME configures automatic certificates (RFC 8555) for Hosts.
type ACME struct {
	// Email is given to the CA for expiry notices. Optional.
	Email string `yaml:"email" plan:"TLS.ACME.Email"`
	// DirectoryURL is the CA's directory. Default: Let's Encrypt production.
	DirectoryURL string `yaml:"directory_url" plan:"TLS.ACME.DirectoryURL"`
}

// Upstream is the application rampart protects.
type Upstream struct {
	// URL of the application, http:// or https://. Required.
	URL string `yaml:"url" plan:"Proxy.Upstream"`
	// PreserveHost sends the client's Host to the application (nginx's
	// proxy_set_header Host $host). Default true.
	PreserveHost *bool `yaml:"preserve_host" plan:"Proxy.SendUpstreamHost"`
	// DialTimeout bounds connecting to the application. Default 5s.
	DialTimeout Duration `yaml:"dial_timeout" plan:"Proxy.DialTimeout"`
	// ResponseHeaderTimeout bounds waiting for the application's response
	// headers; past it the client gets 504. Default 60s.
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout" plan:"Proxy.ResponseHeaderTimeout"`
	// UpgradeIdleTimeout closes an upgraded connection (WebSocket) after
	// this long without traffic in either direction. Default 5m.
	UpgradeIdleTimeout Duration `yaml:"upgrade_idle_timeout" plan:"Proxy.UpgradeIdleTimeout"`
	// MaxIdleConns is the keep-alive pool to the application. Default 256.
	MaxIdleConns int `yaml:"max_idle_conns" plan:"Proxy.MaxIdleConns"`
	// Forwarded also sends an RFC 7239 Forwarded header. Default false.
	Forwarded bool `yaml:"forwarded" plan:"Proxy.Forwarded"`
	// FlushInterval flushes responses to the client periodically while
	// they are copied; event streams and chunked responses are always
	// flushed at once. Default 0: no periodic flush.
	FlushInterval Duration `yaml:"flush_interval" plan:"Proxy.FlushInterval"`
	// InsecureStreamRequestBodies sends request bodies to the application
	// as clients send them instead of reading them whole first, so a few
	// clients sending slowly can hold every worker of a gunicorn or uWSGI
	// application. Only for applications with async workers that must see
	// uploads as they arrive. Default false.
	InsecureStreamRequestBodies bool `yaml:"insecure_stream_request_bodies" plan:"Proxy.InsecureStreamRequestBodies"`
	// InsecureStreamRequestBodyPaths streams request bodies only for
	// these paths and below ("/upload" matches /upload/x, not /uploads),
	// for an upload endpoint that must report progress. Default none.
	InsecureStreamRequestBodyPaths []string `yaml:"insecure_stream_request_body_paths" plan:"Proxy.InsecureStreamRequestBodyPaths"`
	// TLS verifies an https:// upstream.
	TLS UpstreamTLS `yaml:"tls" plan:"Proxy.TLSClientConfig"`
	// StripRequestHeaders are extra identity headers removed from every
	// client request before it reaches the application, on top of the
	// built-in list (X-Forwarded-*, X-Real-IP, X-Remote-User, ...). Any
	// case, '_' or '-'; a trailing '*' names a prefix (X-Internal-*).
	StripRequestHeaders []string `yaml:"strip_request_headers" plan:"Proxy.StripRequestHeaders"`
	// RemoveResponseHeaders are extra fingerprint headers removed from
	// responses, on top of the OWASP list (Server, X-Powered-By, ...); a
	// trailing '*' names a prefix.
	RemoveResponseHeaders []string `yaml:"remove_response_headers" plan:"Proxy.RemoveResponseHeaders"`
	// InsecureNoRedirectRewrite passes Location, Content-Location and
	// Refresh URLs naming the application's own address
	// (http://127.0.0.1:5000/login) to clients as sent, disclosing it.
	// Default false: they are rewritten to the origin the client used, as
	// nginx's proxy_redirect default does.
	InsecureNoRedirectRewrite bool `yaml:"insecure_no_redirect_rewrite" plan:"Proxy.InsecureNoRedirectRewrite"`
	// InterceptErrors says which 5xx responses of the application are
	// replaced by rampart's generic error page (nginx's
	// proxy_intercept_errors): "debug" (default) replaces stack traces and
	// framework debug pages (Werkzeug, Django DEBUG = True, Rails,
	// Express, Go panics), "all" every 5xx, "off" none (reported).
	InterceptErrors string `yaml:"intercept_errors" plan:"Proxy.InterceptErrors"`
}

// UpstreamTLS is how rampart verifies an https:// upstream.
type UpstreamTLS struct {
	// CAFile is a PEM bundle of the CAs that sign the upstream's
	// certificate. Default: the system roots.
	CAFile string `yaml:"ca_file" plan:"Proxy.TLSClientConfig.RootCAs"`
	// ServerName is the name verified in the upstream's certificate.
	// Default: the host of upstream.url.
	ServerName string `yaml:"server_name" plan:"Proxy.TLSClientConfig.ServerName"`
	// InsecureSkipVerify accepts any certificate from the upstream, so
	// anyone on the path to it can read and change the traffic. Default
	// false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" plan:"Proxy.TLSClientConfig.InsecureSkipVerify"`
}

// Limits caps request sizes.
type Limits struct {
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 10m.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes" plan:"Proxy.MaxBodyBytes"`
	// BodyMemoryBytes is how much of one request body is kept in memory
	// while rampart reads it whole before contacting the application; the
	// rest goes to a temporary file (nginx's client_body_buffer_size).
	// Default 64k.
	BodyMemoryBytes ByteSize `yaml:"body_memory_bytes" plan:"Proxy.BodyMemoryBytes"`
	// BodyMemoryBudget bounds the memory all bodies being read hold at
	// once; past it bodies go to temporary files. Default 32m.
	BodyMemoryBudget ByteSize `yaml:"body_memory_budget" plan:"Proxy.BodyMemoryBudget"`
	// BodyTempBudget bounds the disk space the temporary files of all
	// bodies being read hold at once; a body past it gets 503, so many
	// large uploads at once cannot fill the disk. Default 1g.
	BodyTempBudget ByteSize `yaml:"body_temp_budget" plan:"Proxy.BodyTempBudget"`
	// BodyTempDir holds the temporary files of request bodies (mode 0600,
	// unlinked as soon as created). Default: $TMPDIR, else /tmp. Choose
	// a directory on disk where /tmp is a tmpfs.
	BodyTempDir string `yaml:"body_temp_dir" plan:"Proxy.BodyTempDir"`
}

// Log configures the access log and the security log.
type Log struct {
	// Level of rampart's own diagnostic log (stderr): debug, info, warn,
	// error. Default info.
	Level  string        `yaml:"level" plan:"LogLevel"`
	Access AccessLogFile `yaml:"access" plan:"AccessFile"`
	// Security receives security events (rate-limit hits, CSRF rejects,
	// failed logins, CSP reports) and upstream errors.
	Security SecurityLogFile `yaml:"security" plan:"SecurityLog"`
}

// LogFile is one log stream.
type LogFile struct {
	// Path of the file; "-" or empty means standard output (the access
	// log) or standard error (the security log).
	Path string `yaml:"path" plan:".Path"`
	// MaxSizeMB rotates the file at this size. Default 100.
	MaxSizeMB int `yaml:"max_size_mb" plan:".MaxSizeMB"`
	// MaxBackups keeps this many rotated files. Default 10.
	MaxBackups int `yaml:"max_backups" plan:".MaxBackups"`
	// MaxAgeDays deletes rotated files older than this; 0 keeps them by
	// count only. Default 0.
	MaxAgeDays int `yaml:"max_age_days" plan:".MaxAgeDays"`
	// Compress gzips rotated files. Default true.
	Compress *bool `yaml:"compress" plan:".NoCompress"`
}

// AccessLogFile is the access log's stream.
type AccessLogFile struct {
	LogFile `yaml:",inline"`
	// KeepQueryParams are query parameter names logged in clear; every
	// other value is replaced by REDACTED. Default none.
	KeepQueryParams []string `yaml:"keep_query_params" plan:"AccessLog.KeepQueryParams"`
	// Buffer gathers lines and writes them out together, as nginx's
	// access_log buffer=: one write per buffer rather than one per
	// request. Default 64k when the log is a file, 0 (every line at once)
	// on standard output; at most 1m.
	Buffer ByteSize `yaml:"buffer" plan:"AccessFile.BufferSize"`
	// Flush is the longest a line waits in the buffer (nginx's flush=).
	// Default 100ms; at most 10s.
	Flush Duration `yaml:"flush" plan:"AccessFile.FlushInterval"`
}

// SecurityLogFile is the security log's stream.
type SecurityLogFile struct {
	LogFile `yaml:",inline"`
	// KeepQueryParams has no effect here (the security log keeps no
	// query), and is reported; it exists so that a section copied from
	// log.access is not refused.
	KeepQueryParams []string `yaml:"keep_query_params" plan:"-"`
}
