package config

import (
	"fmt"

	"github.com/rampart-dev/rampart/proxy"
)

// compileUpstreamResponses reads what the proxy does to the application's
// responses: URL rewriting and error interception; and checks the header
// lists of upstream (names, or prefixes written with a trailing '*').
func (l *loader) compileUpstreamResponses(f *File, p *Plan) {
	up := &p.Upstream
	up.InsecureNoRedirectRewrite = f.Upstream.InsecureNoRedirectRewrite
	if up.InsecureNoRedirectRewrite {
		l.warnf("upstream.insecure_no_redirect_rewrite", "remove it: only URLs naming the application's own address are rewritten",
			"redirects to the application's own address (http://127.0.0.1:5000/...) reach clients as the application sent them, disclosing it")
	}
	switch v := f.Upstream.InterceptErrors; v {
	case "", "debug":
		up.InterceptErrors = proxy.InterceptDebugPages
	case "all":
		up.InterceptErrors = proxy.InterceptAll
	case "off":
		up.InterceptErrors = proxy.InsecureInterceptOff
		l.warnf("upstream.intercept_errors", `remove it for the default "debug", and set DEBUG = False (FLASK_DEBUG=0) in the application`,
			"off: stack traces and debug pages of an application in debug mode reach clients, with its source code, settings and secrets")
	default:
		l.errorf("upstream.intercept_errors", `use "debug" (the default: replace stack traces and debug pages), "all" (replace every 5xx) or "off"`,
			"%q is not a mode", v)
	}
	l.compileUpstreamHeaders(f)
}

// compileUpstreamHeaders checks the header lists of upstream: names, or
// prefixes written with a trailing '*'.
func (l *loader) compileUpstreamHeaders(f *File) {
	lists := []struct {
		key   string
		names []string
	}{
		{"upstream.strip_request_headers", f.Upstream.StripRequestHeaders},
		{"upstream.remove_response_headers", f.Upstream.RemoveResponseHeaders},
	}
	for _, list := range lists {
		for i, name := range list.names {
			if msg := proxy.CheckHeaderPattern(name); msg != "" {
				l.errorf(fmt.Sprintf("%s[%d]", list.key, i), "write a header name such as X-Tenant, or a prefix ending in '*' such as X-Internal-*",
					"%q %s", name, msg)
			}
		}
	}
}
