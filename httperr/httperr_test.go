package httperr

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite_HTMLByDefault(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	w.Header().Set("Content-Security-Policy", "default-src 'self'")
	Write(w, r, http.StatusBadGateway, "", "req-1")
	if w.Code != 502 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w.Header().Get("Content-Security-Policy") == "" {
		t.Error("headers set earlier in the pipeline were dropped")
	}
	body := w.Body.String()
	if !strings.Contains(body, "502 Bad Gateway") || !strings.Contains(body, "req-1") {
		t.Errorf("body: %s", body)
	}
}

func TestWrite_ProblemJSONWhenAsked(t *testing.T) {
	for _, accept := range []string{"application/json", "application/problem+json", "application/vnd.api+json, */*"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		Write(w, r, http.StatusTooManyRequests, "retry in 2 seconds", "")
		if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Accept %q: Content-Type %q", accept, ct)
		}
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 429 || p.Title != "Too Many Requests" || p.Detail != "retry in 2 seconds" {
			t.Errorf("Accept %q: %+v %v", accept, p, err)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "text/html,application/json;q=0.9")
	if WantsJSON(r) {
		t.Error("a browser preferring HTML got JSON")
	}
}

func TestWriteJSON_WhateverTheClientAccepts(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	WriteJSON(w, r, http.StatusUnauthorized, "sign in", "req-2")
	var p Problem
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 401 || p.Detail != "sign in" || p.RequestID != "req-2" {
		t.Errorf("%+v %v", p, err)
	}
}

// A detail is escaped in HTML: a caller passing client input cannot inject
// markup into the error page.
func TestWrite_DetailIsEscaped(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	Write(w, r, 400, "<script>alert(1)</script>", `"><img src=x>`)
	if strings.Contains(w.Body.String(), "<script>") || strings.Contains(w.Body.String(), "<img") {
		t.Errorf("markup injected: %s", w.Body.String())
	}
}

func TestWrite_HEADHasNoBody(t *testing.T) {
	r := httptest.NewRequest("HEAD", "/", nil)
	w := httptest.NewRecorder()
	Write(w, r, 404, "", "")
	if w.Body.Len() != 0 {
		t.Errorf("HEAD body: %q", w.Body.String())
	}
}

// A panic becomes a generic 500: the panic value and stack are logged, the
// client sees neither.
func TestRecover_PanicLeaksNothing(t *testing.T) {
	var log bytes.Buffer
	h := Recover(slog.New(slog.NewJSONHandler(&log, nil)), func(*http.Request) string { return "id-7" })(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("database password is hunter2")
		}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 {
		t.Fatalf("status %d", w.Code)
	}
	if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("panic leaked to the client: %s", w.Body.String())
	}
	if !strings.Contains(log.String(), "hunter2") || !strings.Contains(log.String(), "goroutine") || !strings.Contains(log.String(), "id-7") {
		t.Errorf("panic not logged with stack and id: %s", log.String())
	}
}

func TestRecover_AbortHandlerPropagates(t *testing.T) {
	h := Recover(slog.New(slog.DiscardHandler), nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v == nil || !errors.Is(v.(error), http.ErrAbortHandler) {
			t.Errorf("recovered %v, want ErrAbortHandler re-raised", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

// After the response has started, a clean error page is impossible; the
// response is aborted rather than left looking complete.
func TestRecover_PanicAfterHeadersAborts(t *testing.T) {
	h := Recover(slog.New(slog.DiscardHandler), nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		panic("late")
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want ErrAbortHandler", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

// A handler that flushes before writing (server-sent events) has committed a
// 200 through http.ResponseController; a panic after it must abort the
// response, not write a 500 page after the stream's headers.
func TestRecover_PanicAfterFlushAborts(t *testing.T) {
	h := Recover(slog.New(slog.DiscardHandler), nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Fatal(err)
		}
		panic("late")
	}))
	w := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want ErrAbortHandler; body %q", v, w.Body.String())
		}
	}()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
}

// A type the client weighs q=0 is one it refuses: it must not be chosen.
func TestWantsJSON_ZeroWeightRefuses(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/json;q=0, text/html":      false,
		"application/json; q=0.000, text/html": false,
		"application/json;q=0.5, text/html":    true,
		"text/html;q=0, application/json":      true,
		"application/json":                     true,
		"application/json;q=1":                 true,
		"application/json;q=0.01":              true,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		if got := WantsJSON(r); got != want {
			t.Errorf("Accept %q: WantsJSON = %v, want %v", accept, got, want)
		}
	}
}

func FuzzWantsJSON(f *testing.F) {
	f.Add("application/json")
	f.Add("text/html;q=0.9, application/problem+json")
	f.Fuzz(func(t *testing.T, accept string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		WantsJSON(r)
	})
}
