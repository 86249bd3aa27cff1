package config

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-dev/rampart/secheaders"
)

// Headers is the `headers:` section: the security headers set on every
// response (secheaders.Policy). Absent, the secure defaults apply.
type Headers struct {
	HSTS                      HSTS `yaml:"hsts"`
	CSP                       CSP  `yaml:"csp"`
	HeaderValues              `yaml:",inline"`
	Modes                     map[string]string `yaml:"modes"`
	Routes                    []HeaderRoute     `yaml:"routes"`
	Cookies                   []CookieRule      `yaml:"cookies"`
	InsecureNoCookieHardening bool              `yaml:"insecure_no_cookie_hardening"`
}

// HSTS is `headers.hsts`.
type HSTS struct {
	// MaxAge in seconds. Default 63072000 (two years).
	MaxAge            int   `yaml:"max_age"`
	IncludeSubDomains *bool `yaml:"include_subdomains"`
	Preload           bool  `yaml:"preload"`
	InsecureDisable   bool  `yaml:"insecure_disable"`
}

// CSP is `headers.csp`.
type CSP struct {
	// Directives merge over the default policy; a value is a string of
	// space-separated sources or a list.
	Directives      map[string]Sources `yaml:"directives"`
	Replace         bool               `yaml:"replace"`
	ReportOnly      bool               `yaml:"report_only"`
	Nonce           Nonce              `yaml:"nonce"`
	Report          Report             `yaml:"report"`
	InsecureDisable bool               `yaml:"insecure_disable"`
}

// Nonce is `headers.csp.nonce`.
type Nonce struct {
	Enabled       bool     `yaml:"enabled"`
	Directives    []string `yaml:"directives"`
	RequestHeader string   `yaml:"request_header"`
	InjectHTML    bool     `yaml:"inject_html"`
}

// Report is `headers.csp.report`.
type Report struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"`
}

// HeaderValues are the single-value headers; "off" removes one.
type HeaderValues struct {
	FrameOptions              string `yaml:"frame_options"`
	ReferrerPolicy            string `yaml:"referrer_policy"`
	PermissionsPolicy         string `yaml:"permissions_policy"`
	CrossOriginOpenerPolicy   string `yaml:"cross_origin_opener_policy"`
	CrossOriginResourcePolicy string `yaml:"cross_origin_resource_policy"`
	CrossOriginEmbedderPolicy string `yaml:"cross_origin_embedder_policy"`
	OriginAgentCluster        string `yaml:"origin_agent_cluster"`
	PermittedCrossDomain      string `yaml:"permitted_cross_domain_policies"`
	DNSPrefetchControl        string `yaml:"dns_prefetch_control"`
}

// HeaderRoute is one entry of `headers.routes`.
type HeaderRoute struct {
	Prefix     string             `yaml:"prefix"`
	CSP        map[string]Sources `yaml:"csp"`
	CSPReplace bool               `yaml:"csp_replace"`
	// CSPReportOnly overrides csp.report_only for the route.
	CSPReportOnly *bool `yaml:"csp_report_only"`
	HeaderValues  `yaml:",inline"`
}

// CookieRule is one entry of `headers.cookies`.
type CookieRule struct {
	Name             string `yaml:"name"`
	HttpOnly         bool   `yaml:"http_only"`
	SameSite         string `yaml:"same_site"`
	InsecureNoSecure bool   `yaml:"insecure_no_secure"`
}

// Sources is a CSP source list written as one string or a YAML list.
type Sources []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Sources) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = strings.Fields(n.Value)
		if *s == nil {
			*s = Sources{}
		}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*s = list
		return nil
	}
	return lineError(n, "expected sources as a string or a list, got "+gotDesc(n), sourcesHint)
}

func sourcesMap(m map[string]Sources) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (h HeaderValues) policy() secheaders.Headers {
	return secheaders.Headers{
		FrameOptions: h.FrameOptions, ReferrerPolicy: h.ReferrerPolicy, PermissionsPolicy: h.PermissionsPolicy,
		CrossOriginOpenerPolicy: h.CrossOriginOpenerPolicy, CrossOriginResourcePolicy: h.CrossOriginResourcePolicy,
		CrossOriginEmbedderPolicy: h.CrossOriginEmbedderPolicy, OriginAgentCluster: h.OriginAgentCluster,
		PermittedCrossDomainPolicies: h.PermittedCrossDomain, DNSPrefetchControl: h.DNSPrefetchControl,
	}
}

// compileHeaders converts the section and validates it by building the
// middleware once; its errors and warnings name keys under "headers.".
func (l *loader) compileHeaders(in Headers, p *Plan) {
	pol := secheaders.Policy{
		HSTS: secheaders.HSTS{
			MaxAge:            time.Duration(in.HSTS.MaxAge) * time.Second,
			ExcludeSubDomains: in.HSTS.IncludeSubDomains != nil && !*in.HSTS.IncludeSubDomains,
			Preload:           in.HSTS.Preload,
			InsecureDisable:   in.HSTS.InsecureDisable,
		},
		CSP: secheaders.CSP{
			Directives: sourcesMap(in.CSP.Directives),
			Replace:    in.CSP.Replace,
			ReportOnly: in.CSP.ReportOnly,
			Nonce: secheaders.NonceOptions{Enabled: in.CSP.Nonce.Enabled, Directives: in.CSP.Nonce.Directives,
				RequestHeader: in.CSP.Nonce.RequestHeader, InjectHTML: in.CSP.Nonce.InjectHTML},
			Report:          secheaders.ReportOptions{Enabled: in.CSP.Report.Enabled, Path: in.CSP.Report.Path},
			InsecureDisable: in.CSP.InsecureDisable,
		},
		Headers:                   in.HeaderValues.policy(),
		InsecureNoCookieHardening: in.InsecureNoCookieHardening,
	}
	if in.HSTS.MaxAge < 0 {
		l.errorf("headers.hsts.max_age", "use seconds, e.g. 63072000 for two years", "must be ≥ 0")
	}
	if len(in.Modes) > 0 {
		pol.Modes = map[string]secheaders.Mode{}
		for k, v := range in.Modes {
			pol.Modes[k] = secheaders.Mode(v)
		}
	}
	for _, r := range in.Routes {
		pol.Routes = append(pol.Routes, secheaders.Route{Prefix: r.Prefix, CSP: sourcesMap(r.CSP),
			CSPReplace: r.CSPReplace, CSPReportOnly: r.CSPReportOnly, Headers: r.HeaderValues.policy()})
	}
	for _, c := range in.Cookies {
		pol.Cookies = append(pol.Cookies, secheaders.CookieRule{Name: c.Name, HttpOnly: c.HttpOnly,
			SameSite: c.SameSite, InsecureNoSecure: c.InsecureNoSecure})
	}
	m, err := secheaders.New(pol)
	if err != nil {
		l.componentErrors("headers", err)
		return
	}
	for _, w := range m.Warnings() {
		l.componentFinding(Warning, "headers", w, "")
	}
	p.Headers = pol
}

// componentErrors turns a library constructor's joined "key: message"
// errors into findings under section.
func (l *loader) componentErrors(section string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line != "" {
			l.componentFinding(Error, section, line, "")
		}
	}
}

// componentFinding records "key: message" from a library package as a
// finding on section.key, placed at the nearest key the file names.
func (l *loader) componentFinding(sev Severity, section, text, hint string) {
	key, msg, ok := strings.Cut(text, ": ")
	if !ok || strings.ContainsAny(key, " \"'") {
		key, msg = "", text
	}
	if m, h, ok := strings.Cut(msg, "; hint: "); ok {
		msg, hint = m, h
	} else if m, h, ok := strings.Cut(msg, " (hint: "); ok {
		msg, hint = m, strings.TrimSuffix(h, ")")
	}
	full := section
	switch {
	case key == "":
	case section == "":
		full = key
	default:
		full = section + "." + key
	}
	l.findings = append(l.findings, Finding{Severity: sev, Where: l.nearest(full), Key: full, Message: msg, Hint: hint})
}

// nearest returns where key, or its closest ancestor, was set.
func (l *loader) nearest(key string) string {
	for k := key; k != ""; {
		if w, ok := l.where[k]; ok {
			return w
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return l.file
}
