package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// result is one measured run of one target, whatever tool made it.
type result struct {
	Requests int64   // answered requests (for handshakes: connections)
	PerSec   float64 // answered requests (connections) per second
	// Latency percentiles; zero when the tool does not report one (wrk has
	// no p99.9).
	P50, P99, P999, Max time.Duration
	Non2xx3xx           int64  // answered with a status outside 2xx/3xx
	Failed              int64  // not answered: socket errors, resets, timeouts, a wrong page
	FirstErr            string // the first failure, when the tool says
	Raw                 string // the tool's own report, kept with -keep
}

// measurement is one kind of load, applied to every target in turn.
type measurement struct {
	name  string // as in -measure
	title string // the table's heading
	rate  string // unit of the rate column: "req/s" or "conn/s"
	per   string // what CPU time is divided by: "req" or "conn"
	// about says how the load is made, under the heading.
	about func(c config) string
	// run warms the target up, calls mark just before the measured part,
	// and measures. files is a path prefix for anything the tool writes.
	run func(ctx context.Context, c config, t *target, files string, mark func()) (result, error)
}

// measurements are all benchrun knows, in the order a round runs them.
var measurements = []measurement{
	{
		name: "h1", title: "HTTPS/1.1 throughput", rate: "req/s", per: "req",
		about: func(c config) string {
			return fmt.Sprintf("wrk -t%d -c%d -d%s --latency --timeout 10s: HTTP/1.1 over TLS, connections kept alive, as many requests as the target answers",
				c.load.Threads, c.load.Connections, wholeSeconds(c.duration))
		},
		run: func(ctx context.Context, c config, t *target, files string, mark func()) (result, error) {
			return wrkRun(ctx, c, t, false, mark)
		},
	},
	{
		name: "h2", title: "HTTP/2 throughput", rate: "req/s", per: "req",
		about: func(c config) string {
			return fmt.Sprintf("h2load -t1 -c%d -m%d -D %s: HTTP/2 over TLS, %d connections with up to %d concurrent streams each; percentiles from h2load's per-request --log-file",
				c.h2.Clients, c.h2.Streams, c.duration, c.h2.Clients, c.h2.Streams)
		},
		run: func(ctx context.Context, c config, t *target, files string, mark func()) (result, error) {
			a := c.h2
			if c.warmup > 0 {
				a.Duration = c.warmup
				if _, err := runH2load(ctx, c.h2load, a, t.url, ""); err != nil {
					return result{}, fmt.Errorf("warm-up: %v", err)
				}
			}
			mark()
			a.Duration = c.duration
			logFile := files + ".log"
			r, err := runH2load(ctx, c.h2load, a, t.url, logFile)
			if !c.keep {
				os.Remove(logFile)
			}
			return r, err
		},
	},
	{
		name: "handshakes", title: "New TLS connections", rate: "conn/s", per: "conn",
		about: func(c config) string {
			return fmt.Sprintf("benchrun's Go client, %d concurrent loops: each request on a new TCP connection with a full TLS 1.3 handshake (X25519, no session resumption), GET with Connection: close; latency from connect to the end of the answer",
				c.handshakeClients)
		},
		run: func(ctx context.Context, c config, t *target, files string, mark func()) (result, error) {
			g, err := newGenTarget(t.url)
			if err != nil {
				return result{}, err
			}
			return handshakeLoad(ctx, g, c.handshakeClients, c.warmup, c.duration, mark), nil
		},
	},
	{
		name: "resumed", title: "Resumed TLS connections", rate: "conn/s", per: "conn",
		about: func(c config) string {
			return fmt.Sprintf("wrk -t%d -c%d -d%s --latency -H 'Connection: close': a new TCP connection per request, but wrk resumes its TLS session (no certificate, no signature)",
				c.load.Threads, c.load.Connections, wholeSeconds(c.duration))
		},
		run: func(ctx context.Context, c config, t *target, files string, mark func()) (result, error) {
			return wrkRun(ctx, c, t, true, mark)
		},
	},
	{
		name: "fixedrate", title: "Latency at a fixed rate", rate: "req/s", per: "req",
		about: func(c config) string {
			return fmt.Sprintf("benchrun's Go open-loop client: %d req/s on %d kept-alive HTTP/1.1 TLS connections; each latency from the request's scheduled send time, so a stall counts for every request it delays",
				c.rate, c.rateConns)
		},
		run: func(ctx context.Context, c config, t *target, files string, mark func()) (result, error) {
			g, err := newGenTarget(t.url)
			if err != nil {
				return result{}, err
			}
			return fixedRateLoad(ctx, g, c.rate, c.rateConns, c.warmup, c.duration, mark)
		},
	},
}

// defaultMeasures is -measure's default: everything but "resumed".
const defaultMeasures = "h1,h2,handshakes,fixedrate"

// parseMeasures returns the measurements named in list (comma-separated),
// in benchrun's order.
func parseMeasures(list string) ([]measurement, error) {
	want := make(map[string]bool)
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if _, ok := measurementNamed(name); !ok {
			var known []string
			for _, m := range measurements {
				known = append(known, m.name)
			}
			return nil, fmt.Errorf("unknown measurement %q in -measure (known: %s)", name, strings.Join(known, ", "))
		}
		want[name] = true
	}
	var ms []measurement
	for _, m := range measurements {
		if want[m.name] {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("-measure %q names no measurement", list)
	}
	return ms, nil
}

func measurementNamed(name string) (measurement, bool) {
	for _, m := range measurements {
		if m.name == name {
			return m, true
		}
	}
	return measurement{}, false
}

// wrkRun is the h1 and resumed measurements: a warm-up run, then the
// measured one.
func wrkRun(ctx context.Context, c config, t *target, close bool, mark func()) (result, error) {
	w := c.load
	w.Close = close
	if c.warmup > 0 {
		w.Duration = c.warmup
		if _, out, err := runWrk(ctx, c.wrk, w, t.url); err != nil {
			return result{}, fmt.Errorf("warm-up: %v", firstLines(out, 20))
		}
	}
	mark()
	w.Duration = c.duration
	r, out, err := runWrk(ctx, c.wrk, w, t.url)
	if err != nil {
		return result{Raw: out}, err
	}
	return result{
		Requests:  r.Requests,
		PerSec:    r.RequestsSec,
		P50:       r.P50,
		P99:       r.P99,
		Max:       r.Max,
		Non2xx3xx: r.Non2xx3xx,
		Failed:    r.SocketErrs,
		Raw:       out,
	}, nil
}

func wholeSeconds(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s"
}

// row is one measured run: a target, a measurement, a round.
type row struct {
	target  string
	m       measurement
	round   int
	r       result
	cpu     time.Duration // the target's CPU time during the measured run
	sysCPU  time.Duration // of cpu, the time in the kernel
	peakKiB int64         // the target's peak RSS during warm-up and run
}

// cpuPer is the target's CPU time per answered request, in µs.
func (r row) cpuPer() (float64, bool) {
	if r.r.Requests <= 0 {
		return 0, false
	}
	return float64(r.cpu.Microseconds()) / float64(r.r.Requests), true
}

// sysPer is the part of cpuPer spent in the kernel, in µs.
func (r row) sysPer() (float64, bool) {
	if r.r.Requests <= 0 {
		return 0, false
	}
	return float64(r.sysCPU.Microseconds()) / float64(r.r.Requests), true
}

// measureOnce runs m against t: it resets the target's peak-memory mark,
// lets m warm up, takes the target's CPU time when m starts its measured
// part and again when it ends.
func measureOnce(ctx context.Context, c config, m measurement, t *target, round int) (row, error) {
	resetErr := resetPeak(t.pid)
	var before procStats
	files := filepath.Join(c.dir, fmt.Sprintf("%s-%s-%d", m.name, t.name, round))
	r, err := m.run(ctx, c, t, files, func() { before = treeStats(t.pid) })
	after := treeStats(t.pid)
	if c.keep && r.Raw != "" {
		os.WriteFile(files+".txt", []byte(r.Raw), 0o644)
	}
	if err != nil {
		return row{}, fmt.Errorf("%s %s round %d: %v", t.name, m.name, round, err)
	}
	out := row{target: t.name, m: m, round: round, r: r, cpu: after.CPU - before.CPU, sysCPU: after.SysCPU - before.SysCPU, peakKiB: after.PeakKiB}
	if resetErr != nil {
		out.peakKiB = -1
	}
	return out, nil
}
