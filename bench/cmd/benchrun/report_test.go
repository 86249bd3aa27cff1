package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustMeasures(t *testing.T, list string) []measurement {
	t.Helper()
	ms, err := parseMeasures(list)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// sampleRun is two rounds of every default measurement for three targets.
func sampleRun(t *testing.T) ([]measurement, []string, []row, map[string]memStats) {
	ms := mustMeasures(t, defaultMeasures)
	targets := []string{"rampart", "nginx", "caddy"}
	ms2 := time.Millisecond
	rate := map[string]float64{"rampart": 20000, "nginx": 25000, "caddy": 10000}
	var rows []row
	for round := 1; round <= 2; round++ {
		for _, m := range ms {
			for _, name := range targets {
				// Round 2 is faster but has the worse tail: the best of
				// each line must be taken on its own.
				f := 1.0 + 0.1*float64(round-1)
				r := result{
					Requests: int64(rate[name] * f * 4), PerSec: rate[name] * f,
					P50: time.Duration(float64(ms2) / f), P99: 10 * ms2 * time.Duration(round), P999: 20 * ms2 * time.Duration(round),
					Max: 30 * ms2,
				}
				if m.name == "fixedrate" {
					r.PerSec, r.Requests = 2000, 8000
				}
				rows = append(rows, row{target: name, m: m, round: round, r: r,
					cpu: time.Duration(float64(r.Requests)*5e5/rate[name]) * time.Microsecond, sysCPU: time.Duration(float64(r.Requests)*2e5/rate[name]) * time.Microsecond, peakKiB: int64(30+round) * 1024})
			}
		}
	}
	mem := map[string]memStats{
		"rampart": {procs: 1, idleKiB: 20 * 1024, endKiB: 50 * 1024, peakKiB: 60 * 1024},
		"nginx":   {procs: 3, idleKiB: 20 * 1024, endKiB: 27 * 1024, peakKiB: 30 * 1024},
		"caddy":   {procs: 1, idleKiB: 35 * 1024, endKiB: 47 * 1024, peakKiB: 51 * 1024},
	}
	return ms, targets, rows, mem
}

func TestRatioTable_BestOfRoundsEachLineOnItsOwn(t *testing.T) {
	ms, targets, rows, mem := sampleRun(t)
	tb := ratioTable(ms, targets, rows, mem, 2)
	if want := []string{"measurement", "better", "rampart", "nginx", "caddy", "rampart/nginx", "rampart/caddy"}; strings.Join(tb.header, ",") != strings.Join(want, ",") {
		t.Fatalf("header %q, want %q", tb.header, want)
	}
	lines := make(map[string][]string)
	for _, r := range tb.rows {
		lines[r[0]] = r
	}
	check := func(label string, want ...string) {
		t.Helper()
		got, ok := lines[label]
		if !ok {
			t.Errorf("no line %q in %q", label, tb.rows)
			return
		}
		if strings.Join(got[1:], ",") != strings.Join(want, ",") {
			t.Errorf("%s: %q, want %q", label, got[1:], want)
		}
	}
	// The highest rate is round 2's, the lowest p99 round 1's.
	check("HTTPS/1.1 throughput req/s", "higher", "22000", "27500", "11000", "0.80", "2.00")
	check("HTTP/2 throughput CPU µs/req", "lower", "25", "20", "50", "1.25", "0.50")
	check("Latency at a fixed rate p50", "lower", "909µs", "909µs", "909µs", "1.00", "1.00")
	check("Latency at a fixed rate p99", "lower", "10.00ms", "10.00ms", "10.00ms", "1.00", "1.00")
	check("Memory peak RSS MiB", "lower", "60.0", "30.0", "51.0", "2.00", "1.18")
	if _, ok := lines["Latency at a fixed rate req/s"]; ok {
		t.Error("the fixed rate's own rate compared, as if it were a result")
	}
}

// Without rampart, or without nginx and Caddy, there is no ratio to print.
func TestRatioTable_OnlyAvailableRatios(t *testing.T) {
	ms, _, rows, mem := sampleRun(t)
	if h := ratioTable(ms, []string{"nginx", "caddy"}, rows, mem, 2).header; len(h) != 4 {
		t.Errorf("header %q without rampart, want no ratio column", h)
	}
	if h := ratioTable(ms, []string{"rampart", "caddy"}, rows, mem, 2).header; h[len(h)-1] != "rampart/caddy" || len(h) != 5 {
		t.Errorf("header %q without nginx, want rampart/caddy only", h)
	}
}

// Each round's ratio is taken within the round, and the median is not
// the best round: rampart's rate rising round after round while nginx's
// holds gives 0.50, 0.60, 0.80, median 0.60, where the best-of ratio is
// 0.80.
func TestRoundRatioTable_MedianOfRounds(t *testing.T) {
	ms := mustMeasures(t, "h1")
	rampart, nginx := []float64{10000, 12000, 16000}, []float64{20000, 20000, 20000}
	var rows []row
	for i := range 3 {
		for name, rate := range map[string]float64{"rampart": rampart[i], "nginx": nginx[i]} {
			rows = append(rows, row{target: name, m: ms[0], round: i + 1, r: result{Requests: int64(rate * 4), PerSec: rate},
				cpu: time.Duration(rate*4*50) * time.Microsecond})
		}
	}
	// nginx has no figure in round 2 of one line: that round is left out
	// of the line's median, which is then the mean of the other two.
	rows = append(rows[:2], rows[4:]...)
	rows = append(rows, row{target: "rampart", m: ms[0], round: 2, r: result{Requests: 48000, PerSec: 12000}},
		row{target: "nginx", m: ms[0], round: 2, r: result{Requests: 80000, PerSec: 20000}})
	tb, ok := roundRatioTable(ms, []string{"rampart", "nginx"}, rows, 3)
	if !ok {
		t.Fatal("no table")
	}
	if want := "measurement,better,rampart/nginx by round,median"; strings.Join(tb.header, ",") != want {
		t.Fatalf("header %q", tb.header)
	}
	lines := make(map[string][]string)
	for _, r := range tb.rows {
		lines[r[0]] = r[1:]
	}
	if got := strings.Join(lines["HTTPS/1.1 throughput req/s"], " | "); got != "higher | 0.50, 0.60, 0.80 | 0.60" {
		t.Errorf("rate: %s", got)
	}
	if got := strings.Join(lines["HTTPS/1.1 throughput CPU µs/req"], " | "); got != "lower | 1.00, -, 1.00 | 1.00" {
		t.Errorf("CPU: %s", got)
	}
	if best := ratioTable(ms, []string{"rampart", "nginx"}, rows, nil, 3).rows[0]; best[len(best)-1] != "0.80" {
		t.Errorf("best-of ratio %q, want 0.80", best)
	}
	for _, c := range []struct {
		targets []string
		rounds  int
	}{{[]string{"rampart", "nginx"}, 1}, {[]string{"nginx", "caddy"}, 3}, {[]string{"rampart", "stdlib"}, 3}} {
		if _, ok := roundRatioTable(ms, c.targets, rows, c.rounds); ok {
			t.Errorf("%v, %d rounds: a table with nothing to compare", c.targets, c.rounds)
		}
	}
}

func goldenReport(t *testing.T) report {
	ms, targets, rows, mem := sampleRun(t)
	c := config{duration: 4 * time.Second, warmup: time.Second, load: wrkArgs{Threads: 2, Connections: 64},
		h2: h2Args{Clients: 16, Streams: 10}, handshakeClients: 32, rate: 2000, rateConns: 32}
	rep := report{
		date:     time.Date(2026, 12, 6, 20, 45, 0, 0, time.UTC),
		command:  "./bench/run.sh -targets rampart,nginx,caddy -rounds 2 -out BENCHMARKS.md",
		machine:  machine{CPUs: 2, Model: "AMD EPYC", Kernel: "6.18.44", Load: "0.39 1.68 2.70", Go: "go1.27.3", OS: "linux", Arch: "amd64"},
		versions: []string{"wrk debian/4.1.0-3+b2", "h2load nghttp2/1.52.0", "rampart: commit 032c06700000, built with go1.27.3", "nginx/1.22.1", "caddy 2.6.2"},
		setup:    []string{"load: HTTPS to localhost on loopback, path /"},
	}
	for _, m := range ms {
		rep.tables = append(rep.tables, measurementTable(m, m.about(c), rows))
	}
	rep.tables = append(rep.tables, memoryTable(targets, mem), ratioTable(ms, targets, rows, mem, 2))
	if tb, ok := roundRatioTable(ms, targets, rows, 2); ok {
		rep.tables = append(rep.tables, tb)
	}
	rep.notes = []string{"warning: caddy, HTTP/2 throughput, round 1: 3 of 4000 requests failed (first: EOF)"}
	return rep
}

func TestReportMarkdown_Golden(t *testing.T) {
	var b bytes.Buffer
	goldenReport(t).markdown(&b)
	checkGolden(t, "BENCHMARKS.golden.md", b.String())
}

func TestReportText_Golden(t *testing.T) {
	var b bytes.Buffer
	goldenReport(t).text(&b)
	checkGolden(t, "report.golden.txt", b.String())
}

// checkGolden compares got with testdata/name (rewritten by -update).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (go test -update to rewrite):\n%s", golden, got)
	}
}

func TestParseMeasures(t *testing.T) {
	ms, err := parseMeasures("fixedrate, h1,fixedrate")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].name != "h1" || ms[1].name != "fixedrate" {
		t.Errorf("parseMeasures = %v, want h1 then fixedrate, once each", ms)
	}
	for _, bad := range []string{"", ",", "h3", "h1,handshake"} {
		if _, err := parseMeasures(bad); err == nil {
			t.Errorf("parseMeasures(%q) accepted", bad)
		}
	}
}

func TestCommandLine(t *testing.T) {
	t.Setenv("BENCHRUN_ARGV0", "./bench/run.sh")
	got := commandLine([]string{"-targets", "rampart,nginx", "-rampart-flag", "--log-format=json x", "-path", "/it's"})
	want := `./bench/run.sh -targets rampart,nginx -rampart-flag '--log-format=json x' -path '/it'\''s'`
	if got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}

func TestMdEscape(t *testing.T) {
	if got := mdEscape("a|b *c* d_e"); got != `a\|b \*c\* d\_e` {
		t.Errorf("mdEscape = %s", got)
	}
}

// Figures that describe something else than proxying are named.
func TestWarnings(t *testing.T) {
	h2, _ := measurementNamed("h2")
	fr, _ := measurementNamed("fixedrate")
	c := config{rate: 2000}
	rows := []row{
		{target: "rampart", m: h2, round: 1, r: result{Requests: 1000, Non2xx3xx: 11}},
		{target: "nginx", m: h2, round: 1, r: result{Requests: 989, Failed: 11, FirstErr: "EOF"}},
		{target: "caddy", m: h2, round: 2, r: result{Requests: 1000, Non2xx3xx: 10, Failed: 10}, peakKiB: -1},
		{target: "stdlib", m: fr, round: 1, r: result{Requests: 8000, PerSec: 1800}},
		{target: "rampart", m: fr, round: 1, r: result{Requests: 8000, PerSec: 1999}, peakKiB: -1},
	}
	got := strings.Join(warnings(c, rows), "\n")
	for _, want := range []string{
		"rampart, HTTP/2 throughput, round 1: 11 of 1000 answers had a status outside 2xx/3xx",
		"nginx, HTTP/2 throughput, round 1: 11 of 1000 requests failed (first: EOF)",
		"stdlib, Latency at a fixed rate, round 1: 1800 req/s answered, under the 2000 req/s asked",
		"2 run(s) without a peak RSS",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "caddy") || strings.Contains(got, "rampart, Latency") {
		t.Errorf("warnings for figures within 1%% (or 95%% of the rate):\n%s", got)
	}
}
