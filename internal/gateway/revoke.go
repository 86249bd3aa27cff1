package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/users"
)

// RevokePath is the admin API that ends every session of a user (`rampart
// user revoke`).
const RevokePath = "/api/sessions/revoke"

// RevokeRequest is what RevokePath is sent.
type RevokeRequest struct {
	User string `json:"user"`
}

// RevokeResult is its answer.
type RevokeResult struct {
	Revoked bool   `json:"revoked"`
	User    string `json:"user,omitempty"`
	Error   string `json:"error,omitempty"`
}

// RevokeHandler serves POST RevokePath for the admin listener (which
// checks the operator's token in front): every session of the user is
// ended at once, on every instance sharing the state store, through the
// login stage of the configuration in force (auth.Gate.RevokeUser). The
// body is JSON ({"user": "alice"}), which a cross-site form cannot send.
// The answers: 200 revoked; 400 a missing or malformed name; 404 a name
// the users file does not hold; 409 auth is not configured; 503 the state
// store failed (the revocation is in force on this instance only).
func (g *Gateway) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		answer := func(code int, res RevokeResult) {
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(res)
		}
		var req RevokeRequest
		switch {
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			answer(http.StatusMethodNotAllowed, RevokeResult{Error: "use POST"})
			return
		case !isJSON(r.Header.Get("Content-Type")):
			answer(http.StatusUnsupportedMediaType, RevokeResult{Error: "send Content-Type: application/json"})
			return
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			answer(http.StatusBadRequest, RevokeResult{Error: `send {"user": "NAME"}`})
			return
		}
		if err := users.CheckName(req.User); err != nil {
			answer(http.StatusBadRequest, RevokeResult{Error: safe.Clean(err.Error(), 200)})
			return
		}
		g.serve(w, r, func(gen *generation) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gate := gen.pipe.gate
				if gate == nil {
					answer(http.StatusConflict, RevokeResult{Error: "auth is not configured: rampart keeps no sessions"})
					return
				}
				err := gate.RevokeUser(r.Context(), req.User, "operator")
				switch {
				case errors.Is(err, auth.ErrUnknownUser):
					answer(http.StatusNotFound, RevokeResult{User: req.User, Error: "no such user in the users file"})
				case err != nil:
					g.logger.Error("revoking a user's sessions", "user", req.User, "err", err)
					answer(http.StatusServiceUnavailable, RevokeResult{User: req.User,
						Error: "the state store failed: the sessions are ended on this instance only; see rampart's log"})
				default:
					answer(http.StatusOK, RevokeResult{Revoked: true, User: req.User})
				}
			})
		})
	})
}
