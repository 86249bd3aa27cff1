package ban

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"
)

// AdminPath is where AdminHandler serves.
const AdminPath = "/api/bans"

// MaxAdminBanTime bounds an operator's ban: ten years, beyond which a
// time.Duration computation of the end would be meaningless anyway.
const MaxAdminBanTime = 10 * 365 * 24 * time.Hour

// AddRequest is the body of POST /api/bans.
type AddRequest struct {
	// Address is an address (its client is banned: see ParseTarget) or
	// a CIDR prefix.
	Address string `json:"address"`
	// For is the ban's length as a Go duration ("1h", "30m"); empty: the
	// jail's ban time for the offence.
	For string `json:"for,omitempty"`
	// Reason is recorded with the ban.
	Reason string `json:"reason,omitempty"`
}

// ListResponse is the body of GET /api/bans.
type ListResponse struct {
	Bans []Entry `json:"bans"`
}

// RemoveResponse is the body of DELETE /api/bans.
type RemoveResponse struct {
	Prefix  string `json:"prefix"`
	Removed bool   `json:"removed"` // a ban was in force
}

// ErrorResponse is the body of an error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// AdminHandler serves the ban API, for the admin listener (which checks
// the operator's token in front; nothing here does):
//
//	GET    /api/bans                  the bans in force (ListResponse)
//	POST   /api/bans                  ban (AddRequest, application/json) → 201 and the Entry
//	DELETE /api/bans?address=ADDR     lift the ban of an address's client or a prefix (RemoveResponse)
//
// A POST must be application/json, so a cross-site HTML form cannot make
// one. Errors are JSON (ErrorResponse) with 400, 404, 405, 415 or 500.
func AdminHandler(b *Banner) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != AdminPath {
			writeJSON(w, http.StatusNotFound, ErrorResponse{"not found"})
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			list := b.List()
			if list == nil {
				list = []Entry{}
			}
			writeJSON(w, http.StatusOK, ListResponse{Bans: list})
		case http.MethodPost:
			adminAdd(b, w, r)
		case http.MethodDelete:
			p, err := ParseTarget(r.URL.Query().Get("address"))
			if err != nil {
				writeJSON(w, http.StatusBadRequest, ErrorResponse{err.Error()})
				return
			}
			removed, err := b.Unban(r.Context(), p)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, ErrorResponse{"the ban was lifted here but the store failed: " + err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, RemoveResponse{Prefix: p.String(), Removed: removed})
		default:
			w.Header().Set("Allow", "GET, HEAD, POST, DELETE")
			writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{"method not allowed"})
		}
	})
}

func adminAdd(b *Banner, w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, ErrorResponse{"send application/json"})
		return
	}
	var req AddRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{"invalid JSON body: " + err.Error()})
		return
	}
	p, err := ParseTarget(strings.TrimSpace(req.Address))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{err.Error()})
		return
	}
	var d time.Duration
	if req.For != "" {
		if d, err = time.ParseDuration(req.For); err != nil || d <= 0 || d > MaxAdminBanTime {
			writeJSON(w, http.StatusBadRequest, ErrorResponse{`"for" must be a positive duration such as 1h or 30m, at most 87600h`})
			return
		}
	}
	reason := req.Reason
	if reason == "" {
		reason = "banned by an operator"
	}
	if len(reason) > 256 {
		reason = reason[:256]
	}
	e, err := b.Ban(r.Context(), p, d, reason)
	if errors.Is(err, ErrInvalid) {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{err.Error()})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, ErrorResponse{"the ban is in force here but the store failed: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
