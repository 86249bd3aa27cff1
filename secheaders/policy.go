// Package secheaders sets the HTTP security headers of every response: HSTS,
// Content-Security-Policy (with per-response nonces and a violation report
// collector), X-Content-Type-Options, X-Frame-Options, Referrer-Policy,
// Permissions-Policy, the Cross-Origin-*-Policy family, and hardens the
// Set-Cookie headers of the application behind it.
//
// It does what Flask-Talisman and helmet do, as one net/http middleware, with
// three differences that matter behind a reverse proxy:
//
//   - headers are applied when the response is committed (WriteHeader or the
//     first Write, or after the handler returns without writing), so error
//     pages written by later stages (429, 500, 502, 504) and redirects carry
//     them too;
//   - a header the application also sets is never sent twice: per header the
//     policy's value replaces the application's (ModeOverride, the default),
//     yields to it (ModeKeep), or, for CSP, is combined with it (ModeMerge);
//   - the policy is compiled once by New: header values are precomputed and
//     every configuration mistake is reported before the first request, by
//     Policy.Validate, on the Go path of the field it is about (New runs
//     exactly Validate, so a checked policy cannot fail to start).
//
// The zero Policy is the safe default described on each field. Among the
// defaults, X-XSS-Protection is "0", not the "1; mode=block" of older
// checklists: that switched on the XSS auditor, whose blocking could be
// triggered by an attacker to disable scripts and leak page contents across
// origins (XS-Leaks); browsers removed it, and "0" turns it off where it
// lingers.
package secheaders

import "time"

// Off, as the value of a header field of Policy or Route, removes that header
// (including a value the application sent, unless its mode is ModeKeep).
const Off = "off"

// Mode says how a policy header meets the same header sent by the
// application.
type Mode string

const (
	// ModeOverride: the policy's value replaces the application's. The
	// default for every header, so a response carries each header once and
	// with the value the operator configured.
	ModeOverride Mode = "override"
	// ModeKeep: when the application sent the header, its value is kept
	// (all of it, deduplicated) and the policy's is not added.
	ModeKeep Mode = "keep"
	// ModeMerge (Content-Security-Policy and its Report-Only variant only):
	// both policies are sent, as one header field holding the policy list
	// "ours, theirs". Browsers enforce every policy of the list, so a
	// resource loads only if all of them allow it: merging can only
	// tighten, never loosen, what either side asked for. Identical
	// policies are sent once. Consequence: when both sides use nonces, an
	// inline script would need both, which one nonce attribute cannot
	// carry; let one side do nonces (CSP.Nonce hands ours to the
	// application for that reason).
	ModeMerge Mode = "merge"
)

// Policy configures the middleware. The zero value is the safe default.
type Policy struct {
	// HSTS configures Strict-Transport-Security. Default: max-age two
	// years, includeSubDomains, no preload, on HTTPS responses only.
	HSTS HSTS

	// CSP configures Content-Security-Policy.
	CSP CSP

	// Headers holds the single-value headers. Each field's zero value is
	// the default stated on it.
	Headers

	// Modes maps a header name (any case) to how it meets the
	// application's header. Unlisted headers use ModeOverride. Only the
	// headers the policy sets or removes can be listed (Strict-Transport-
	// Security, Content-Security-Policy[-Report-Only], X-Frame-Options,
	// X-Powered-By, ...); any other name is an error, since its mode would
	// do nothing.
	Modes map[string]Mode

	// Routes override the policy for path prefixes (longest prefix wins).
	// See Route.
	Routes []Route

	// Cookies are the Set-Cookie hardening rules, first match wins. With
	// none, the rules of DefaultCookieRules apply. See CookieRule.
	Cookies []CookieRule

	// InsecureNoCookieHardening leaves the application's Set-Cookie
	// headers untouched. Default false: cookies are hardened.
	InsecureNoCookieHardening bool
}

// X-Powered-By, which frameworks use to announce themselves and their
// version, is removed from every response (set its mode to ModeKeep to let
// the application's through).

// Default returns the default policy. It is the zero Policy; the function
// exists so callers can write secheaders.New(secheaders.Default()) and read
// what they get.
func Default() Policy { return Policy{} }

// HSTS configures Strict-Transport-Security, sent only on responses to
// requests that arrived over TLS (r.TLS != nil): on plain HTTP browsers
// ignore it (RFC 6797 §8.1), and a value reflected there would only mislead.
type HSTS struct {
	// MaxAge is how long browsers remember to use HTTPS only. Zero means
	// two years (63072000 s), the value hstspreload.org recommends.
	// Sub-second parts are truncated. Must not be negative.
	MaxAge time.Duration
	// ExcludeSubDomains drops includeSubDomains. Default false:
	// subdomains are covered, so a cookie for the parent domain cannot be
	// set over cleartext on a forgotten subdomain.
	ExcludeSubDomains bool
	// Preload adds the preload token. Default false: preloading is hard to
	// undo (removal from browsers takes months), so it is only sent when
	// asked, and refused (an error) unless MaxAge is at least one year and
	// subdomains are included, the list's own requirements.
	Preload bool
	// InsecureDisable sends no Strict-Transport-Security header, leaving
	// the first visit and every typed http:// URL open to SSL stripping.
	InsecureDisable bool
}

// CSP configures Content-Security-Policy.
type CSP struct {
	// Directives are merged over the default policy, directive by
	// directive: a directive listed here replaces the default's values for
	// that directive, the others are kept. Each value may hold several
	// space-separated sources ("'self' https://cdn.example"). An empty
	// list is a directive with no value (upgrade-insecure-requests).
	//
	// The default policy is
	//	default-src 'self'; script-src 'self'; style-src 'self';
	//	object-src 'none'; base-uri 'self'; frame-ancestors 'self';
	//	form-action 'self'
	// — the seed's three directives, completed with the ones default-src
	// does not cover (base-uri, frame-ancestors, form-action) or covers too
	// loosely (object-src).
	Directives map[string][]string
	// Replace makes Directives the whole policy, without the defaults.
	// Missing object-src or base-uri are then reported by Validate.
	Replace bool
	// ReportOnly sends Content-Security-Policy-Report-Only instead: the
	// policy is not enforced, violations are only reported. For rolling
	// out a policy; Validate warns of it. Default false. An enforced
	// Content-Security-Policy the application sends is then left as is:
	// modes apply per header name.
	ReportOnly bool
	// Nonce configures per-response nonces. Default off.
	Nonce NonceOptions
	// Report configures the violation report collector. Default off.
	Report ReportOptions
	// InsecureDisable sends no CSP header at all.
	InsecureDisable bool
}

// NonceOptions configures CSP nonces: a fresh random value for each response, put
// in the policy as 'nonce-…' and handed to the application so its templates
// can write <script nonce="…">. An injected script does not know the value,
// so it is blocked even when the page reflects attacker HTML.
type NonceOptions struct {
	// Enabled turns nonces on. Default false.
	Enabled bool
	// Directives receive the nonce. Default: script-src. Listing
	// style-src too covers inline <style>.
	Directives []string
	// RequestHeader is the request header the nonce is passed in to the
	// application. Default "X-CSP-Nonce". Any value the client sent in it
	// is replaced, so a client cannot choose the nonce. Go handlers behind
	// the middleware can call Nonce(r) instead.
	RequestHeader string
	// InjectHTML adds nonce="…" to every <script> and <style> start tag of
	// responses declared text/html that lack one, for applications that cannot use
	// the request header. Default false, and use with care: the rewriter
	// cannot tell the application's tags from tags an attacker injected
	// into the page (reflected or stored XSS), and nonces them all. It
	// still blocks inline event handlers, javascript: URLs and scripts
	// created at run time, but not injected <script> elements. Compressed
	// bodies (Content-Encoding set) are passed through unchanged.
	InjectHTML bool
}

// ReportOptions configures CSP violation reporting to the built-in collector.
type ReportOptions struct {
	// Enabled adds report-uri and report-to to the policy and a
	// Reporting-Endpoints header, all pointing at Path, and makes the
	// middleware answer POST requests to Path with the collector (see
	// Collector). Default false.
	Enabled bool
	// Path is where the collector listens. Default
	// "/.well-known/rampart/csp-report".
	Path string
	// Collector configures the collector (logger, limits).
	Collector CollectorOptions
}

// Headers are the single-value security headers. In a Policy, an empty field
// means the default stated on it; in a Route, it means "as the policy". Off
// removes the header.
type Headers struct {
	// FrameOptions is X-Frame-Options. Default: derived from the CSP's
	// frame-ancestors ('self' → SAMEORIGIN, 'none' → DENY, anything else
	// → no header, since X-Frame-Options cannot express a list and
	// browsers that know frame-ancestors ignore it); SAMEORIGIN when
	// the CSP is off or report-only. DENY or SAMEORIGIN set it explicitly.
	FrameOptions string
	// ReferrerPolicy is Referrer-Policy. Default
	// "strict-origin-when-cross-origin": full URL same-origin, only the
	// origin cross-origin, nothing on HTTPS→HTTP.
	ReferrerPolicy string
	// PermissionsPolicy is Permissions-Policy. Default: denies powerful
	// features to the page and every frame (see DefaultPermissionsPolicy).
	PermissionsPolicy string
	// CrossOriginOpenerPolicy is Cross-Origin-Opener-Policy. Default
	// "same-origin": a cross-origin window that opens or is opened by the
	// page gets no handle on it (XS-Leaks, tabnabbing).
	CrossOriginOpenerPolicy string
	// CrossOriginResourcePolicy is Cross-Origin-Resource-Policy. Default
	// "same-origin": other sites cannot embed the responses (Spectre-style
	// reads). Set "cross-origin" on a route serving public assets.
	CrossOriginResourcePolicy string
	// CrossOriginEmbedderPolicy is Cross-Origin-Embedder-Policy. Default:
	// not sent (opt-in, "require-corp" or "credentialless"), because it
	// breaks every cross-origin resource that does not opt in.
	CrossOriginEmbedderPolicy string
	// OriginAgentCluster is Origin-Agent-Cluster. Default: not sent;
	// "?1" opts in to origin-keyed agent clusters.
	OriginAgentCluster string
	// PermittedCrossDomainPolicies is X-Permitted-Cross-Domain-Policies.
	// Default "none": Adobe clients (PDF readers, legacy Flash) may not
	// load a crossdomain.xml policy that grants other sites access.
	PermittedCrossDomainPolicies string
	// DNSPrefetchControl is X-DNS-Prefetch-Control. Default "off": the
	// browser does not resolve the host names of links on the page before
	// they are followed, which would tell a network observer (or the
	// link's DNS operator) what the page contains. "on" trades that for
	// speed. Here "off" is the header's value, not Off: the header is
	// always sent.
	DNSPrefetchControl string
}

// DefaultPermissionsPolicy denies features a typical web application never
// uses and an injected script or a hostile frame would love to.
const DefaultPermissionsPolicy = "accelerometer=(), autoplay=(), camera=(), display-capture=(), " +
	"encrypted-media=(), fullscreen=(self), geolocation=(), gyroscope=(), hid=(), " +
	"idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), " +
	"picture-in-picture=(), publickey-credentials-get=(self), screen-wake-lock=(), " +
	"serial=(), usb=(), web-share=(), xr-spatial-tracking=()"

// Route overrides the policy for requests whose path is Prefix or lies
// under it, like Talisman's per-view decorator.
//
// Prefix is a reqpath.Prefix, matched on the canonical path segment by
// segment and ignoring ASCII case: "/embed" (or "/embed/") matches /embed,
// /EMBED/x and //embed/x but not /embedded. The longest matching prefix
// wins. A path an application could read differently from rampart
// ("/admin/..%2fembed/x", "/embed/../admin") has no canonical path: it
// never gets a route's headers, and rampart's gateway refuses it (400)
// before it reaches the application, so a client cannot dress a request for
// a strict page as one for a looser route.
type Route struct {
	Prefix string
	// CSP directives merged over the policy's (directive by directive).
	CSP map[string][]string
	// CSPReplace makes CSP the whole policy of the route.
	CSPReplace bool
	// CSPReportOnly, when set, overrides CSP.ReportOnly for the route:
	// a new, stricter policy can be tried on one part of the site.
	CSPReportOnly *bool
	// Headers override the policy's; empty fields inherit.
	Headers
	// HSTS and the cookie rules are per host, not per route, and cannot be
	// overridden here.
}
