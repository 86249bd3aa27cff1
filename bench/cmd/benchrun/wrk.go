package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what benchrun reads from wrk's --latency report.
type wrkResult struct {
	Requests    int64         // completed requests
	RequestsSec float64       // "Requests/sec"
	P50, P99    time.Duration // from "Latency Distribution"
	Max         time.Duration // the slowest request, from the "Latency" thread statistics
	Non2xx3xx   int64         // "Non-2xx or 3xx responses"
	SocketErrs  int64         // sum of "Socket errors" (connect, read, write, timeout)
}

// wrkArgs are the load parameters shared by every target in a run.
type wrkArgs struct {
	Threads, Connections int
	Duration             time.Duration
	// Close sends "Connection: close", so every request pays a new TCP
	// connection and a full TLS handshake.
	Close bool
}

// runWrk runs wrk against url and parses its report.
func runWrk(ctx context.Context, wrk string, a wrkArgs, url string) (wrkResult, string, error) {
	args := []string{
		"-t" + strconv.Itoa(a.Threads),
		"-c" + strconv.Itoa(a.Connections),
		"-d" + strconv.Itoa(int(a.Duration.Round(time.Second)/time.Second)) + "s",
		"--timeout", "10s",
		"--latency",
	}
	if a.Close {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	// wrk stops by itself after Duration; the context only bounds a hang.
	ctx, cancel := context.WithTimeout(ctx, a.Duration+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(string(out))
	return r, string(out), err
}

var (
	reRequests  = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	reReqSec    = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	reLatency   = regexp.MustCompile(`(?m)^\s+Latency\s+[0-9.]+(?:us|ms|s|m)\s+[0-9.]+(?:us|ms|s|m)\s+([0-9.]+)(us|ms|s|m)\s`)
	rePercent   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reNon2xx    = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)\s*$`)
	reSocketErr = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
)

// parseWrk reads the report wrk 4.x prints with --latency.
func parseWrk(out string) (r wrkResult, err error) {
	m := reReqSec.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk report has no Requests/sec line")
	}
	r.RequestsSec, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	found := 0
	for _, m := range rePercent.FindAllStringSubmatch(out, -1) {
		d, err := wrkDuration(m[2], m[3])
		if err != nil {
			return r, err
		}
		switch m[1] {
		case "50":
			r.P50 = d
		case "99":
			r.P99 = d
		}
		found++
	}
	if found != 2 {
		return r, fmt.Errorf("wrk report has no 50%%/99%% latency lines (run with --latency)")
	}
	if m := reLatency.FindStringSubmatch(out); m != nil {
		if r.Max, err = wrkDuration(m[1], m[2]); err != nil {
			return r, err
		}
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx3xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSocketErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrs += n
		}
	}
	return r, nil
}

// wrkDuration converts wrk's "1.23ms" style figures.
func wrkDuration(num, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("wrk latency %q: %v", num+unit, err)
	}
	scale := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[unit]
	return time.Duration(f * scale), nil
}

// firstLines returns up to n lines of s, for error messages.
func firstLines(s string, n int) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}
