package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
)

// The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-
// ratelimit-headers-10: Structured Field Lists whose items are Strings (the
// policy name, here the zone name) with Integer parameters.
//
//	RateLimit-Policy: "api";q=21;w=2
//	RateLimit: "api";r=0;t=1
//
// An nginx leaky bucket is mapped onto the draft's quota as follows:
//   - q (quota) = burst+1: the requests a client with an empty bucket can
//     send back to back;
//   - w (window) = the seconds a full bucket takes to drain, burst/rate, at
//     least the time of one request (1/rate), rounded up;
//   - r (remaining) = the requests that would pass now without delay or
//     rejection if sent back to back: (burst*1000-excess)/1000, 0 on reject;
//   - t (reset) = seconds until one more request becomes available, rounded
//     up; 0 when the quota is full. On a rejection it equals Retry-After, so
//     Retry-After never points before the reset (draft section 6).
//
// Zone names are restricted (validName) to characters that need no escape
// in an sf-string.

func policyField(lims []limit) string {
	var b strings.Builder
	for i, lim := range lims {
		if i > 0 {
			b.WriteString(", ")
		}
		burst := lim.burst / 1000
		w := ceilDiv(max(burst, 1)*1000*1000/lim.z.rate, 1000)
		b.WriteByte('"')
		b.WriteString(lim.z.name)
		b.WriteString(`";q=`)
		b.WriteString(strconv.FormatInt(burst+1, 10))
		b.WriteString(";w=")
		b.WriteString(strconv.FormatInt(max(w, 1), 10))
	}
	return b.String()
}

// rateLimitField returns the RateLimit value for the zones that checked the
// request.
func rateLimitField(d *Decision) string {
	var b strings.Builder
	for i := 0; i < d.n; i++ {
		zr := &d.zones[i]
		if !zr.active {
			continue
		}
		lim := &d.rule.limits[i]
		var r, t int64
		switch {
		case d.Action == Reject && lim.z.name == d.Zone:
			r, t = 0, int64(d.RetryAfter)
		default:
			r = max(0, (lim.burst-zr.excess)/1000)
			if r < lim.burst/1000 {
				next := lim.burst - (r+1)*1000 // excess at which one more passes
				t = max(1, ceilDiv(ceilDiv((zr.excess-next)*1000, lim.z.rate), 1000))
			}
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('"')
		b.WriteString(lim.z.name)
		b.WriteString(`";r=`)
		b.WriteString(strconv.FormatInt(r, 10))
		b.WriteString(";t=")
		b.WriteString(strconv.FormatInt(t, 10))
	}
	return b.String()
}

func setRateLimitHeaders(h http.Header, d *Decision) {
	if d.rule == nil || d.n == 0 {
		return
	}
	if v := rateLimitField(d); v != "" {
		h.Set("RateLimit-Policy", d.rule.policy)
		h.Set("RateLimit", v)
	}
}
