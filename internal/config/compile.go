package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/rampart-dev/rampart/internal/admin"
	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/logfile"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/reqpath"
)

// Defaults of the configuration itself. The libraries' settings have no
// default here: a zero field of their Options means their own.
const (
	defaultHTTPS      = ":443"
	defaultHTTP       = ":80"
	defaultStateDir   = "/var/lib/rampart"
	defaultSecretName = "RAMPART_SECRET_KEY"
	// defaultAccessLogBuffer is log.access.buffer when the access log is
	// a file: a few hundred lines per write.
	defaultAccessLogBuffer = 64 << 10
)

// compile turns the YAML values into the libraries' Options and has each
// library validate its own: the findings of config check and of serve's
// start-up are those of the same Validate the constructors run.
func (l *loader) compile(f *File) *Plan {
	p := &Plan{Source: l.src.Path}
	l.compileHosts(f, p)
	l.compileStateDir(f, p)
	l.compileClientIP(f, p)
	l.compileListen(f, p)
	l.compileTLS(f, p)
	l.compileProxy(f, p)
	l.compilePaths(f, p)
	l.compileLogs(f, p)
	l.compileSecret(f, p)
	l.compileRequiredSecrets(f)
	l.compileHeaders(f.Headers, p)
	l.compileRateLimit(f.RateLimit, p)
	l.compileAuth(f, p)
	l.compileIPRules(f, p)
	l.compileBan(f, p)
	l.compileSecurityTxt(f, p)
	l.compileAdmin(f, p)
	return p
}

// compileAdmin reads the admin: section. The admin listener may not share
// a public listener's port: it is never reachable there.
func (l *loader) compileAdmin(f *File, p *Plan) {
	o := &p.Admin
	o.Listen = strings.TrimSpace(f.Admin.Listen)
	if o.Disabled() {
		o.Listen = admin.Off
	}
	if o.Disabled() {
		if f.Admin.TokenSecret != "" {
			l.warnf("admin.token_secret", "remove it, or give admin.listen an address", "has no effect: the admin listener is off")
		}
		return
	}
	if name := f.Admin.TokenSecret; name != "" {
		o.Token = l.secret("admin.token_secret", name, "is configured but not set anywhere", Error, "")
		if o.Token == nil {
			// Refused or missing: said above. Validate would add that
			// a network address needs a token; the fix is the secret.
			return
		}
	}
	for _, pub := range []struct{ key, addr string }{{"listen.https", p.HTTPS}, {"listen.http", p.HTTP}} {
		if sharesPort(o.Listen, pub.addr) {
			l.errorf("admin.listen", `use a port of its own on 127.0.0.1, such as the default "127.0.0.1:9180"`,
				"%q overlaps %s (%q): the admin listener is never served on a public port", o.Listen, pub.key, pub.addr)
		}
	}
	l.fieldFindings("Admin", o.Validate())
}

// sharesPort reports whether two listen addresses could be the same socket:
// the same port, and the same host or one of them every interface.
func sharesPort(a, b string) bool {
	if a == "" {
		a = admin.DefaultListen
	}
	if b == "" {
		return false
	}
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp || ap == "0" {
		// Port 0 is a port of the system's choosing, never another's.
		return false
	}
	return ah == "" || bh == "" || strings.EqualFold(ah, bh)
}

func (l *loader) compileHosts(f *File, p *Plan) {
	if l.typeErrs["hosts"] {
		// Already reported: no certificate decision without the hosts.
		l.badHosts = true
	}
	if len(f.Hosts) == 0 {
		l.errorf("hosts", "add the public names, e.g. hosts: [example.com], or pass --host example.com",
			"at least one host name is required: only configured hosts are redirected, get certificates and are served")
	}
	seen := map[string]bool{}
	for i, h := range f.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		name, msg := normalizeHost(h)
		if msg != "" {
			l.badHosts = true
			l.errorf(key, "write a bare host name such as example.com (no scheme, port, path or wildcard)", "%q %s", h, msg)
			continue
		}
		if !seen[name] {
			seen[name] = true
			p.Hosts = append(p.Hosts, name)
		}
	}
}

// normalizeHost lower-cases a host name and explains why it is not one.
func normalizeHost(h string) (string, string) {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return a.Unmap().String(), ""
	}
	switch {
	case h == "":
		return "", "is empty"
	case strings.Contains(h, "://"):
		return "", "has a scheme"
	case strings.ContainsAny(h, ":/"):
		return "", "has a port or path"
	case strings.Contains(h, "*"):
		return "", "is a wildcard, which rampart does not serve"
	case len(h) > 253:
		return "", "is longer than 253 characters"
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", "is not a valid DNS name"
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", "is not a valid DNS name (use the punycode xn-- form for international names)"
			}
		}
	}
	return h, ""
}

// positive is a duration or size the YAML sets to 0: refused, since 0 in
// the libraries' Options means their default, and a user writing 0 means
// "none", which no timeout or bound allows.
func (l *loader) positive(set bool, zero bool, key, why string) {
	if set && zero {
		l.errorf(key, "remove the key to use the default", "must be > 0: 0 %s", why)
	}
}

func (l *loader) compileListen(f *File, p *Plan) {
	in := f.Listen
	p.HTTPS, p.HTTP = defaultHTTPS, defaultHTTP
	if in.HTTPS != "" {
		p.HTTPS = in.HTTPS
	}
	if in.HTTP != "" {
		p.HTTP = in.HTTP
	}
	if strings.EqualFold(p.HTTP, "off") {
		p.HTTP = ""
	}
	for key, addr := range map[string]string{"listen.https": p.HTTPS, "listen.http": p.HTTP} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			l.errorf(key, `write host:port such as ":443" or "127.0.0.1:8443"`, "%q is not a listen address", addr)
		}
	}
	if p.HTTP != "" && p.HTTP == p.HTTPS {
		l.errorf("listen.http", `use another port, or "off"`, "the redirect listener cannot share the HTTPS address %q", p.HTTP)
	}
	l.positive(in.ReadHeaderTimeout.Set, in.ReadHeaderTimeout.D == 0, "listen.read_header_timeout", "would let a slow client hold a connection forever (slowloris)")
	l.positive(in.ReadTimeout.Set, in.ReadTimeout.D == 0, "listen.read_timeout", "would let a slow client trickle a body forever")
	l.positive(in.IdleTimeout.Set, in.IdleTimeout.D == 0, "listen.idle_timeout", "would keep idle connections open forever")
	l.positive(in.MaxHeaderBytes.Set, in.MaxHeaderBytes.N == 0, "listen.max_header_bytes", "would allow no header at all")
	o := &p.Listen
	o.ReadHeaderTimeout, o.ReadTimeout, o.WriteTimeout = in.ReadHeaderTimeout.D, in.ReadTimeout.D, in.WriteTimeout.D
	o.IdleTimeout, o.ShutdownTimeout = in.IdleTimeout.D, in.ShutdownTimeout.D
	o.MaxHeaderBytes = int(min(in.MaxHeaderBytes.N, 1<<31-1))
	o.MaxConnsPerClient = in.MaxConnsPerClient
	o.NoLane = in.HTTP1Lane != nil && !*in.HTTP1Lane
	switch in.HTTP2Server {
	case "", "rampart":
	case "go":
		o.GoHTTP2 = true
	default:
		l.errorf("listen.http2_server", `write "rampart" (the default) or "go"`, "%q is not an HTTP/2 server", in.HTTP2Server)
	}
	l.fieldFindings("Listen", o.Validate())
}

func (l *loader) compileTLS(f *File, p *Plan) {
	t := f.TLS
	o := &p.TLS
	o.Hosts, o.StateDir = p.Hosts, p.StateDir
	v, err := tlsconf.ParseVersion(t.MinVersion)
	if err != nil {
		l.errorf("tls.min_version", `use "1.2" (default) or "1.3"`, "%q is not allowed: TLS 1.0 and 1.1 are broken", t.MinVersion)
	}
	o.MinVersion, o.ReloadInterval = v, t.ReloadInterval.D
	o.CertFile, o.KeyFile = t.CertFile, t.KeyFile
	if t.ACME != nil {
		o.ACME = &tlsconf.ACMEOptions{Email: t.ACME.Email, DirectoryURL: t.ACME.DirectoryURL}
	}
	o.InsecureDevCertificate = t.InsecureDevCertificate
	if o.CertFile == "" && o.KeyFile == "" && o.ACME == nil && !o.InsecureDevCertificate {
		switch {
		case l.badHosts:
			return // already reported: no certificate decision without valid hosts
		case len(p.Hosts) > 0 && allPublic(p.Hosts):
			// Automatic HTTPS: every host can get a certificate from a
			// public CA.
			o.ACME = &tlsconf.ACMEOptions{}
		default:
			l.errorf("tls", "set tls.cert_file and tls.key_file (--cert, --key), or tls.acme for public names; for local testing only, tls.insecure_dev_certificate: true",
				"no certificate source: hosts %v cannot get a certificate from a public CA", p.Hosts)
			return
		}
	}
	l.fieldFindings("TLS", o.Validate())
}

func allPublic(hosts []string) bool {
	for _, h := range hosts {
		if !tlsconf.PublicName(h) {
			return false
		}
	}
	return true
}

// compileProxy reads the upstream: and limits: sections into the reverse
// proxy's Options.
func (l *loader) compileProxy(f *File, p *Plan) {
	in := f.Upstream
	o := &p.Proxy
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		switch {
		case err == nil:
			o.Upstream = u
		case strings.Contains(in.URL, "@"):
			// It may hold user:password@; unparsed, it cannot be redacted.
			l.errorf("upstream.url", "write a URL such as http://127.0.0.1:5000, without user:password@", "is not a URL (not repeated here: it may hold a password)")
		default:
			l.errorf("upstream.url", "write a URL such as http://127.0.0.1:5000", "%q is not a URL", in.URL)
		}
		if err != nil {
			return // the proxy would add that it is required
		}
	}
	o.SendUpstreamHost = in.PreserveHost != nil && !*in.PreserveHost
	o.DialTimeout, o.ResponseHeaderTimeout = in.DialTimeout.D, in.ResponseHeaderTimeout.D
	o.UpgradeIdleTimeout, o.FlushInterval = in.UpgradeIdleTimeout.D, in.FlushInterval.D
	o.MaxIdleConns, o.Forwarded = in.MaxIdleConns, in.Forwarded
	o.TLSClientConfig = l.upstreamTLS(in.TLS)
	o.StripRequestHeaders, o.RemoveResponseHeaders = in.StripRequestHeaders, in.RemoveResponseHeaders
	o.InsecureStreamRequestBodies = in.InsecureStreamRequestBodies
	o.InsecureStreamRequestBodyPaths = in.InsecureStreamRequestBodyPaths
	o.InsecureNoRedirectRewrite = in.InsecureNoRedirectRewrite
	switch v := in.InterceptErrors; v {
	case "", "debug":
		o.InterceptErrors = proxy.InterceptDebugPages
	case "all":
		o.InterceptErrors = proxy.InterceptAll
	case "off":
		o.InterceptErrors = proxy.InsecureInterceptOff
	default:
		l.errorf("upstream.intercept_errors", `use "debug" (the default: replace stack traces and debug pages), "all" (replace every 5xx) or "off"`,
			"%q is not a mode", v)
	}
	lim := f.Limits
	for _, b := range []struct {
		key string
		v   ByteSize
	}{{"limits.max_body_bytes", lim.MaxBodyBytes}, {"limits.body_memory_bytes", lim.BodyMemoryBytes},
		{"limits.body_memory_budget", lim.BodyMemoryBudget}, {"limits.body_temp_budget", lim.BodyTempBudget}} {
		l.positive(b.v.Set, b.v.N == 0, b.key, "would refuse every body")
	}
	o.MaxBodyBytes, o.BodyMemoryBytes = lim.MaxBodyBytes.N, lim.BodyMemoryBytes.N
	o.BodyMemoryBudget, o.BodyTempBudget, o.BodyTempDir = lim.BodyMemoryBudget.N, lim.BodyTempBudget.N, lim.BodyTempDir
	l.fieldFindings("Proxy", o.Validate())
}

// upstreamTLS builds the client TLS configuration upstream.tls describes,
// or nil for the defaults (system roots, the URL's host name).
func (l *loader) upstreamTLS(in UpstreamTLS) *tls.Config {
	if in == (UpstreamTLS{}) {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: in.ServerName, InsecureSkipVerify: in.InsecureSkipVerify}
	if in.CAFile != "" {
		pem, err := os.ReadFile(in.CAFile)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			l.errorf("upstream.tls.ca_file", "give a PEM file holding one or more CA certificates", "cannot load CA certificates from %q", in.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg
}

func (l *loader) compileClientIP(f *File, p *Plan) {
	o := &p.ClientIP
	for i, s := range f.TrustedProxies {
		pfx, err := parsePrefix(s)
		if err != nil {
			l.errorf(fmt.Sprintf("trusted_proxies[%d]", i), "write an address or CIDR such as 10.0.0.0/8 or 192.0.2.7", "%q is not an IP address or CIDR", s)
			continue
		}
		o.TrustedProxies = append(o.TrustedProxies, pfx)
	}
	o.Header = f.ClientIPHeader
	p.Listen.TrustedProxies = o.TrustedProxies
	l.fieldFindings("ClientIP", o.Validate())
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() && p.Bits() < 96 {
			// ::ffff:0:0/80 reaches beyond the mapped IPv4 space and has
			// no IPv4 form: unmapping it would yield an invalid prefix
			// that slipped past every later check.
			return netip.Prefix{}, fmt.Errorf("%s: an IPv4-mapped prefix must be at least /96", s)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func (l *loader) compilePaths(f *File, p *Plan) {
	p.Paths = reqpath.Options{InsecureAllowEncodedSlashes: f.Paths.InsecureAllowEncodedSlashes,
		InsecureAllowSemicolons: f.Paths.InsecureAllowSemicolons, CaseInsensitive: f.Paths.CaseInsensitive}
	l.fieldFindings("Paths", p.Paths.Validate())
}

func (l *loader) compileLogs(f *File, p *Plan) {
	switch strings.ToLower(f.Log.Level) {
	case "", "info":
		p.LogLevel = slog.LevelInfo
	case "debug":
		p.LogLevel = slog.LevelDebug
	case "warn", "warning":
		p.LogLevel = slog.LevelWarn
	case "error":
		p.LogLevel = slog.LevelError
	default:
		l.errorf("log.level", "use debug, info, warn or error", "%q is not a level", f.Log.Level)
	}
	p.AccessFile = logFile(f.Log.Access.LogFile)
	// The access log is buffered by default when it is a file; standard
	// output, read line by line by journald or a container runtime, gets
	// every line at once unless a buffer is asked for.
	switch acc := f.Log.Access; {
	case acc.Buffer.Set:
		p.AccessFile.BufferSize = int(min(acc.Buffer.N, logfile.MaxBufferSize+1))
	case !p.AccessFile.Stdout():
		p.AccessFile.BufferSize = defaultAccessLogBuffer
	}
	p.AccessFile.FlushInterval = f.Log.Access.Flush.D
	p.SecurityLog = logFile(f.Log.Security.LogFile)
	l.fieldFindings("AccessFile", p.AccessFile.Validate())
	l.fieldFindings("SecurityLog", p.SecurityLog.Validate())
	p.AccessLog.KeepQueryParams = f.Log.Access.KeepQueryParams
	l.fieldFindings("AccessLog", p.AccessLog.Validate())
	if len(f.Log.Security.KeepQueryParams) > 0 {
		l.warnf("log.security.keep_query_params", "move it under log.access", "has no effect on the security log")
	}
}

func logFile(in LogFile) logfile.Options {
	o := logfile.Options{Path: in.Path, MaxSizeMB: in.MaxSizeMB, MaxBackups: in.MaxBackups, MaxAgeDays: in.MaxAgeDays,
		NoCompress: in.Compress != nil && !*in.Compress}
	if o.Path == "-" {
		o.Path = ""
	}
	return o
}

func (l *loader) compileRequiredSecrets(f *File) {
	for i, name := range f.RequireSecrets {
		l.secret(fmt.Sprintf("require_secrets[%d]", i), name, "is required but not set", Error, "")
	}
}

func (l *loader) compileSecret(f *File, p *Plan) {
	name, missing := f.SecretKey, "is configured but not set anywhere"
	if name == "" {
		// Optional while no enabled feature signs anything.
		name, missing = defaultSecretName, ""
	}
	p.SecretKey = l.secret("secret_key", name, missing, Error, "")
}

// secret resolves the secret that key names and reports what is wrong
// with it: a name that cannot be one (never repeated: it is often the
// value, pasted in the wrong place), a secret set nowhere (when missing
// says how to put it; "" means an absent secret is fine), an unreadable
// file, a placeholder (an error, always) and a weak value (of severity
// weak, with weakHint when not ""). It returns the value, or nil when the
// secret is absent or refused.
func (l *loader) secret(key, name, missing string, weak Severity, weakHint string) []byte {
	if msg, hint := secretNameProblem(name); msg != "" {
		l.add(Error, key, msg, hint)
		return nil
	}
	value, from, err := lookupSecret(l.env, name)
	switch {
	case err == errNoSecret:
		if missing != "" {
			l.errorf(key, "set "+name+" in the environment or the .env file, "+name+"_FILE to a file holding it, or a systemd credential named "+name+"; "+genSecretHint,
				"secret %s %s", name, missing)
		}
		return nil
	case err != nil:
		l.errorf(key, "check the path and its permissions", "secret %s: %v", name, err)
		return nil
	}
	why, hint := secretPlaceholder(string(value))
	sev := Error
	if why == "" {
		why, hint = checkSecret(value)
		sev = weak
		if weakHint != "" {
			hint = weakHint
		}
	}
	if why == "" {
		return value
	}
	l.findings = append(l.findings, Finding{Severity: sev, Where: from, Key: key, Message: "secret " + name + " " + why, Hint: hint})
	if sev == Error {
		return nil
	}
	return value
}

func (l *loader) compileStateDir(f *File, p *Plan) {
	p.StateDir = f.StateDir
	if p.StateDir == "" {
		p.StateDir = defaultStateDir
	}
	if st, err := os.Stat(p.StateDir); err == nil {
		if !st.IsDir() {
			l.errorf("state_dir", "point state_dir at a directory", "%q is not a directory", p.StateDir)
		} else if st.Mode().Perm()&0o022 != 0 {
			l.warnf("state_dir", "chmod 700 "+p.StateDir, "%q is writable by other users, who could replace certificates", p.StateDir)
		}
	}
}
