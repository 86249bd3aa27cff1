package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Without auth there are no sessions to end: the revoke API says so. A
// request that is not a JSON POST of one name is refused before anything
// is looked up. (The revocation itself, across two instances:
// TestCluster_OperatorRevokeEndsTheUsersSessionsEverywhere.)
func TestRevokeHandler_Refusals(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	for _, c := range []struct {
		method, ctype, body string
		want                int
	}{
		{"POST", "application/json", `{"user": "alice"}`, http.StatusConflict},
		{"GET", "", "", http.StatusMethodNotAllowed},
		{"POST", "text/plain", `{"user": "alice"}`, http.StatusUnsupportedMediaType},
		{"POST", "application/json", `{"user": "alice", "all": true}`, http.StatusBadRequest},
		{"POST", "application/json", `{"user": ""}`, http.StatusBadRequest},
		{"POST", "application/json", `{"user": "a\nb"}`, http.StatusBadRequest},
		{"POST", "application/json", `[`, http.StatusBadRequest},
	} {
		req := httptest.NewRequest(c.method, RevokePath, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		rec := httptest.NewRecorder()
		h.gw.RevokeHandler().ServeHTTP(rec, req)
		if rec.Code != c.want || !strings.Contains(rec.Body.String(), `"error"`) || strings.Contains(rec.Body.String(), `"revoked":true`) {
			t.Errorf("%s %q %s: %d %s, want %d with an error", c.method, c.ctype, c.body, rec.Code, rec.Body.String(), c.want)
		}
	}
}
