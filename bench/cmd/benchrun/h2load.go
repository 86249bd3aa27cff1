package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// h2loadInstall is how to get the h2load benchrun expects.
const h2loadInstall = "apt-get install nghttp2-client"

// h2Args are h2load's load parameters, shared by every target in a run.
type h2Args struct {
	Clients, Streams int // -c, -m: connections, concurrent streams on each
	Duration         time.Duration
}

// h2Summary is what benchrun reads from h2load's report.
type h2Summary struct {
	Protocol    string   // "Application protocol:", h2 when ALPN chose HTTP/2
	RequestsSec float64  // "finished in …, N req/s": succeeded requests per second
	Done        int64    // requests that ended, answered or not
	Succeeded   int64    // answered with 2xx or 3xx
	Errored     int64    // ended without an answer (reset, timeout, connection lost)
	Status      [4]int64 // "status codes": 2xx, 3xx, 4xx, 5xx
}

// runH2load runs h2load against url for a.Duration. With logFile set it also
// writes one line per request there and takes the latency percentiles from
// it (h2load's own summary has only min, max, mean and deviation).
func runH2load(ctx context.Context, h2load string, a h2Args, url, logFile string) (result, error) {
	args := []string{
		"-t1",
		"-c" + strconv.Itoa(a.Clients),
		"-m" + strconv.Itoa(a.Streams),
		"-D", strconv.FormatInt(a.Duration.Milliseconds(), 10) + "ms",
	}
	if logFile != "" {
		args = append(args, "--log-file", logFile)
	}
	args = append(args, url)
	// h2load stops by itself after Duration; the context only bounds a hang.
	ctx, cancel := context.WithTimeout(ctx, a.Duration+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, h2load, args...).CombinedOutput()
	if err != nil {
		return result{Raw: string(out)}, fmt.Errorf("h2load %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	s, err := parseH2load(string(out))
	if err != nil {
		return result{Raw: string(out)}, fmt.Errorf("h2load %s: %v\n%s", strings.Join(args, " "), err, firstLines(string(out), 30))
	}
	r := s.result()
	r.Raw = string(out)
	if logFile != "" {
		f, err := os.Open(logFile)
		if err != nil {
			return r, err
		}
		defer f.Close()
		// Failed streams are counted from the report's "errored".
		lat, _, err := parseH2Log(f)
		if err != nil {
			return r, fmt.Errorf("h2load --log-file %s: %v", logFile, err)
		}
		if len(lat) == 0 && s.Succeeded > 0 {
			return r, fmt.Errorf("h2load --log-file %s is empty, its report says %d requests succeeded", logFile, s.Succeeded)
		}
		setPercentiles(&r, lat)
	}
	return r, nil
}

// maxLatency bounds a logged latency, so a corrupt line cannot overflow
// time.Duration.
const maxLatency = 24 * time.Hour

var (
	reH2Proto    = regexp.MustCompile(`(?m)^Application protocol: (\S+)\s*$`)
	reH2NoProto  = regexp.MustCompile(`(?m)^No protocol negotiated\.`)
	reH2Finished = regexp.MustCompile(`(?m)^finished in [0-9.]+(?:us|ms|s|m|h), ([0-9.]+) req/s`)
	reH2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout\s*$`)
	reH2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx\s*$`)
)

// parseH2load reads the report h2load (nghttp2 1.52) prints. It fails when
// the connection did not negotiate HTTP/2, so an HTTP/1.1 fallback is never
// reported as HTTP/2.
func parseH2load(out string) (h2Summary, error) {
	var s h2Summary
	if reH2NoProto.MatchString(out) {
		return s, fmt.Errorf("no protocol negotiated (the target did not offer h2 over ALPN)")
	}
	m := reH2Proto.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("h2load report has no \"Application protocol\" line (no connection succeeded?)")
	}
	s.Protocol = m[1]
	if s.Protocol != "h2" {
		return s, fmt.Errorf("h2load negotiated %q, not h2", s.Protocol)
	}
	if m = reH2Finished.FindStringSubmatch(out); m == nil {
		return s, fmt.Errorf("h2load report has no \"finished in\" line")
	}
	s.RequestsSec, _ = strconv.ParseFloat(m[1], 64)
	if m = reH2Requests.FindStringSubmatch(out); m == nil {
		return s, fmt.Errorf("h2load report has no \"requests:\" line")
	}
	n := make([]int64, 7)
	for i := range n {
		n[i], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	s.Done, s.Succeeded, s.Errored = n[2], n[3], n[5]
	if m = reH2Status.FindStringSubmatch(out); m != nil {
		for i := range s.Status {
			s.Status[i], _ = strconv.ParseInt(m[i+1], 10, 64)
		}
	}
	return s, nil
}

// result is the summary as a table row: requests are the answered ones
// (done, less those that ended without an answer).
func (s h2Summary) result() result {
	return result{
		Requests:  s.Done - s.Errored,
		PerSec:    s.RequestsSec,
		Non2xx3xx: s.Status[2] + s.Status[3],
		Failed:    s.Errored,
	}
}

// parseH2Log reads h2load's --log-file: one line per request, tab-separated
// start time (µs since the epoch), status code (-1 for a failed stream) and
// microseconds until the end of the response. It returns the latencies of
// the answered requests and the number of failed ones.
func parseH2Log(r io.Reader) (lat []time.Duration, failed int64, err error) {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 3 {
			return nil, 0, fmt.Errorf("line %d: %q: want start, status, duration separated by tabs", line, sc.Text())
		}
		status, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, 0, fmt.Errorf("line %d: status %q: %v", line, fields[1], err)
		}
		if status < 0 {
			failed++
			continue
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil || us < 0 || us > int64(maxLatency/time.Microsecond) {
			return nil, 0, fmt.Errorf("line %d: duration %q is not a count of microseconds", line, fields[2])
		}
		lat = append(lat, time.Duration(us)*time.Microsecond)
	}
	return lat, failed, sc.Err()
}
