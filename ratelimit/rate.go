package ratelimit

import (
	"errors"
	"strconv"
	"strings"
)

// ParseRate parses an nginx rate such as "10r/s" or "30r/m" and returns it in
// milli-requests per second, exactly as nginx stores it: r*1000/scale with
// integer division, scale being 1 for r/s and 60 for r/m. So "1r/m" is 16
// (one request per 62.5 s, not 60 s), which is what nginx enforces too.
//
// The number must be a positive decimal integer without sign or spaces, and
// the result must be at least 1 (a rate of 0 would never let anything
// through and divides by zero in the delay formula).
func ParseRate(s string) (int64, error) {
	num, unit, ok := strings.Cut(s, "r/")
	if !ok {
		return 0, errors.New(`must look like "10r/s" or "30r/m"`)
	}
	var scale int64
	switch unit {
	case "s":
		scale = 1
	case "m":
		scale = 60
	default:
		return 0, errors.New(`unit must be "r/s" or "r/m"`)
	}
	n, err := parseDecimal(num)
	if err != nil {
		return 0, err
	}
	if n > 1_000_000 {
		return 0, errors.New("must be at most 1000000 requests per unit")
	}
	rate := n * 1000 / scale
	if rate < 1 {
		return 0, errors.New("must be at least 1r/m")
	}
	return rate, nil
}

// FormatRate is the inverse of ParseRate for display: milli-requests per
// second as "Nr/s" when whole, else as "Nr/m" (rounded down).
func FormatRate(rate int64) string {
	if rate%1000 == 0 {
		return strconv.FormatInt(rate/1000, 10) + "r/s"
	}
	return strconv.FormatInt(rate*60/1000, 10) + "r/m"
}

// ParseSize parses an nginx size such as "10m", "512k" or "65536" (bytes) and
// returns it in bytes. Units are k and m (either case), powers of 1024, as in
// nginx's ngx_parse_size; g is not accepted by nginx for zone sizes and is not
// here either.
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("must not be empty")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1024
		s = s[:len(s)-1]
	case 'm', 'M':
		mult = 1024 * 1024
		s = s[:len(s)-1]
	}
	n, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if n > (1<<40)/mult {
		return 0, errors.New("is too large")
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
