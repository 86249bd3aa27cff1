package ratelimit

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/safe"
)

// Handler returns middleware enforcing l's rules on next.
//
// A rejected request is answered with the configured status (429 by
// default), Retry-After, RateLimit-Policy and RateLimit, and a generic body
// written by httperr (HTML or problem+json); the zone and key go to the
// security log only (a key taken from a header as a SHA-256 fingerprint,
// since it is usually a credential). A delayed request waits on a timer in its own
// goroutine, holding no lock; if the client goes away meanwhile, it is
// dropped without reaching next, so a waiting queue cannot be used to
// amplify load on the upstream.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Most requests fall under no rule: they pass without the
		// decision, whose few hundred bytes would otherwise be zeroed on
		// the stack of every request.
		ru, sh, ambiguous := l.governing(r)
		if ru == nil && sh == nil && !ambiguous {
			next.ServeHTTP(w, r)
			return
		}
		l.serve(w, r, next, ru, sh, ambiguous)
	})
}

// serve decides for r under the rules governing found, and answers or
// forwards it. It is Handler's except for the requests no rule governs.
//
//go:noinline
func (l *Limiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler, ru, sh *rule, ambiguous bool) {
	d, ok := l.decide(r, ru, sh, ambiguous)
	if !ok {
		next.ServeHTTP(w, r)
		return
	}
	if d.gone {
		w.WriteHeader(safe.StatusClientClosedRequest)
		return
	}
	if d.AmbiguousPath {
		httperr.Write(w, r, http.StatusBadRequest, "", requestid.FromRequest(r))
		return
	}
	// d stays on the stack: its address is only taken by copies made
	// in the branches that need one, and the hook gets it by value.
	if l.onDecision != nil {
		l.onDecision(r, d)
	}
	if d.DryRun {
		if l.headersOnAllowed {
			dc := d
			setRateLimitHeaders(w.Header(), &dc)
		}
		next.ServeHTTP(w, r)
		return
	}
	switch d.Action {
	case Reject:
		dc := d
		l.reject(w, r, &dc)
		return
	case Delay:
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			if z := l.zones[d.Zone]; z != nil {
				z.stats.abandoned.Add(1)
			}
			w.WriteHeader(safe.StatusClientClosedRequest)
			return
		}
	}
	if l.headersOnAllowed {
		dc := d
		setRateLimitHeaders(w.Header(), &dc)
	}
	next.ServeHTTP(w, r)
}

func (l *Limiter) reject(w http.ResponseWriter, r *http.Request, d *Decision) {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(d.RetryAfter))
	setRateLimitHeaders(h, d)
	detail := "Too many requests; retry in " + strconv.Itoa(d.RetryAfter) + " seconds."
	if d.RetryAfter == 1 {
		detail = "Too many requests; retry in 1 second."
	}
	if d.BackendError {
		detail = "Too many requests; retry later."
	}
	httperr.Write(w, r, l.status, detail, requestid.FromRequest(r))
}
