package metrics

import (
	"fmt"
	"net/http"

	"github.com/rampart-dev/rampart/reqpath"
)

// RouteByPrefix returns a route function naming each request by the
// longest of prefixes it falls under, as every rampart rule matches
// (reqpath.Prefix: the canonical path, segment by segment, ignoring ASCII
// case, so "/api" covers "/API/x" and "//api/x", never "/apiary"). The
// name is the prefix in its matched form (reqpath.Prefix.String: "/" for
// the root, no trailing slash), so "/api" and "/api/" are one route. A
// request under none of them, or whose path has no canonical form, is
// "other". The label values are thus the configured prefixes and "other":
// never the path a client sent.
//
// The gateway passes the prefixes of its rules (rate limits, header
// routes, access rules); RouteByPrefix reads the path reqpath's Decide
// recorded, so it belongs after it in the pipeline.
func RouteByPrefix(prefixes []string) (func(*http.Request) string, error) {
	var ps []reqpath.Prefix
	seen := map[string]bool{}
	for i, s := range prefixes {
		p, err := reqpath.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("metrics: prefix %d: %w", i, err)
		}
		if !seen[p.String()] {
			seen[p.String()] = true
			ps = append(ps, p)
		}
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return func(r *http.Request) string {
		c, err := reqpath.FromRequest(r)
		if err != nil {
			return Other
		}
		if i := reqpath.Longest(ps, c); i >= 0 {
			return names[i]
		}
		return Other
	}, nil
}
