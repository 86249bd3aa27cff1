package csrf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// tokenLabel separates this use of the secret from any other HMAC or key
// derived from it, and versions the token's format.
const tokenLabel = "rampart csrf v1"

// TokenFor returns the token of session sid: base64url (unpadded) of
// HMAC-SHA256(Secret, "rampart csrf v1" || sid). It is "" when there is no
// Secret or sid is empty. The gateway calls it when it creates a session,
// whose id the request does not carry yet.
func (p *Protection) TokenFor(sid string) string {
	if len(p.secret) == 0 || sid == "" {
		return ""
	}
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte(tokenLabel))
	m.Write([]byte(sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Token returns the token of r's session (Options.SessionID), or "" when
// r has none or no Secret was given: the value to set in the readable
// cookie (see Cookie) for this origin's scripts to echo in the header.
func (p *Protection) Token(r *http.Request) string {
	if p.sessionID == nil {
		return ""
	}
	return p.TokenFor(p.sessionID(r))
}

// Cookie returns the cookie that carries token: Secure, SameSite=Strict,
// Path=/, no Domain (what the __Host- prefix demands), and not HttpOnly,
// since this origin's scripts must read it to echo it. An empty token gives
// the cookie that deletes it (at logout). It has no Max-Age: it lives as
// long as the browser session, and the gateway replaces it with each new
// session.
func (p *Protection) Cookie(token string) *http.Cookie {
	c := &http.Cookie{
		Name:     p.cookieName(),
		Value:    token,
		Path:     "/",
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
	if token == "" {
		c.MaxAge = -1
	}
	return c
}
