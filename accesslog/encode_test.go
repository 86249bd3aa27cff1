package accesslog

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// slogLine is the record as log/slog's JSON handler writes it, the way the
// middleware wrote it before it had its own encoder: the reference.
func slogLine(ln *line) string {
	rec := slog.NewRecord(ln.start, slog.LevelInfo, Message, 0)
	for _, f := range ln.strs1 {
		rec.AddAttrs(slog.String(f.key, f.str))
	}
	rec.AddAttrs(slog.Int("status", ln.status), slog.Int64("bytes", ln.bytes), slog.Float64("duration_ms", float64(ln.durationUS)/1e3))
	for _, f := range ln.strs2 {
		rec.AddAttrs(slog.String(f.key, f.str))
	}
	if ln.aborted {
		rec.AddAttrs(slog.Bool("aborted", true))
	}
	rec.AddAttrs(ln.extra...)
	var b bytes.Buffer
	slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: replaceAttr}).Handle(context.Background(), rec)
	return b.String()
}

func testLine(s string) *line {
	return &line{
		start:  time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("X", 3600)),
		strs1:  [7]recField{{"request_id", s}, {"client_ip", "203.0.113.9"}, {"method", s}, {"host", s}, {"path", s}, {"query", s}, {"proto", s}},
		status: 200, bytes: 304, durationUS: 123,
		strs2: [3]recField{{"user_agent", s}, {"referer", ""}, {"tls_version", "TLS1.3"}},
	}
}

func encodeString(ln *line) string {
	var l Logger
	return string(l.encode(nil, ln))
}

// TestEncodeMatchesSlog holds the hand-written encoder to the slog handler
// it replaced, on the values that log injection and display tricks use.
func TestEncodeMatchesSlog(t *testing.T) {
	values := []string{
		"", "plain", `quote " backslash \ end`, "line\nbreak\rcr\ttab", "\x00\x01\x1b[31m\x1f", "\x7f",
		"\u2028\u2029", "\xff\xfe", "caf\u00e9 \u202e \U0001F600", "<script>&amp;</script>", "a\xc3", "\xe2\x80",
		`{"time":"forged","msg":"x"}`, strings.Repeat("x", 3000),
	}
	for _, v := range values {
		ln := testLine(v)
		if got, want := encodeString(ln), slogLine(ln); got != want {
			t.Errorf("value %q:\n got: %s\nwant: %s", v, got, want)
		}
	}
	for _, tm := range []time.Time{time.Unix(0, 0), time.Date(999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Now()} {
		ln := testLine("x")
		ln.start = tm
		if got, want := encodeString(ln), slogLine(ln); got != want {
			t.Errorf("time %v:\n got: %s\nwant: %s", tm, got, want)
		}
	}
	for _, us := range []int64{0, 1, 10, 100, 999, 1000, 1001, 1010, 1100, 12500, 123456789, 987654321012, 3155760000000000, -500, -1234567} {
		ln := testLine("x")
		ln.durationUS = us
		if got, want := encodeString(ln), slogLine(ln); got != want {
			t.Errorf("duration %d µs:\n got: %s\nwant: %s", us, got, want)
		}
	}
	for _, f := range []float64{0, 0.001, 1, 12.5, 123456.789, 1e-7, 1e21, 5e-324, -0.5} {
		if got, want := string(appendFloat(nil, f)), slogFloat(f); got != want {
			t.Errorf("float %v: %s, slog writes %s", f, got, want)
		}
	}
	extras := [][]slog.Attr{
		{slog.String("ratelimit", "pass"), slog.String("ratelimit_zone", "z\n"), slog.Int64("ratelimit_delay_ms", -3)},
		{slog.Bool("x", false), slog.Uint64("u", math.MaxUint64), slog.Duration("d", 1500*time.Millisecond), slog.Float64("f", 2.5)},
		{slog.String("k\"ey\n", "v")},
		// Kinds the encoder leaves to slog.
		{slog.Time("t", time.Unix(1, 0)), slog.Any("a", []int{1}), slog.Group("g", "k", 1), slog.Float64("nan", math.NaN())},
		{slog.String("", "empty key"), slog.Attr{}},
		{slog.Time("time", time.Unix(2, 0)), slog.Any("level", slog.LevelWarn)},
	}
	for _, ex := range extras {
		for _, aborted := range []bool{false, true} {
			ln := testLine("x")
			ln.extra, ln.aborted = ex, aborted
			if got, want := encodeString(ln), slogLine(ln); got != want {
				t.Errorf("extras %v:\n got: %s\nwant: %s", ex, got, want)
			}
		}
	}
}

// FuzzEncodeMatchesSlog: for any request-controlled string, the line is
// byte for byte the slog handler's, so it stays one valid JSON line.
func FuzzEncodeMatchesSlog(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\xff", "\u2028", `"}`, "\x00"} {
		f.Add(s, "k")
	}
	f.Fuzz(func(t *testing.T, s, key string) {
		ln := testLine(s)
		ln.extra = []slog.Attr{slog.String(key, s)}
		if got, want := encodeString(ln), slogLine(ln); got != want {
			t.Fatalf("got:  %s\nwant: %s", got, want)
		}
	})
}

// slogFloat is f as log/slog's JSON handler writes it.
func slogFloat(f float64) string {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key != "f" {
			return slog.Attr{}
		}
		return a
	}})).Info("", "f", f)
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), `{"f":`), "}\n")
}

// The duration is rounded to the microsecond as math.Round rounds.
func TestMicroseconds(t *testing.T) {
	for _, d := range []time.Duration{0, 499, 500, 501, 1499, 1500, 123456789, -499, -500, -1500} {
		if got, want := microseconds(d), int64(math.Round(float64(d)/1e3)); got != want {
			t.Errorf("microseconds(%d) = %d, math.Round gives %d", d, got, want)
		}
	}
}

// FuzzMillisMatchesFloat: the duration written without floating point is
// what the float formatting (and so log/slog) writes, for any duration
// under a century.
func FuzzMillisMatchesFloat(f *testing.F) {
	for _, us := range []int64{0, 1, 999, 1000, 123456789, -500} {
		f.Add(us)
	}
	f.Fuzz(func(t *testing.T, us int64) {
		const century = 3155760000000000 // µs
		if us > century || us < -century {
			t.Skip()
		}
		if got, want := string(appendMillis(nil, us)), string(appendFloat(nil, float64(us)/1e3)); got != want {
			t.Fatalf("%d µs: %s, want %s", us, got, want)
		}
	})
}
