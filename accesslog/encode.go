package accesslog

import (
	"bytes"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The record is written by hand into a pooled buffer instead of through
// log/slog's JSON handler, which spent more than half of the middleware's
// time on attribute plumbing. The line is byte for byte what the handler
// (with replaceAttr) writes: same field order, same escaping, same number
// formats. TestEncodeMatchesSlog and FuzzEncodeMatchesSlog hold the two to
// each other. A record carrying an added attribute of a kind the encoder
// does not write (time, group, any value, LogValuer) goes through the slog
// handler instead, so every record is still written.
//
// The escaping is what keeps the log injection-safe: every string value
// and key goes through appendString, which escapes '"', '\\' and every
// control character below U+0020 (CR and LF included), escapes U+2028 and
// U+2029, and replaces invalid UTF-8, so a value can never end the string,
// the object or the line.

// recField is one fixed field of the record, in the order written.
type recField struct {
	key string
	str string
}

// linePool recycles line buffers; lines longer than maxPooledLine are not
// kept, so one huge record does not pin its buffer.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledLine = 16 << 10

// invalidUTF8 is what log/slog writes for a byte that is not UTF-8: the
// U+FFFD character itself with the JSON v2 encoder, its \ufffd escape
// before. It is learnt from slog once, so the two paths agree under any
// toolchain.
var invalidUTF8 = func() string {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key != "k" {
			return slog.Attr{}
		}
		return a
	}})).Info("", "k", "\xff")
	// b is {"k":"…"}\n
	out := b.String()
	if len(out) > len(`{"k":""}`+"\n") {
		return out[len(`{"k":"`) : len(out)-len(`"}`+"\n")]
	}
	return `\ufffd`
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as log/slog does.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, invalidUTF8...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendFloat appends f as encoding/json (and so log/slog) writes a
// float64. NaN and infinities have no JSON form; simpleValue keeps them
// off this path.
func appendFloat(buf []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(buf)
		if n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

// simpleAttr reports whether the encoder writes a exactly as the slog
// handler would: a non-empty key (the handler drops some empty ones) and a
// string, integer, finite float, bool or duration value, none of which
// replaceAttr changes.
func simpleAttr(a slog.Attr) bool {
	if a.Key == "" {
		return false
	}
	switch a.Value.Kind() {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		return true
	case slog.KindFloat64:
		f := a.Value.Float64()
		return !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return false
}

// appendAttr appends ,"key":value for a simple attribute.
func appendAttr(buf []byte, a slog.Attr) []byte {
	buf = append(buf, ',')
	buf = appendString(buf, a.Key)
	buf = append(buf, ':')
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		buf = appendString(buf, v.String())
	case slog.KindInt64:
		buf = strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		buf = strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindFloat64:
		buf = appendFloat(buf, v.Float64())
	case slog.KindBool:
		buf = strconv.AppendBool(buf, v.Bool())
	case slog.KindDuration:
		buf = strconv.AppendInt(buf, int64(v.Duration()), 10)
	}
	return buf
}

// appendTime appends t in UTC as replaceAttr formats it
// ("2006-01-02T15:04:05.000Z07:00", always ending in Z): by hand, since
// time.Time.AppendFormat is a tenth of the record's cost.
func appendTime(buf []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
	}
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(buf,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendField appends ,"key":"value"; keys are fixed ASCII names that need
// no escaping.
func appendField(buf []byte, f recField) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, f.key...)
	buf = append(buf, '"', ':')
	return appendString(buf, f.str)
}

// appendMillis appends us microseconds in milliseconds as appendFloat
// writes float64(us)/1e3, for any duration shorter than a century (whose
// shortest decimal form has at most three decimals), without strconv's
// floating-point formatting and its tables.
func appendMillis(buf []byte, us int64) []byte {
	if us < 0 {
		buf = append(buf, '-')
		us = -us
	}
	buf = strconv.AppendInt(buf, us/1000, 10)
	f := us % 1000
	if f == 0 {
		return buf
	}
	buf = append(buf, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	for buf[len(buf)-1] == '0' {
		buf = buf[:len(buf)-1]
	}
	return buf
}

// microseconds is d rounded to the microsecond, half away from zero (as
// math.Round).
func microseconds(d time.Duration) int64 {
	if d < 0 {
		return -microseconds(-d)
	}
	return (int64(d) + 500) / 1000
}

// line is an access-log record before encoding.
type line struct {
	start      time.Time
	strs1      [7]recField // request_id … proto
	status     int
	bytes      int64
	durationUS int64       // written in milliseconds, to the microsecond
	strs2      [3]recField // user_agent, referer, tls_version
	aborted    bool
	extra      []slog.Attr
}

// appendLine appends the record as one JSON line.
func appendLine(buf []byte, l *line) []byte {
	buf = append(buf, `{"time":"`...)
	buf = appendTime(buf, l.start)
	buf = append(buf, `","msg":"`+Message+`"`...)
	for _, f := range l.strs1 {
		buf = appendField(buf, f)
	}
	buf = append(buf, `,"status":`...)
	buf = strconv.AppendInt(buf, int64(l.status), 10)
	buf = append(buf, `,"bytes":`...)
	buf = strconv.AppendInt(buf, l.bytes, 10)
	buf = append(buf, `,"duration_ms":`...)
	buf = appendMillis(buf, l.durationUS)
	for _, f := range l.strs2 {
		buf = appendField(buf, f)
	}
	if l.aborted {
		buf = append(buf, `,"aborted":true`...)
	}
	for _, a := range l.extra {
		buf = appendAttr(buf, a)
	}
	return append(buf, '}', '\n')
}
