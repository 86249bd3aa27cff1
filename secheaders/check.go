package secheaders

import "strings"

// allowed values of the enumerated headers (lower case).
var (
	frameOptionsValues = []string{"deny", "sameorigin"}
	referrerValues     = []string{"no-referrer", "no-referrer-when-downgrade", "origin",
		"origin-when-cross-origin", "same-origin", "strict-origin",
		"strict-origin-when-cross-origin", "unsafe-url"}
	coopValues  = []string{"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}
	corpValues  = []string{"same-origin", "same-site", "cross-origin"}
	coepValues  = []string{"require-corp", "credentialless", "unsafe-none"}
	oacValues   = []string{"?1", "?0"}
	xpcdpValues = []string{"none", "master-only", "by-content-type", "by-ftp-filename", "all"}
)

// checkHeaders validates the single-value headers of a Policy or Route;
// prefix is "" or "routes[i].".
func checkHeaders(prefix string, h Headers, ce *configErrors) {
	enum := func(field, v string, allowed []string) {
		if v == "" || strings.EqualFold(v, Off) {
			return
		}
		lv := strings.ToLower(strings.TrimSpace(v))
		for _, a := range allowed {
			if lv == a {
				return
			}
		}
		ce.errf(prefix+field, "must be one of %s or off, got %q", strings.Join(allowed, ", "), v)
	}
	if strings.HasPrefix(strings.ToLower(h.FrameOptions), "allow-from") {
		ce.errf(prefix+"frame_options", "ALLOW-FROM is ignored by current browsers (hint: allow framing with csp frame-ancestors and frame_options: off)")
	} else {
		enum("frame_options", h.FrameOptions, frameOptionsValues)
	}
	if h.ReferrerPolicy != "" && !strings.EqualFold(h.ReferrerPolicy, Off) {
		// A comma-separated list is allowed: browsers use the last value
		// they know, so older ones can be given a fallback.
		for v := range strings.SplitSeq(h.ReferrerPolicy, ",") {
			enum("referrer_policy", strings.TrimSpace(v), referrerValues)
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "unsafe-url", "no-referrer-when-downgrade":
				ce.warnf(prefix+"referrer_policy", "%s sends full URLs (paths, query tokens) to other sites", v)
			}
		}
	}
	enum("cross_origin_opener_policy", h.CrossOriginOpenerPolicy, coopValues)
	enum("cross_origin_resource_policy", h.CrossOriginResourcePolicy, corpValues)
	enum("cross_origin_embedder_policy", h.CrossOriginEmbedderPolicy, coepValues)
	enum("origin_agent_cluster", h.OriginAgentCluster, oacValues)
	enum("permitted_cross_domain_policies", h.PermittedCrossDomainPolicies, xpcdpValues)
	enum("dns_prefetch_control", h.DNSPrefetchControl, []string{"on", "off"})
	if v := h.PermissionsPolicy; v != "" && !strings.EqualFold(v, Off) {
		if !validFieldValue(v) {
			ce.errf(prefix+"permissions_policy", "contains control characters")
		} else {
			for item := range strings.SplitSeq(v, ",") {
				feat, allow, ok := strings.Cut(strings.TrimSpace(item), "=")
				if !ok || feat == "" || allow == "" {
					ce.errf(prefix+"permissions_policy", "%q is not feature=allowlist (hint: camera=(), fullscreen=(self))", strings.TrimSpace(item))
				}
			}
		}
	}
	if strings.EqualFold(h.CrossOriginResourcePolicy, "cross-origin") {
		ce.warnf(prefix+"cross_origin_resource_policy", "any site can embed these responses")
	}
	if strings.EqualFold(h.CrossOriginOpenerPolicy, "unsafe-none") {
		ce.warnf(prefix+"cross_origin_opener_policy", "cross-origin windows keep a handle on this page")
	}
}

// validFieldValue rejects control characters, which could split a header.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
