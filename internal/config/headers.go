package config

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-dev/rampart/secheaders"
)

// Headers is the `headers:` section: the security headers set on every
// response (secheaders.Policy, the plan's Headers). Absent, the secure
// defaults apply. Each key's plan tag is the Policy field it sets (see
// keys.go); secheaders validates the Policy and names those fields.
type Headers struct {
	HSTS                      HSTS `yaml:"hsts" plan:"Headers.HSTS"`
	CSP                       CSP  `yaml:"csp" plan:"Headers.CSP"`
	HeaderValues              `yaml:",inline"`
	Modes                     map[string]string `yaml:"modes" plan:"Headers.Modes[*]"`
	Routes                    []HeaderRoute     `yaml:"routes" plan:"Headers.Routes"`
	Cookies                   []CookieRule      `yaml:"cookies" plan:"Headers.Cookies"`
	InsecureNoCookieHardening bool              `yaml:"insecure_no_cookie_hardening" plan:"Headers.InsecureNoCookieHardening"`
}

// HSTS is `headers.hsts`.
type HSTS struct {
	// MaxAge in seconds. Default 63072000 (two years).
	MaxAge            int   `yaml:"max_age" plan:"Headers.HSTS.MaxAge"`
	IncludeSubDomains *bool `yaml:"include_subdomains" plan:"Headers.HSTS.ExcludeSubDomains"`
	Preload           bool  `yaml:"preload" plan:"Headers.HSTS.Preload"`
	InsecureDisable   bool  `yaml:"insecure_disable" plan:"Headers.HSTS.InsecureDisable"`
}

// CSP is `headers.csp`.
type CSP struct {
	// Directives merge over the default policy; a value is a string of
	// space-separated sources or a list.
	Directives      map[string]Sources `yaml:"directives" plan:"Headers.CSP.Directives[*]"`
	Replace         bool               `yaml:"replace" plan:"Headers.CSP.Replace"`
	ReportOnly      bool               `yaml:"report_only" plan:"Headers.CSP.ReportOnly"`
	Nonce           Nonce              `yaml:"nonce" plan:"Headers.CSP.Nonce"`
	Report          Report             `yaml:"report" plan:"Headers.CSP.Report"`
	InsecureDisable bool               `yaml:"insecure_disable" plan:"Headers.CSP.InsecureDisable"`
}

// Nonce is `headers.csp.nonce`.
type Nonce struct {
	Enabled       bool     `yaml:"enabled" plan:"Headers.CSP.Nonce.Enabled"`
	Directives    []string `yaml:"directives" plan:"Headers.CSP.Nonce.Directives[#]"`
	RequestHeader string   `yaml:"request_header" plan:"Headers.CSP.Nonce.RequestHeader"`
	InjectHTML    bool     `yaml:"inject_html" plan:"Headers.CSP.Nonce.InjectHTML"`
}

// Report is `headers.csp.report`.
type Report struct {
	Enabled bool   `yaml:"enabled" plan:"Headers.CSP.Report.Enabled"`
	Path    string `yaml:"path" plan:"Headers.CSP.Report.Path"`
}

// HeaderValues are the single-value headers of the policy; "off" removes
// one.
type HeaderValues struct {
	FrameOptions              string `yaml:"frame_options" plan:"Headers.FrameOptions"`
	ReferrerPolicy            string `yaml:"referrer_policy" plan:"Headers.ReferrerPolicy"`
	PermissionsPolicy         string `yaml:"permissions_policy" plan:"Headers.PermissionsPolicy"`
	CrossOriginOpenerPolicy   string `yaml:"cross_origin_opener_policy" plan:"Headers.CrossOriginOpenerPolicy"`
	CrossOriginResourcePolicy string `yaml:"cross_origin_resource_policy" plan:"Headers.CrossOriginResourcePolicy"`
	CrossOriginEmbedderPolicy string `yaml:"cross_origin_embedder_policy" plan:"Headers.CrossOriginEmbedderPolicy"`
	OriginAgentCluster        string `yaml:"origin_agent_cluster" plan:"Headers.OriginAgentCluster"`
	PermittedCrossDomain      string `yaml:"permitted_cross_domain_policies" plan:"Headers.PermittedCrossDomainPolicies"`
	DNSPrefetchControl        string `yaml:"dns_prefetch_control" plan:"Headers.DNSPrefetchControl"`
}

// RouteHeaderValues are the same keys in a route, which set the route's
// fields: a plan tag is an absolute path, so the route needs its own. The
// two types convert into each other (the tags aside, they are identical).
type RouteHeaderValues struct {
	FrameOptions              string `yaml:"frame_options" plan:"Headers.Routes[#].FrameOptions"`
	ReferrerPolicy            string `yaml:"referrer_policy" plan:"Headers.Routes[#].ReferrerPolicy"`
	PermissionsPolicy         string `yaml:"permissions_policy" plan:"Headers.Routes[#].PermissionsPolicy"`
	CrossOriginOpenerPolicy   string `yaml:"cross_origin_opener_policy" plan:"Headers.Routes[#].CrossOriginOpenerPolicy"`
	CrossOriginResourcePolicy string `yaml:"cross_origin_resource_policy" plan:"Headers.Routes[#].CrossOriginResourcePolicy"`
	CrossOriginEmbedderPolicy string `yaml:"cross_origin_embedder_policy" plan:"Headers.Routes[#].CrossOriginEmbedderPolicy"`
	OriginAgentCluster        string `yaml:"origin_agent_cluster" plan:"Headers.Routes[#].OriginAgentCluster"`
	PermittedCrossDomain      string `yaml:"permitted_cross_domain_policies" plan:"Headers.Routes[#].PermittedCrossDomainPolicies"`
	DNSPrefetchControl        string `yaml:"dns_prefetch_control" plan:"Headers.Routes[#].DNSPrefetchControl"`
}

// HeaderRoute is one entry of `headers.routes`.
type HeaderRoute struct {
	Prefix     string             `yaml:"prefix" plan:"Headers.Routes[#].Prefix"`
	CSP        map[string]Sources `yaml:"csp" plan:"Headers.Routes[#].CSP[*]"`
	CSPReplace bool               `yaml:"csp_replace" plan:"Headers.Routes[#].CSPReplace"`
	// CSPReportOnly overrides csp.report_only for the route.
	CSPReportOnly     *bool `yaml:"csp_report_only" plan:"Headers.Routes[#].CSPReportOnly"`
	RouteHeaderValues `yaml:",inline"`
}

// CookieRule is one entry of `headers.cookies`.
type CookieRule struct {
	Name             string `yaml:"name" plan:"Headers.Cookies[#].Name"`
	HttpOnly         bool   `yaml:"http_only" plan:"Headers.Cookies[#].HttpOnly"`
	SameSite         string `yaml:"same_site" plan:"Headers.Cookies[#].SameSite"`
	InsecureNoSecure bool   `yaml:"insecure_no_secure" plan:"Headers.Cookies[#].InsecureNoSecure"`
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

// compileHeaders converts the section to the plan's secheaders.Policy
// and records what secheaders' own validation finds, at the keys that set
// the fields it names. serve builds the middleware from the same Policy
// with secheaders.New, which runs the same validation.
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
	if len(in.Modes) > 0 {
		pol.Modes = map[string]secheaders.Mode{}
		for k, v := range in.Modes {
			pol.Modes[k] = secheaders.Mode(v)
		}
	}
	for _, r := range in.Routes {
		pol.Routes = append(pol.Routes, secheaders.Route{Prefix: r.Prefix, CSP: sourcesMap(r.CSP),
			CSPReplace: r.CSPReplace, CSPReportOnly: r.CSPReportOnly, Headers: HeaderValues(r.RouteHeaderValues).policy()})
	}
	for _, c := range in.Cookies {
		pol.Cookies = append(pol.Cookies, secheaders.CookieRule{Name: c.Name, HttpOnly: c.HttpOnly,
			SameSite: c.SameSite, InsecureNoSecure: c.InsecureNoSecure})
	}
	l.fieldFindings("Headers", pol.Validate())
	p.Headers = pol
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
