// Package httperr writes the generic error responses rampart sends to
// clients: a short HTML page, or an RFC 9457 application/problem+json body
// when the client prefers JSON.
//
// What goes on the wire is deliberately generic: the status code, its
// standard text and, when the caller has one, a request id the operator can
// grep for. Details (upstream addresses, error strings, stack traces) belong
// in the server-side log only, never in the response. Every rampart
// middleware that rejects a request writes through this package so that a
// 413, 429, 502 or 500 looks the same whichever stage produced it.
package httperr

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// Problem is an RFC 9457 problem document. Only fields that are safe to show
// to any client are present.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Write sends a generic error response for code. detail, when not empty, is a
// client-safe sentence (for example "retry in 3 seconds"); it must never hold
// internal error text. requestID may be empty.
//
// Write sets Content-Type, X-Content-Type-Options and Cache-Control: no-store,
// and leaves every other header already on w untouched, so security headers
// set earlier in the pipeline are kept on error responses.
func Write(w http.ResponseWriter, r *http.Request, code int, detail, requestID string) {
	write(w, r, code, detail, requestID, WantsJSON(r))
}

// WriteJSON is Write answering the problem document whatever the client
// accepts: for endpoints whose clients are scripts (an API's 401 tells a
// script what to do; an HTML page would not).
func WriteJSON(w http.ResponseWriter, r *http.Request, code int, detail, requestID string) {
	write(w, r, code, detail, requestID, true)
}

func write(w http.ResponseWriter, r *http.Request, code int, detail, requestID string, asJSON bool) {
	p := Problem{
		Type:      "about:blank",
		Title:     http.StatusText(code),
		Status:    code,
		Detail:    detail,
		RequestID: requestID,
	}
	if p.Title == "" {
		p.Title = "Error"
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if asJSON {
		body, _ := json.Marshal(p)
		h.Set("Content-Type", "application/problem+json")
		h.Set("Content-Length", strconv.Itoa(len(body)+1))
		w.WriteHeader(code)
		if r == nil || r.Method != http.MethodHead {
			w.Write(append(body, '\n'))
		}
		return
	}
	var b strings.Builder
	page.Execute(&b, p)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	if r == nil || r.Method != http.MethodHead {
		w.Write([]byte(b.String()))
	}
}

// WantsJSON reports whether the client asked for JSON: its Accept header
// names application/json, application/problem+json or any +json type before
// (or without) text/html. A type given q=0 is one the client refuses
// (RFC 9110 §12.5.1) and is skipped.
func WantsJSON(r *http.Request) bool {
	if r == nil {
		return false
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if refused(params) {
			continue
		}
		switch {
		case mt == "text/html" || mt == "application/xhtml+xml":
			return false
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			return true
		}
	}
	return false
}

// refused reports whether media-type parameters hold a zero weight
// ("q=0", "q=0.000").
func refused(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			v = strings.TrimRight(strings.TrimSpace(v), "0")
			return v == "" || v == "0." || v == "0"
		}
	}
	return false
}

var page = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} {{.Title}}</title></head>
<body><h1>{{.Status}} {{.Title}}</h1>{{if .Detail}}
<p>{{.Detail}}</p>{{end}}{{if .RequestID}}
<p>Request ID: <code>{{.RequestID}}</code></p>{{end}}
</body></html>
`))
