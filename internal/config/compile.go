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
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/safe"
)

// Defaults that are not zero. Each is documented on its schema field.
const (
	defaultHTTPS             = ":443"
	defaultHTTP              = ":80"
	demoHTTPS                = "127.0.0.1:8443"
	demoHTTP                 = "127.0.0.1:8080"
	defaultStateDir          = "/var/lib/rampart"
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 60 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultMaxHeaderBytes    = 32 << 10
	defaultShutdownTimeout   = 30 * time.Second
	defaultDialTimeout       = 5 * time.Second
	defaultRespHeaderTimeout = 60 * time.Second
	defaultMaxIdleConns      = 256
	defaultMaxBodyBytes      = 10 << 20
	defaultLogSizeMB         = 100
	defaultLogBackups        = 10
	defaultSecretName        = "RAMPART_SECRET_KEY"
)

func (l *loader) compile(f *File) *Plan {
	p := &Plan{Source: l.src.Path, Demo: l.src.Demo}
	l.compileHosts(f, p)
	l.compileListen(f, p)
	l.compileTLS(f, p)
	l.compileUpstream(f, p)
	l.compileUpstreamResponses(f, p)
	l.compileBodyBuffering(f, p)
	l.compileClientIP(f, p)
	l.compilePaths(f, p)
	l.compileLogs(f, p)
	l.compileSecret(f, p)
	l.compileRequiredSecrets(f)
	l.compileStateDir(f, p)
	l.checkStateKeys(p)
	if p.Demo && f.Headers.CSP.Directives == nil && !f.Headers.CSP.Nonce.Enabled {
		// The demo shows nonces and the violation collector at work.
		f.Headers.CSP.Nonce = Nonce{Enabled: true, Directives: []string{"script-src", "style-src"}}
		f.Headers.CSP.Report.Enabled = true
	}
	l.compileHeaders(f.Headers, p)
	l.compileRateLimit(f.RateLimit, p)
	return p
}

func (l *loader) compileHosts(f *File, p *Plan) {
	if l.typeErrs["hosts"] {
		// Already reported: no certificate decision without the hosts.
		l.badHosts = true
	}
	if len(f.Hosts) == 0 && !p.Demo {
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
	if p.Demo && len(p.Hosts) == 0 {
		p.Hosts = []string{"localhost", "127.0.0.1", "::1"}
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

// isPublicName reports whether a certificate authority could issue for h.
func isPublicName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil || !strings.Contains(h, ".") {
		return false
	}
	for _, suffix := range []string{".localhost", ".local", ".test", ".internal", ".example", ".invalid", ".lan", ".home.arpa"} {
		if strings.HasSuffix(h, suffix) {
			return false
		}
	}
	return true
}

func (l *loader) compileListen(f *File, p *Plan) {
	in := f.Listen
	lp := &p.Listen
	lp.HTTPS, lp.HTTP = defaultHTTPS, defaultHTTP
	if p.Demo {
		lp.HTTPS, lp.HTTP = demoHTTPS, demoHTTP
	}
	if in.HTTPS != "" {
		lp.HTTPS = in.HTTPS
	}
	if in.HTTP != "" {
		lp.HTTP = in.HTTP
	}
	if strings.EqualFold(lp.HTTP, "off") {
		lp.HTTP = ""
	}
	for key, addr := range map[string]string{"listen.https": lp.HTTPS, "listen.http": lp.HTTP} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			l.errorf(key, `write host:port such as ":443" or "127.0.0.1:8443"`, "%q is not a listen address", addr)
		}
	}
	if lp.HTTP != "" && lp.HTTP == lp.HTTPS {
		l.errorf("listen.http", `use another port, or "off"`, "the redirect listener cannot share the HTTPS address %q", lp.HTTP)
	}
	dur := func(d Duration, def time.Duration, key string, zeroOK bool, why string) time.Duration {
		if !d.Set {
			return def
		}
		if d.D == 0 && !zeroOK {
			l.errorf(key, "remove the key to use the default ("+def.String()+")", "must be > 0: 0 %s", why)
			return def
		}
		return d.D
	}
	lp.ReadHeaderTimeout = dur(in.ReadHeaderTimeout, defaultReadHeaderTimeout, "listen.read_header_timeout", false, "lets a slow client hold a connection forever (slowloris)")
	lp.ReadTimeout = dur(in.ReadTimeout, defaultReadTimeout, "listen.read_timeout", false, "lets a slow client trickle a body forever")
	lp.WriteTimeout = dur(in.WriteTimeout, 0, "listen.write_timeout", true, "")
	lp.IdleTimeout = dur(in.IdleTimeout, defaultIdleTimeout, "listen.idle_timeout", false, "keeps idle connections open forever")
	lp.ShutdownTimeout = dur(in.ShutdownTimeout, defaultShutdownTimeout, "listen.shutdown_timeout", true, "")
	lp.MaxHeaderBytes = defaultMaxHeaderBytes
	if in.MaxHeaderBytes.Set {
		switch n := in.MaxHeaderBytes.N; {
		case n < 4<<10:
			l.errorf("listen.max_header_bytes", `use at least "4k"; the default is "32k"`, "%d bytes is too small for real browsers' cookies", n)
		case n > 1<<20:
			l.errorf("listen.max_header_bytes", `use at most "1m"; the default is "32k"`, "%d bytes invites memory exhaustion", n)
		default:
			lp.MaxHeaderBytes = int(n)
		}
	}
	lp.MaxConnsPerClient = listen.DefaultMaxConnsPerClient
	switch n := in.MaxConnsPerClient; {
	case n < 0 || n > listen.MaxMaxConnsPerClient:
		l.errorf("listen.max_conns_per_client", fmt.Sprintf("use 1 to %d; the default (0) is %d", listen.MaxMaxConnsPerClient, listen.DefaultMaxConnsPerClient),
			"%d is out of range", n)
	case n > 0:
		lp.MaxConnsPerClient = n
	}
	lo := listen.Options{ReadHeaderTimeout: lp.ReadHeaderTimeout, ReadTimeout: lp.ReadTimeout,
		WriteTimeout: lp.WriteTimeout, MaxHeaderBytes: lp.MaxHeaderBytes}
	for _, w := range lo.Warnings() {
		l.componentFinding(Warning, "", w, "the default is safe for real clients; remove the key")
	}
}

func (l *loader) compileTLS(f *File, p *Plan) {
	t := f.TLS
	tp := &p.TLS
	v, err := tlsconf.ParseVersion(t.MinVersion)
	if err != nil {
		l.errorf("tls.min_version", `use "1.2" (default) or "1.3"`, "%q is not allowed: TLS 1.0 and 1.1 are broken", t.MinVersion)
	}
	tp.MinVersion, tp.ReloadInterval = v, t.ReloadInterval.D
	switch {
	case t.CertFile != "" || t.KeyFile != "":
		tp.Mode, tp.CertFile, tp.KeyFile = TLSFiles, t.CertFile, t.KeyFile
		if t.CertFile == "" || t.KeyFile == "" {
			missing := "tls.cert_file"
			if t.KeyFile == "" {
				missing = "tls.key_file"
			}
			l.errorf(missing, "set both tls.cert_file and tls.key_file (or --cert and --key)", "is required with the other certificate file")
			return
		}
		if t.ACME != nil {
			l.errorf("tls.acme", "remove tls.acme, or remove tls.cert_file and tls.key_file", "cannot be used with certificate files")
		}
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			l.errorf("tls.cert_file", "give a PEM certificate chain and its matching PEM private key", "cannot load the key pair: %v", err)
		} else {
			l.checkCertificate(pair.Leaf, p.Hosts)
		}
		l.checkKeyFile(t.KeyFile)
	case t.ACME != nil:
		tp.Mode = TLSACME
		tp.ACMEEmail, tp.ACMEDirectory = t.ACME.Email, t.ACME.DirectoryURL
		l.checkACMEHosts(p)
		if u := tp.ACMEDirectory; u != "" {
			if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" || pu.Host == "" {
				l.errorf("tls.acme.directory_url", "give the CA's https:// directory URL", "%q is not an https URL", u)
			}
		}
	case p.Demo:
		tp.Mode = TLSDev
	case t.InsecureDevCertificate:
		tp.Mode = TLSDev
		l.warnf("tls.insecure_dev_certificate", "set tls.cert_file and tls.key_file, or tls.acme", "serving a self-signed development certificate: browsers will warn and clients must skip verification")
	case len(p.Hosts) > 0 && allPublic(p.Hosts):
		// Automatic HTTPS: every host can get a certificate from a public CA.
		tp.Mode = TLSACME
	case l.badHosts:
		// Already reported: no certificate decision without valid hosts.
	default:
		l.errorf("tls", "set tls.cert_file and tls.key_file (--cert, --key), or tls.acme for public names; for local testing only, tls.insecure_dev_certificate: true",
			"no certificate source: hosts %v cannot get a certificate from a public CA", p.Hosts)
	}
}

// checkKeyFile reports a tls.key_file that users other than its owner can
// read: an error when every user of the machine can, a warning when a
// group can or only a directory's mode stops the others. The file is the
// operator's; rampart does not change its mode.
func (l *loader) checkKeyFile(path string) {
	e, err := tlsconf.CheckKeyFile(path)
	if err != nil || !e.Readable() {
		return // an unreadable file is reported by the key pair check
	}
	hint := "chmod 600 " + path + " and chown it to the user rampart runs as"
	switch {
	case e.Others && e.Blocker == "":
		l.errorf("tls.key_file", hint+"; a key others could read should be replaced",
			"mode %#o lets every user of this machine read the private key %s", e.Mode, path)
	case e.Others:
		l.warnf("tls.key_file", hint, "mode %#o lets every user read the private key %s; only the mode of %s stops them", e.Mode, path, e.Blocker)
	default:
		l.warnf("tls.key_file", hint+", unless group "+e.Group+" exists to share it (ssl-cert on Debian)",
			"mode %#o lets group %s read the private key %s", e.Mode, e.Group, path)
	}
}

// checkStateKeys reports private keys rampart keeps under state_dir (the
// development key, the ACME cache) that group or others can read. They are
// made private when rampart starts (tlsconf), hence warnings, saying so.
func (l *loader) checkStateKeys(p *Plan) {
	var files []string
	switch p.TLS.Mode {
	case TLSDev:
		files = []string{filepath.Join(p.StateDir, tlsconf.DevCertDir, "key.pem")}
	case TLSACME:
		dir := filepath.Join(p.StateDir, tlsconf.ACMEDir)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	for _, f := range files {
		st, err := os.Lstat(f)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o077 == 0 {
			continue
		}
		l.warnf("state_dir", "chmod 600 "+f+"; if other users may have read it, delete it and rampart makes a new one",
			"%s holds a private key and has mode %#o, readable by other users; rampart makes it private (0600) when it starts", f, st.Mode().Perm())
	}
}

// checkCertificate reports a certificate that browsers would refuse for a
// configured host, or that is about to.
func (l *loader) checkCertificate(leaf *x509.Certificate, hosts []string) {
	if leaf == nil {
		return
	}
	now := time.Now()
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		l.errorf("tls.cert_file", "renew the certificate", "the certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	case left < 14*24*time.Hour:
		l.warnf("tls.cert_file", "renew the certificate, and check why renewal has not happened", "the certificate expires on %s, in %d days",
			leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	for _, h := range hosts {
		if err := leaf.VerifyHostname(h); err != nil {
			l.warnf("tls.cert_file", "use a certificate whose names include every configured host, or remove the host",
				"the certificate does not cover host %q: browsers will refuse it", h)
		}
	}
}

func allPublic(hosts []string) bool {
	for _, h := range hosts {
		if !isPublicName(h) {
			return false
		}
	}
	return true
}

func (l *loader) checkACMEHosts(p *Plan) {
	if len(p.Hosts) == 0 {
		l.errorf("hosts", "list the names to get certificates for", "ACME needs at least one host name")
	}
	for i, h := range p.Hosts {
		if !isPublicName(h) {
			l.errorf(fmt.Sprintf("hosts[%d]", i), "use certificate files for local names and IP addresses", "%q cannot get a certificate from a public CA", h)
		}
	}
}

func (l *loader) compileUpstream(f *File, p *Plan) {
	in := f.Upstream
	up := &p.Upstream
	up.PreserveHost = in.PreserveHost == nil || *in.PreserveHost
	up.DialTimeout, up.ResponseHeaderTimeout, up.MaxIdleConns = defaultDialTimeout, defaultRespHeaderTimeout, defaultMaxIdleConns
	if in.DialTimeout.Set && in.DialTimeout.D > 0 {
		up.DialTimeout = in.DialTimeout.D
	}
	if in.ResponseHeaderTimeout.Set && in.ResponseHeaderTimeout.D > 0 {
		up.ResponseHeaderTimeout = in.ResponseHeaderTimeout.D
	}
	if in.MaxIdleConns < 0 {
		l.errorf("upstream.max_idle_conns", "use a positive number; the default is 256", "must be ≥ 0")
	} else if in.MaxIdleConns > 0 {
		up.MaxIdleConns = in.MaxIdleConns
	}
	up.Forwarded, up.FlushInterval, up.UpgradeIdleTimeout = in.Forwarded, in.FlushInterval.D, in.UpgradeIdleTimeout.D
	l.compileUpstreamTLS(in.TLS, up)
	up.StripRequestHeaders = in.StripRequestHeaders
	up.RemoveResponseHeaders = in.RemoveResponseHeaders
	p.MaxBodyBytes = defaultMaxBodyBytes
	if f.Limits.MaxBodyBytes.Set {
		if f.Limits.MaxBodyBytes.N <= 0 {
			l.errorf("limits.max_body_bytes", `remove the key for the default "10m"`, "must be > 0")
		} else {
			p.MaxBodyBytes = f.Limits.MaxBodyBytes.N
		}
	}
	if in.URL == "" {
		if !p.Demo {
			l.errorf("upstream.url", "set upstream.url: http://127.0.0.1:5000 or pass --upstream", "is required: the application rampart protects")
		}
		return
	}
	u, err := url.Parse(in.URL)
	switch {
	case err != nil:
		if strings.Contains(in.URL, "@") {
			// It may hold user:password@; unparsed, it cannot be redacted.
			l.errorf("upstream.url", "write a URL such as http://127.0.0.1:5000, without user:password@", "is not a URL (not repeated here: it may hold a password)")
		} else {
			l.errorf("upstream.url", "write a URL such as http://127.0.0.1:5000", "%q is not a URL", in.URL)
		}
		return
	case u.Scheme != "http" && u.Scheme != "https":
		l.errorf("upstream.url", "write a URL such as http://127.0.0.1:5000", "scheme %q: must be http or https", u.Scheme)
		return
	case u.Host == "":
		l.errorf("upstream.url", "write a URL such as http://127.0.0.1:5000", "has no host")
		return
	case u.User != nil:
		l.errorf("upstream.url", "remove user:password@ from the URL", "holds credentials, which would end up in logs")
		return
	case u.RawQuery != "" || u.Fragment != "":
		l.errorf("upstream.url", "remove the query and fragment", "must not have a query or fragment")
		return
	}
	up.URL = u
	if u.Scheme == "http" && !safe.Loopback(u.Hostname()) {
		l.warnf("upstream.url", "bind the application to 127.0.0.1, or use https:// to reach it", "traffic to %s crosses the network unencrypted", u.Host)
	}
	if u.Scheme == "http" && in.TLS != (UpstreamTLS{}) {
		// The operator believes the upstream's certificate is checked
		// against ca_file; over http:// there is no certificate at all.
		l.warnf("upstream.tls", "use an https:// upstream.url, or remove upstream.tls", "has no effect: upstream.url is http://, so the traffic is not encrypted")
	}
}

func (l *loader) compileUpstreamTLS(in UpstreamTLS, up *UpstreamPlan) {
	if in == (UpstreamTLS{}) {
		return
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
	if in.InsecureSkipVerify {
		l.warnf("upstream.tls.insecure_skip_verify", "set upstream.tls.ca_file to the CA that signs the application's certificate",
			"the upstream's certificate is not verified: anyone on the path to it can read and change the traffic")
	}
	up.TLSClientConfig = cfg
}

func (l *loader) compileClientIP(f *File, p *Plan) {
	for i, s := range f.TrustedProxies {
		key := fmt.Sprintf("trusted_proxies[%d]", i)
		pfx, err := parsePrefix(s)
		if err != nil {
			l.errorf(key, "write an address or CIDR such as 10.0.0.0/8 or 192.0.2.7", "%q is not an IP address or CIDR", s)
			continue
		}
		if pfx.Bits() == 0 {
			l.errorf(key, "list only your load balancers' or CDN's ranges", "%s trusts every address: any client could forge X-Forwarded-For and choose the IP that is logged and rate-limited", pfx)
			continue
		}
		p.TrustedProxies = append(p.TrustedProxies, pfx)
	}
	if res, err := clientip.New(clientip.Options{TrustedProxies: p.TrustedProxies, Header: f.ClientIPHeader}); err == nil {
		for _, w := range res.Warnings() {
			l.componentFinding(Warning, "", w, "")
		}
	}
	switch strings.ToLower(f.ClientIPHeader) {
	case "", "x-forwarded-for":
		p.ClientIPHeader = "X-Forwarded-For"
	case "x-real-ip":
		p.ClientIPHeader = "X-Real-IP"
	case "forwarded":
		p.ClientIPHeader = "Forwarded"
	default:
		l.errorf("client_ip_header", "use X-Forwarded-For, X-Real-IP or Forwarded", "%q is not supported", f.ClientIPHeader)
	}
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
	o := reqpath.Options{InsecureAllowEncodedSlashes: f.Paths.InsecureAllowEncodedSlashes,
		InsecureAllowSemicolons: f.Paths.InsecureAllowSemicolons, CaseInsensitive: f.Paths.CaseInsensitive}
	if _, err := reqpath.New(o); err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			l.componentFinding(Error, "paths", line, "write a path prefix such as /api/files/")
		}
		return
	}
	for _, w := range o.Warnings() {
		l.componentFinding(Warning, "paths", w, "remove it unless the application needs these paths; see README, Request paths")
	}
	p.Paths = o
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
	p.AccessLog = l.compileLogFile(f.Log.Access, "log.access")
	p.SecurityLog = l.compileLogFile(f.Log.Security, "log.security")
	if len(f.Log.Security.KeepQueryParams) > 0 {
		l.warnf("log.security.keep_query_params", "move it under log.access", "has no effect on the security log")
	}
}

func (l *loader) compileLogFile(in LogFile, key string) LogPlan {
	out := LogPlan{Path: in.Path, MaxSizeMB: defaultLogSizeMB, MaxBackups: defaultLogBackups,
		MaxAgeDays: in.MaxAgeDays, Compress: in.Compress == nil || *in.Compress, KeepQueryParams: in.KeepQueryParams}
	if out.Path == "-" {
		out.Path = ""
	}
	if out.Path != "" {
		// A missing directory is created at start; a directory in place of
		// the file, or a file in place of the directory, cannot be.
		if st, err := os.Stat(out.Path); err == nil && st.IsDir() {
			l.errorf(key+".path", "name a file inside it, e.g. "+filepath.Join(out.Path, "access.log"), "%q is a directory", out.Path)
		} else if st, err := os.Stat(filepath.Dir(out.Path)); err == nil && !st.IsDir() {
			l.errorf(key+".path", "choose a path in a directory", "%q is not a directory", filepath.Dir(out.Path))
		}
	}
	if in.MaxSizeMB < 0 || in.MaxBackups < 0 || in.MaxAgeDays < 0 {
		l.errorf(key, "use positive numbers", "max_size_mb, max_backups and max_age_days must be ≥ 0")
	}
	if in.MaxSizeMB > 0 {
		out.MaxSizeMB = in.MaxSizeMB
	}
	if in.MaxBackups > 0 {
		out.MaxBackups = in.MaxBackups
	}
	if out.Path != "" && out.MaxSizeMB*(out.MaxBackups+1) < 100 {
		l.warnf(key, "keep at least 100 MB, e.g. max_size_mb: 100 with max_backups: 10", "keeps only %d MB of history: too little for an audit trail", out.MaxSizeMB*(out.MaxBackups+1))
	}
	o := accesslog.Output{Path: out.Path, MaxSizeMB: out.MaxSizeMB, MaxBackups: out.MaxBackups, MaxAgeDays: out.MaxAgeDays}
	for _, w := range o.Warnings() {
		if !strings.HasPrefix(w, "max_size_mb x") { // reported above, with a higher bar
			l.componentFinding(Warning, key, w, "")
		}
	}
	for _, w := range (accesslog.Options{KeepQueryParams: in.KeepQueryParams}).Warnings() {
		l.componentFinding(Warning, key, w, "remove it: the access log must not hold credentials")
	}
	return out
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
		if p.Demo {
			if d, err := os.UserCacheDir(); err == nil {
				p.StateDir = filepath.Join(d, "rampart")
			} else {
				p.StateDir = ".rampart-state"
			}
		}
	}
	if st, err := os.Stat(p.StateDir); err == nil {
		if !st.IsDir() {
			l.errorf("state_dir", "point state_dir at a directory", "%q is not a directory", p.StateDir)
		} else if st.Mode().Perm()&0o022 != 0 {
			l.warnf("state_dir", "chmod 700 "+p.StateDir, "%q is writable by other users, who could replace certificates", p.StateDir)
		}
	}
}
