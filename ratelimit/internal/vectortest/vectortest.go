// Package vectortest replays ratelimit/testdata/vectors.json against a
// Limiter, so the in-memory and shared implementations are held to the same
// declared outcomes.
package vectortest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/seclog"
)

// File is the vectors file's layout.
type File struct {
	Vectors []Vector `json:"vectors"`
}

// Vector is one schedule.
type Vector struct {
	Name string `json:"name"`
	// MemoryOnly marks vectors about in-memory zone capacity.
	MemoryOnly bool `json:"memory_only"`
	Zones      []struct {
		Name string `json:"name"`
		Rate string `json:"rate"`
		Size string `json:"size"`
	} `json:"zones"`
	Limits []ratelimitLimit `json:"limits"`
	Steps  []Step           `json:"steps"`
}

type ratelimitLimit struct {
	Zone    string `json:"zone"`
	Burst   int    `json:"burst"`
	NoDelay bool   `json:"nodelay"`
	Delay   int    `json:"delay"`
}

// Step is n requests at clock value At.
type Step struct {
	At      int64  `json:"at"`
	Key     string `json:"key"`
	N       int    `json:"n"`
	Want    string `json:"want"`
	DelayMs int64  `json:"delay_ms"`
}

// Load reads the vectors file at path.
func Load(t testing.TB, path string) []Vector {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f.Vectors
}

// Options builds the limiter options of v: zones keyed by header X-Key, one
// rule "/" applying v's limits, the clock read from *now. zone, if not
// nil, may adjust each zone (for example to make it shared).
func Options(v Vector, now *int64, zone func(name string, z *ratelimit.Zone)) ratelimit.Options {
	opts := ratelimit.Options{
		Zones: map[string]ratelimit.Zone{},
		Now:   func() int64 { return *now },
		Log:   seclog.New(slog.New(slog.DiscardHandler)),
	}
	for _, z := range v.Zones {
		zo := ratelimit.Zone{Key: "header:X-Key", Rate: must(ratelimit.ParseRate(z.Rate)), Size: must(ratelimit.ParseSize(z.Size))}
		if zone != nil {
			zone(z.Name, &zo)
		}
		opts.Zones[z.Name] = zo
	}
	ru := ratelimit.Rule{Prefix: "/"}
	for _, l := range v.Limits {
		ru.Limits = append(ru.Limits, ratelimit.Limit{Zone: l.Zone, Burst: l.Burst, NoDelay: l.NoDelay, Delay: l.Delay})
	}
	opts.Rules = []ratelimit.Rule{ru}
	return opts
}

// must returns v, or panics on the error of a vector file that does not
// parse (the files are fixed test data).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Run replays v's steps against l, whose clock reads *now.
func Run(t *testing.T, v Vector, l *ratelimit.Limiter, now *int64) {
	t.Helper()
	for si, s := range v.Steps {
		n := max(s.N, 1)
		for i := 0; i < n; i++ {
			*now = s.At
			r := httptest.NewRequest("GET", "/x", nil)
			if s.Key != "" {
				r.Header.Set("X-Key", s.Key)
			}
			d, _ := l.Check(r)
			where := fmt.Sprintf("step %d (at %d ms, key %q, request %d of %d)", si, s.At, s.Key, i+1, n)
			if got := d.Action.String(); got != s.Want {
				t.Fatalf("%s: got %s (zone %q), want %s", where, got, d.Zone, s.Want)
			}
			if s.DelayMs != 0 && d.Delay != time.Duration(s.DelayMs)*time.Millisecond {
				t.Fatalf("%s: delay %v, want %d ms", where, d.Delay, s.DelayMs)
			}
		}
	}
}
