package config

import (
	"fmt"

	"github.com/rampart-dev/rampart/proxy"
)

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
