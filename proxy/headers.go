package proxy

import (
	"net/http"
	"slices"
	"strings"
)

// DefaultStripRequestHeaders returns the headers removed from every request
// before it is sent upstream: a fresh copy each time, so that no importer
// can weaken the list for the whole process.
func DefaultStripRequestHeaders() []string { return slices.Clone(defaultStripRequestHeaders) }

// defaultStripRequestHeaders are removed from every request before it is
// sent upstream. Applications and frameworks trust these headers because
// "only the proxy sets them": an authentication proxy's identity headers
// (a client sending X-Remote-User: admin would otherwise be admin), and
// client-address or scheme headers that a framework may read instead of
// X-Forwarded-For and X-Forwarded-Proto. rampart owns all of them; any the
// gateway sets itself are added back after stripping (WithUpstreamHeaders).
//
// X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto and Forwarded are
// dropped by httputil.ReverseProxy before Rewrite runs and then set by the
// proxy; they are listed here too so that their underscore spellings
// (X_Forwarded_For, which WSGI servers read as the same variable) go as well.
//
// An entry ending in '*' names every header beginning with what precedes it
// ("X-SSL-Client-*" matches X-SSL-Client-Cert, X-SSL-Client-S-DN, ...):
// the proxies that set such families add members between versions, and an
// application reading one the list did not name would trust the client.
var defaultStripRequestHeaders = []string{
	// Forwarding and client-address headers.
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	"X-Forwarded-Port",
	"X-Forwarded-Prefix",
	"X-Forwarded-Server",
	"X-Forwarded-Scheme",
	"X-Forwarded-Ssl",
	"X-Forwarded-Protocol",
	"X-Original-Forwarded-For",
	"X-Url-Scheme",
	"X-Scheme",
	"Front-End-Https",
	"X-Real-IP",
	"X-Client-IP",
	"X-Cluster-Client-IP",
	"Client-IP",
	"True-Client-IP",
	"CF-Connecting-IP",
	"Fastly-Client-IP",
	"X-ProxyUser-Ip",
	"X-Host",
	"X-Original-Host",
	"X-Forwarded",   // the pre-RFC 7239 draft's form of Forwarded
	"Forwarded-For", // read by client-address libraries beside X-Forwarded-For
	"X-Appengine-User-Ip",
	"Akamai-Client-Ip",
	// Path overrides honoured by some frameworks (IIS, Symfony, Zend),
	// and the original-path headers auth_request and ingress
	// controllers set for the application to build URLs or decide
	// access from: a client could reach a path the gateway's rules never
	// saw, or be believed about which path it asked for.
	"X-Original-URL",
	"X-Rewrite-URL",
	"X-Original-URI",
	"X-Forwarded-Uri",
	"X-Forwarded-Path",
	// Method overrides honoured by some frameworks (Rails, Laravel,
	// Express method-override, Symfony): a POST the gateway's method-scoped
	// rules saw as POST would be served as DELETE or PUT.
	"X-HTTP-Method-Override",
	"X-HTTP-Method",
	"X-Method-Override",
	"X-Original-Method",
	// Request id: the upstream gets rampart's, not the client's.
	"X-Request-ID",
	// rampart's own identity headers (X-Rampart-User, X-Rampart-Roles,
	// X-Rampart-Assertion): only the gateway sets them.
	"X-Rampart-*",
	// Identity headers of authentication proxies (oauth2-proxy,
	// Authelia, Apache mod_auth, Grafana auth proxy, Kong).
	"X-Auth-Request-User",
	"X-Auth-Request-Email",
	"X-Auth-Request-Preferred-Username",
	"X-Auth-Request-Groups",
	"X-Auth-Request-Access-Token",
	"X-Forwarded-User",
	"X-Forwarded-Email",
	"X-Forwarded-Preferred-Username",
	"X-Forwarded-Groups",
	"X-Forwarded-Access-Token",
	"X-Remote-User",
	"X-Remote-Email",
	"X-Remote-Groups",
	"X-Remote-Name",
	"Remote-User",
	"Remote-Email",
	"Remote-Groups",
	"Remote-Name",
	"X-Authenticated-User",
	"X-Authenticated-Userid",
	"X-Authenticated-Groups",
	"X-Webauth-User",
	"X-User",
	"X-User-ID",
	"X-Email",
	"X-Auth-User",
	// Identity set by cloud front ends: AWS ALB (OIDC), Google IAP,
	// Cloudflare Access, Azure App Service (Easy Auth).
	"X-Amzn-Oidc-*",
	"X-Goog-Authenticated-User-*",
	"Cf-Access-Authenticated-User-Email",
	"X-Ms-Client-Principal*",
	// Client certificates as a TLS-terminating proxy passes them on
	// (Envoy, nginx $ssl_client_*): an application authenticating by
	// certificate subject would take the client's word for it.
	"X-Forwarded-Client-Cert",
	"X-SSL-Client-*",
}

// DefaultRemoveResponseHeaders returns the headers removed from every
// upstream response: a fresh copy each time.
func DefaultRemoveResponseHeaders() []string { return slices.Clone(defaultRemoveResponseHeaders) }

// defaultRemoveResponseHeaders are removed from every upstream response:
// they tell an attacker which server, framework and version to look up
// exploits for, and carry no value for a browser.
//
// The list is the OWASP Secure Headers Project "headers to remove" list,
// https://owasp.org/www-project-secure-headers/ci/headers_remove.json
// (last_update_utc 2024-09-02), followed by a few more fingerprinting
// headers seen in the wild. Matching ignores case.
var defaultRemoveResponseHeaders = []string{
	// OWASP Secure Headers Project, headers_remove.json.
	"$wsep",
	"Host-Header",
	"K-Proxy-Request",
	"Liferay-Portal",
	"OracleCommerceCloud-Version",
	"Pega-Host",
	"Powered-By",
	"Product",
	"Server",
	"SourceMap",
	"X-AspNet-Version",
	"X-AspNetMvc-Version",
	"X-Atmosphere-error",
	"X-Atmosphere-first-request",
	"X-Atmosphere-tracking-id",
	"X-B3-ParentSpanId",
	"X-B3-Sampled",
	"X-B3-SpanId",
	"X-B3-TraceId",
	"X-BEServer",
	"X-CF-Powered-By",
	"X-CMS",
	"X-CalculatedBETarget",
	"X-Cocoon-Version",
	"X-Content-Encoded-By",
	"X-DiagInfo",
	"X-Envoy-Attempt-Count",
	"X-Envoy-External-Address",
	"X-Envoy-Internal",
	"X-Envoy-Original-Dst-Host",
	"X-Envoy-Upstream-Service-Time",
	"X-FEServer",
	"X-Framework",
	"X-Generated-By",
	"X-Generator",
	"X-Jitsi-Release",
	"X-Joomla-Version",
	"X-Kubernetes-PF-FlowSchema-UI",
	"X-Kubernetes-PF-PriorityLevel-UID",
	"X-LiteSpeed-Cache",
	"X-LiteSpeed-Purge",
	"X-LiteSpeed-Tag",
	"X-LiteSpeed-Vary",
	"X-Litespeed-Cache-Control",
	"X-Mod-Pagespeed",
	"X-Nextjs-Cache",
	"X-Nextjs-Matched-Path",
	"X-Nextjs-Page",
	"X-Nextjs-Redirect",
	"X-OWA-Version",
	"X-Old-Content-Length",
	"X-OneAgent-JS-Injection",
	"X-Page-Speed",
	"X-Php-Version",
	"X-Powered-By",
	"X-Powered-By-Plesk",
	"X-Powered-CMS",
	"X-Redirect-By",
	"X-Server-Powered-By",
	"X-SourceFiles",
	"X-SourceMap",
	"X-Turbo-Charged-By",
	"X-Umbraco-Version",
	"X-Varnish-Backend",
	"X-Varnish-Server",
	"X-dtAgentId",
	"X-dtHealthCheck",
	"X-dtInjectedServlet",
	"X-ruxit-JS-Agent",
	// Not on the OWASP list, same kind: Rails, Drupal, generic backends.
	"X-Runtime",
	"X-Version",
	"X-Drupal-Cache",
	"X-Drupal-Dynamic-Cache",
	"X-Backend-Server",
}

// headerSet matches header names ignoring case and treating '_' as '-',
// by exact name or, for entries written with a trailing '*', by prefix.
// It is built once in New and read concurrently.
type headerSet struct {
	names map[string]struct{} // normalizeHeaderName form
	// prefixes are lower case with '-' for '_'. They are few (four in
	// the default list), and foldPrefix rejects almost every header at
	// its first or second byte, so a linear scan costs less than any
	// index would.
	prefixes []string
}

func newHeaderSet(lists ...[]string) headerSet {
	s := headerSet{names: make(map[string]struct{})}
	for _, l := range lists {
		for _, name := range l {
			if pre, ok := strings.CutSuffix(name, "*"); ok {
				if pre != "" { // a bare "*" is refused by Options.validate
					s.prefixes = append(s.prefixes, strings.ToLower(strings.ReplaceAll(pre, "_", "-")))
				}
				continue
			}
			s.names[normalizeHeaderName(name)] = struct{}{}
		}
	}
	return s
}

// normalizeHeaderName maps every spelling of a header name that a server
// might treat as the same header to one key: canonical case, '_' as '-'.
func normalizeHeaderName(name string) string {
	if strings.IndexByte(name, '_') >= 0 {
		name = strings.ReplaceAll(name, "_", "-")
	}
	return http.CanonicalHeaderKey(name)
}

// has reports whether the header key k (as found in an http.Header) is in s.
func (s headerSet) has(k string) bool {
	if _, ok := s.names[k]; ok {
		return true
	}
	// Keys parsed by net/http are already canonical, so the lookup above
	// decides for nearly every header without allocating. The keys it can
	// miss are names with '_' (net/http makes X_Remote_User
	// X_remote_user, not X-Remote-User) and names with other bytes
	// outside [A-Za-z0-9-], which net/http leaves as sent.
	if !isCanonicalSimple(k) {
		if _, ok := s.names[normalizeHeaderName(k)]; ok {
			return true
		}
	}
	for _, p := range s.prefixes {
		if foldPrefix(k, p) {
			return true
		}
	}
	return false
}

// foldPrefix reports whether k begins with p, ignoring ASCII case and
// reading '_' in k as '-'; p is lower case, without '_'. It neither
// allocates nor needs k in canonical form.
func foldPrefix(k, p string) bool {
	if len(k) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := k[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// isCanonicalSimple reports whether k is made only of letters, digits and
// '-' in canonical case, in which case normalizeHeaderName(k) == k.
func isCanonicalSimple(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-':
			upper = true
			continue
		case 'A' <= c && c <= 'Z':
			if !upper {
				return false
			}
		case 'a' <= c && c <= 'z':
			if upper {
				return false
			}
		case '0' <= c && c <= '9':
		default:
			return false
		}
		upper = false
	}
	return true
}

// removeFrom deletes every header of h that is in s.
func (s headerSet) removeFrom(h http.Header) {
	for k := range h {
		if s.has(k) {
			delete(h, k)
		}
	}
}
