package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/h2load*.txt and h2load-log.tsv are h2load 1.52's own output,
// captured on the benchmark machine: a clean run against nginx, a run where
// nginx closed every connection after 1000 requests (GOAWAY; h2load fails
// the streams in flight and stops the client), and a run against a server
// that offered only HTTP/1.1 over ALPN.

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseH2load(t *testing.T) {
	s, err := parseH2load(readTestdata(t, "h2load.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := h2Summary{Protocol: "h2", RequestsSec: 9021.67, Done: 27065, Succeeded: 27065, Status: [4]int64{27065, 0, 0, 0}}
	if s != want {
		t.Errorf("parseH2load = %+v, want %+v", s, want)
	}
	if r, want := s.result(), (result{Requests: 27065, PerSec: 9021.67}); r != want {
		t.Errorf("result = %+v, want %+v", r, want)
	}
}

// Streams cut by a GOAWAY are failures, not answers.
func TestParseH2load_GOAWAY(t *testing.T) {
	s, err := parseH2load(readTestdata(t, "h2load-goaway.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := h2Summary{Protocol: "h2", RequestsSec: 8000, Done: 16065, Succeeded: 16000, Errored: 65, Status: [4]int64{16000, 0, 0, 0}}
	if s != want {
		t.Errorf("parseH2load = %+v, want %+v", s, want)
	}
	if r, want := s.result(), (result{Requests: 16000, PerSec: 8000, Failed: 65}); r != want {
		t.Errorf("result = %+v, want %+v", r, want)
	}
}

// h2load falls back to HTTP/1.1 when the server does not offer h2; such a
// run must not be reported as HTTP/2.
func TestParseH2load_HTTP11FallbackRejected(t *testing.T) {
	_, err := parseH2load(readTestdata(t, "h2load-http11.txt"))
	if err == nil || !strings.Contains(err.Error(), `"http/1.1", not h2`) {
		t.Fatalf("err = %v, want a refusal naming http/1.1", err)
	}
}

func TestParseH2load_Incomplete(t *testing.T) {
	full := readTestdata(t, "h2load.txt")
	for _, cut := range []string{"Application protocol:", "finished in", "requests:"} {
		i := strings.Index(full, cut)
		if _, err := parseH2load(full[:i]); err == nil {
			t.Errorf("report cut before %q accepted", cut)
		}
	}
	if _, err := parseH2load("No protocol negotiated. Fallback behaviour may be activated\n"); err == nil {
		t.Error("a run without ALPN accepted")
	}
}

func TestParseH2Log(t *testing.T) {
	lat, failed, err := parseH2Log(strings.NewReader(readTestdata(t, "h2load-log.tsv")))
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 138 || failed != 2 {
		t.Fatalf("%d latencies and %d failed, want 138 and 2", len(lat), failed)
	}
	var r result
	setPercentiles(&r, lat)
	// Nearest rank over the 138 answered requests: ranks 69, 137, 138.
	want := result{P50: 8684 * time.Microsecond, P99: 16683 * time.Microsecond, P999: 16699 * time.Microsecond, Max: 16699 * time.Microsecond}
	if r != want {
		t.Errorf("percentiles = %+v, want %+v", r, want)
	}
}

func TestParseH2Log_Malformed(t *testing.T) {
	for _, in := range []string{
		"1796589909759212 200 6823\n", // spaces, not tabs
		"1796589909759212\tOK\t6823\n",
		"1796589909759212\t200\t-5\n",
		"1796589909759212\t200\n",
	} {
		if _, _, err := parseH2Log(strings.NewReader(in)); err == nil {
			t.Errorf("parseH2Log accepted %q", in)
		}
	}
}

func FuzzParseH2load(f *testing.F) {
	for _, name := range []string{"h2load.txt", "h2load-goaway.txt", "h2load-http11.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseH2load(s)
		if err != nil {
			return
		}
		if h.Protocol != "h2" {
			t.Errorf("accepted protocol %q", h.Protocol)
		}
		if h.RequestsSec < 0 || h.Done < 0 || h.Errored < 0 {
			t.Errorf("negative figures from %q: %+v", s, h)
		}
	})
}

func FuzzParseH2Log(f *testing.F) {
	f.Add(readTestdata(f, "h2load-log.tsv"))
	f.Add("1\t-1\t0\n")
	f.Fuzz(func(t *testing.T, s string) {
		lat, failed, err := parseH2Log(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, d := range lat {
			if d < 0 {
				t.Errorf("negative latency from %q", s)
			}
		}
		if failed < 0 {
			t.Errorf("negative failures from %q", s)
		}
		var r result
		setPercentiles(&r, lat)
		if len(lat) > 0 && !(r.P50 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.Max) {
			t.Errorf("percentiles out of order: %+v", r)
		}
	})
}
