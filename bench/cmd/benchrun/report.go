package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// table is a titled grid, printed as aligned text or as markdown.
type table struct {
	title  string
	about  []string // lines under the title
	header []string
	rows   [][]string
}

func (t table) text(w io.Writer) {
	if t.title != "" {
		fmt.Fprintln(w, t.title)
	}
	for _, a := range t.about {
		fmt.Fprintf(w, "  %s\n", a)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.header, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
}

// markdown writes t as a level-2 section with a pipe table whose first
// column is aligned left and the others right.
func (t table) markdown(w io.Writer) {
	if t.title != "" {
		fmt.Fprintf(w, "## %s\n\n", t.title)
	}
	for _, a := range t.about {
		fmt.Fprintf(w, "%s\n", mdEscape(a))
	}
	if len(t.about) > 0 {
		fmt.Fprintln(w)
	}
	cells := func(r []string) {
		for i := range r {
			fmt.Fprintf(w, "| %s ", mdEscape(r[i]))
		}
		fmt.Fprintln(w, "|")
	}
	cells(t.header)
	for i := range t.header {
		if i == 0 {
			fmt.Fprint(w, "|---")
		} else {
			fmt.Fprint(w, "|---:")
		}
	}
	fmt.Fprintln(w, "|")
	for _, r := range t.rows {
		cells(r)
	}
}

// mdEscape keeps a cell's text from being read as markdown table syntax or
// emphasis.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`).Replace(s)
}

// measurementTable is one table per measurement: every target, every round.
func measurementTable(m measurement, about string, rows []row) table {
	t := table{
		title:  m.title,
		about:  []string{about},
		header: []string{"target", "round", m.rate, "p50", "p99", "p99.9", "max", "non-2xx/3xx", "failed", "CPU s", "CPU µs/" + m.per, "kernel µs/" + m.per, "peak RSS MiB"},
	}
	for _, r := range rows {
		if r.m.name != m.name {
			continue
		}
		cpuPer := "-"
		if v, ok := r.cpuPer(); ok {
			cpuPer = fmt.Sprintf("%.0f", v)
		}
		sysPer := "-"
		if v, ok := r.sysPer(); ok {
			sysPer = fmt.Sprintf("%.0f", v)
		}
		peak := "-"
		if r.peakKiB >= 0 {
			peak = fmt.Sprintf("%.1f", mib(r.peakKiB))
		}
		t.rows = append(t.rows, []string{
			r.target, fmt.Sprint(r.round), fmt.Sprintf("%.0f", r.r.PerSec),
			fmtLatency(r.r.P50), fmtLatency(r.r.P99), fmtLatency(r.r.P999), fmtLatency(r.r.Max),
			fmt.Sprint(r.r.Non2xx3xx), fmt.Sprint(r.r.Failed),
			fmt.Sprintf("%.2f", r.cpu.Seconds()), cpuPer, sysPer, peak,
		})
	}
	return t
}

// fmtLatency is fmtDur, with "-" for a figure the tool does not report.
func fmtLatency(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmtDur(d)
}

// memStats is a target's memory over the whole run.
type memStats struct {
	procs           int
	idleKiB, endKiB int64 // RSS before the first load, after the last
	peakKiB         int64 // the highest VmHWM seen over the run
}

func memoryTable(targets []string, mem map[string]memStats) table {
	t := table{
		title:  "Memory",
		about:  []string{"resident memory summed over the target's processes: before the first load, after the last, and the highest peak (VmHWM) of the whole run"},
		header: []string{"target", "processes", "RSS idle MiB", "RSS after MiB", "peak RSS MiB"},
	}
	for _, name := range targets {
		m := mem[name]
		t.rows = append(t.rows, []string{name, fmt.Sprint(m.procs),
			fmt.Sprintf("%.1f", mib(m.idleKiB)), fmt.Sprintf("%.1f", mib(m.endKiB)), fmt.Sprintf("%.1f", mib(m.peakKiB))})
	}
	return t
}

// metric is one line of the ratio table.
type metric struct {
	label  string
	m      string // measurement name; "" for the whole run's memory
	higher bool   // higher is better
	value  func(row) (float64, bool)
	format func(float64) string
}

func metricsFor(ms []measurement) []metric {
	rate := func(r row) (float64, bool) { return r.r.PerSec, r.r.Requests > 0 }
	lat := func(get func(result) time.Duration) func(row) (float64, bool) {
		return func(r row) (float64, bool) { d := get(r.r); return float64(d), d > 0 }
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	dur := func(v float64) string { return fmtDur(time.Duration(v)) }
	var out []metric
	for _, m := range ms {
		if m.name == "fixedrate" {
			out = append(out,
				metric{m.title + " p50", m.name, false, lat(func(r result) time.Duration { return r.P50 }), dur},
				metric{m.title + " p99", m.name, false, lat(func(r result) time.Duration { return r.P99 }), dur},
				metric{m.title + " p99.9", m.name, false, lat(func(r result) time.Duration { return r.P999 }), dur})
		} else {
			out = append(out, metric{m.title + " " + m.rate, m.name, true, rate, count})
		}
		out = append(out, metric{m.title + " CPU µs/" + m.per, m.name, false, row.cpuPer, count},
			metric{m.title + " kernel µs/" + m.per, m.name, false, row.sysPer, count})
	}
	return out
}

// best is target's best value of mt over the rounds: the highest or the
// lowest, each metric on its own (the best rate and the best latency may
// come from different rounds).
func best(mt metric, target string, rows []row) (float64, bool) {
	var v float64
	found := false
	for _, r := range rows {
		if r.target != target || r.m.name != mt.m {
			continue
		}
		x, ok := mt.value(r)
		if !ok {
			continue
		}
		if !found || (mt.higher && x > v) || (!mt.higher && x < v) {
			v, found = x, true
		}
	}
	return v, found
}

// comparedWith is the targets rampart's figures are divided by: nginx
// and Caddy, those of them that ran, and none without rampart.
func comparedWith(targets []string) []string {
	var vs []string
	if slices.Contains(targets, "rampart") {
		for _, other := range []string{"nginx", "caddy"} {
			if slices.Contains(targets, other) {
				vs = append(vs, other)
			}
		}
	}
	return vs
}

// ratioTable compares every target on each metric, best of the rounds,
// with rampart/nginx and rampart/caddy where those targets ran.
func ratioTable(ms []measurement, targets []string, rows []row, mem map[string]memStats, rounds int) table {
	t := table{
		title: "Ratios",
		about: []string{fmt.Sprintf("each figure is the target's best of %d round(s), each line on its own: the highest rate, the lowest latency, CPU time and memory; a ratio above 1 is rampart ahead on a higher-is-better line, behind on a lower-is-better one", rounds)},
	}
	t.header = append([]string{"measurement", "better"}, targets...)
	vs := comparedWith(targets)
	for _, other := range vs {
		t.header = append(t.header, "rampart/"+other)
	}
	addLine := func(label string, higher bool, value func(string) (float64, bool), format func(float64) string) {
		line := []string{label, map[bool]string{true: "higher", false: "lower"}[higher]}
		for _, name := range targets {
			if v, ok := value(name); ok {
				line = append(line, format(v))
			} else {
				line = append(line, "-")
			}
		}
		for _, other := range vs {
			a, okA := value("rampart")
			b, okB := value(other)
			if okA && okB && b != 0 {
				line = append(line, fmt.Sprintf("%.2f", a/b))
			} else {
				line = append(line, "-")
			}
		}
		t.rows = append(t.rows, line)
	}
	for _, mt := range metricsFor(ms) {
		addLine(mt.label, mt.higher, func(name string) (float64, bool) { return best(mt, name, rows) }, mt.format)
	}
	addLine("Memory peak RSS MiB", false, func(name string) (float64, bool) {
		m, ok := mem[name]
		return mib(m.peakKiB), ok && m.peakKiB > 0
	}, func(v float64) string { return fmt.Sprintf("%.1f", v) })
	return t
}

// roundRatioTable gives, for every measured line, rampart's figure over
// nginx's and Caddy's within each round, and the median of those rounds.
// Targets alternate within a round, so a change in the machine's load
// hits both figures of a round alike, and the median is not one lucky
// round, as a best-of ratio can be. ok is false when there is nothing to
// compare: one round, or no rampart, or neither nginx nor Caddy.
func roundRatioTable(ms []measurement, targets []string, rows []row, rounds int) (t table, ok bool) {
	vs := comparedWith(targets)
	if rounds < 2 || len(vs) == 0 {
		return table{}, false
	}
	t = table{
		title: "Ratios round by round",
		about: []string{"rampart's figure over the other target's in the same round, round after round, and their median: within a round each measurement runs on the targets one after the other, seconds apart, so a change in the machine's load from one round to the next moves both figures of a ratio alike, and the median is not one lucky round, as a best-of ratio above can be"},
	}
	t.header = []string{"measurement", "better"}
	for _, other := range vs {
		t.header = append(t.header, "rampart/"+other+" by round", "median")
	}
	value := func(mt metric, target string, round int) (float64, bool) {
		for _, r := range rows {
			if r.target == target && r.m.name == mt.m && r.round == round {
				return mt.value(r)
			}
		}
		return 0, false
	}
	for _, mt := range metricsFor(ms) {
		line := []string{mt.label, map[bool]string{true: "higher", false: "lower"}[mt.higher]}
		for _, other := range vs {
			var ratios []float64
			var each []string
			for round := 1; round <= rounds; round++ {
				a, okA := value(mt, "rampart", round)
				b, okB := value(mt, other, round)
				if !okA || !okB || b == 0 {
					each = append(each, "-")
					continue
				}
				ratios = append(ratios, a/b)
				each = append(each, fmt.Sprintf("%.2f", a/b))
			}
			med := "-"
			if len(ratios) > 0 {
				med = fmt.Sprintf("%.2f", median(ratios))
			}
			line = append(line, strings.Join(each, ", "), med)
		}
		t.rows = append(t.rows, line)
	}
	return t, true
}

// median of vs, which it sorts; the mean of the middle two for an even
// count.
func median(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// machine describes where the run happened.
type machine struct {
	CPUs     int
	Model    string // /proc/cpuinfo "model name"
	Kernel   string // /proc/sys/kernel/osrelease
	Load     string // /proc/loadavg's three averages when the run started
	Go       string // the toolchain that built benchrun
	OS, Arch string
}

func thisMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Model: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

func (m machine) String() string {
	s := fmt.Sprintf("%d CPUs (%s), %s %s/%s", m.CPUs, m.Model, m.Kernel, m.OS, m.Arch)
	if m.Load != "" {
		s += ", load average " + m.Load + " when the run started"
	}
	return s
}

// report is everything a run prints, and writes with -out.
type report struct {
	date     time.Time
	command  string
	machine  machine
	versions []string
	setup    []string
	tables   []table
	notes    []string // warnings about the figures
}

func (r report) text(w io.Writer) {
	fmt.Fprintf(w, "\n%s, %s\n", r.date.UTC().Format("2006-01-02 15:04 MST"), r.command)
	fmt.Fprintf(w, "machine: %s; Go %s\n", r.machine, r.machine.Go)
	fmt.Fprintf(w, "versions: %s\n", strings.Join(r.versions, "; "))
	for _, s := range r.setup {
		fmt.Fprintln(w, s)
	}
	for _, t := range r.tables {
		fmt.Fprintln(w)
		t.text(w)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

func (r report) markdown(w io.Writer) {
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Measured %s with:\n\n```sh\n%s\n```\n\n", r.date.UTC().Format("2006-01-02 15:04 MST"), r.command)
	fmt.Fprintf(w, "- machine: %s\n", mdEscape(r.machine.String()))
	fmt.Fprintf(w, "- Go: %s (benchrun)\n", r.machine.Go)
	fmt.Fprintf(w, "- versions: %s\n", mdEscape(strings.Join(r.versions, "; ")))
	for _, s := range r.setup {
		fmt.Fprintf(w, "- %s\n", mdEscape(s))
	}
	for _, t := range r.tables {
		fmt.Fprintln(w)
		t.markdown(w)
	}
	if len(r.notes) > 0 {
		fmt.Fprintf(w, "\n## Warnings\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(w, "- %s\n", mdEscape(n))
		}
	}
	fmt.Fprintf(w, "\nSee bench/README.md for what each column means and the limits of each measurement.\n")
}

// commandLine is how the run was started, for the report: run.sh passes its
// own name in BENCHRUN_ARGV0; otherwise the go run form.
func commandLine(args []string) string {
	argv0 := os.Getenv("BENCHRUN_ARGV0")
	if argv0 == "" {
		argv0 = "go run ./bench/cmd/benchrun"
	}
	parts := []string{argv0}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes a for a POSIX shell when it needs it.
func shellQuote(a string) string {
	if a != "" && strings.IndexFunc(a, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./,=:@+%", r))
	}) < 0 {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// toolVersion is the first line a program prints about its version, or "?"
// when it cannot say.
func toolVersion(ctx context.Context, prog string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// wrk -v exits 1 after printing its version: keep the output anyway.
	out, _ := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "?"
	}
	return strings.TrimSpace(line)
}

// goBinaryVersion says which toolchain built bin and from which commit.
func goBinaryVersion(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "?"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " with uncommitted changes"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "built with " + bi.GoVersion
	}
	return "commit " + rev + modified + ", built with " + bi.GoVersion
}
