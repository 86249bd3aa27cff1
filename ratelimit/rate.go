package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Rate is a request rate in milli-requests per second, the unit nginx
// counts in: 10r/s is 10000, 30r/m is 500. nginx stores r/m rates rounded
// down (r*1000/60), so 1r/m is 16, one request per 62.5 s, and that is
// what it enforces; PerMinute and ParseRate round the same way.
type Rate int64

// MaxRate is the fastest rate a zone may have, 1000000r/s. The zones'
// arithmetic (rate times milliseconds, see drained) is proved within
// int64 up to it.
const MaxRate Rate = 1_000_000 * 1000

// PerSecond is n requests per second (nginx "Nr/s"). A negative n, or one
// past MaxRate, gives a rate Validate refuses.
func PerSecond(n int64) Rate { return Rate(min(max(n, -1), int64(MaxRate)/1000+1) * 1000) }

// PerMinute is n requests per minute (nginx "Nr/m"), rounded down to a
// whole milli-request per second as nginx does. A negative n, or one past
// MaxRate, gives a rate Validate refuses.
func PerMinute(n int64) Rate { return Rate(min(max(n, -1), int64(MaxRate)*60/1000+60) * 1000 / 60) }

// Both clamp n before multiplying: an int64 product that wraps can land
// inside the valid range, making a typo a valid, wrong limit.

// ParseRate parses an nginx rate such as "10r/s" or "30r/m", exactly as
// nginx reads it (see Rate). The number must be a positive decimal integer
// without sign or spaces, at most 1000000, and the result at least 1 (a
// rate of 0 would never let anything through and divides by zero in the
// delay formula).
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(s, "r/")
	if !ok {
		return 0, fmt.Errorf(`%q is not a rate such as "10r/s" or "30r/m"`, s)
	}
	var per func(int64) Rate
	switch unit {
	case "s":
		per = PerSecond
	case "m":
		per = PerMinute
	default:
		return 0, fmt.Errorf(`%q: the unit must be "r/s" or "r/m"`, s)
	}
	n, err := parseDecimal(num)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if n > 1_000_000 {
		return 0, fmt.Errorf("%q: at most 1000000 requests per unit", s)
	}
	rate := per(n)
	if rate < 1 {
		return 0, fmt.Errorf("%q: the rate must be at least 1r/m", s)
	}
	return rate, nil
}

// String returns the rate in nginx's form: "Nr/s" when it is a whole
// number of requests per second, else "Nr/m" with the N that ParseRate
// reads back as this rate (for every rate ParseRate or PerMinute
// returns). A rate out of Validate's range is written in milli-requests.
func (r Rate) String() string {
	switch {
	case r < 1 || r > MaxRate:
		return strconv.FormatInt(int64(r), 10) + " milli-requests/s"
	case r%1000 == 0:
		return strconv.FormatInt(int64(r)/1000, 10) + "r/s"
	}
	// PerMinute(n) = floor(n*1000/60), so n*1000/60 - 1 < r <= n*1000/60
	// and r*60/1000 lies in (n-0.06, n]: its ceiling is n.
	return strconv.FormatInt((int64(r)*60+999)/1000, 10) + "r/m"
}

// ParseSize parses an nginx size such as "10m", "512k" or "65536" (bytes) and
// returns it in bytes. Units are k and m (either case), powers of 1024, as in
// nginx's ngx_parse_size; g is not accepted by nginx for zone sizes and is not
// here either.
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New(`the size is empty; write one such as "10m" or "512k"`)
	}
	t, mult := s, int64(1)
	switch t[len(t)-1] {
	case 'k', 'K':
		mult = 1024
		t = t[:len(t)-1]
	case 'm', 'M':
		mult = 1024 * 1024
		t = t[:len(t)-1]
	}
	n, err := parseDecimal(t)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// parseDecimal accepts only ASCII digits (no sign, no spaces, no "0x"),
// at most 12 of them, so that nothing surprising slips through a config.
func parseDecimal(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	if len(s) > 12 {
		return 0, errors.New("number too large")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("invalid number " + strconv.Quote(s))
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
