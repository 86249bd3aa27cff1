package auth

import (
	"net/http"
	"strings"
)

// IsNavigation reports whether r is a browser loading a page, which is
// sent to the login page, rather than a script or an API client, which is
// answered 401 with a problem document it can act on. Fetch Metadata
// decides when the browser sent it (Sec-Fetch-Mode: navigate); an older
// browser is recognised by a GET or HEAD that accepts HTML.
func IsNavigation(r *http.Request) bool {
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			media, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(media), "text/html") {
				return true
			}
		}
	}
	return false
}

// crossSiteNavigation reports whether r is a top-level navigation from
// another site (a link in an e-mail, a search result): the browser sent
// no SameSite=Strict cookie with it, so having no session proves nothing.
// The answer is a page that navigates again from this site, which the
// browser sends with the cookies (see bounce).
func crossSiteNavigation(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" &&
		r.Header.Get("Sec-Fetch-Site") == "cross-site" &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead)
}
