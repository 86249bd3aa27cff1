package main

import (
	"os"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out, err := os.ReadFile("testdata/wrk.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseWrk(string(out))
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{
		Requests:    123456,
		RequestsSec: 12338.91,
		P50:         4120 * time.Microsecond,
		P99:         21540 * time.Microsecond,
		Max:         98120 * time.Microsecond,
		Non2xx3xx:   12,
		SocketErrs:  3,
	}
	if got != want {
		t.Errorf("parseWrk = %+v, want %+v", got, want)
	}
}

func TestParseWrk_NoLatency(t *testing.T) {
	if _, err := parseWrk("Requests/sec: 10.0\n"); err == nil {
		t.Error("parseWrk accepted a report without latency percentiles")
	}
}

func FuzzParseWrk(f *testing.F) {
	if b, err := os.ReadFile("testdata/wrk.txt"); err == nil {
		f.Add(string(b))
	}
	f.Add("Requests/sec: 1\n     50%  1.00s\n     99%  9.99m\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseWrk(s)
		if err == nil && (r.RequestsSec < 0 || r.Requests < 0) {
			t.Errorf("negative figures from %q: %+v", s, r)
		}
	})
}
