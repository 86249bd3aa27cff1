// Command benchrun compares rampart with the seed's nginx configuration under
// the same load, in the same run, on loopback.
//
// It starts one fast upstream (a tiny Go HTTP server), rampart and nginx (the
// seed's configuration from examples/seed/nginx, with keep-alive upstream
// connections), optionally a bare Go proxy (stdlib) and Caddy configured as
// the seed (caddy.go). Then, round after round, it applies each measurement
// to each target in turn: HTTPS/1.1 throughput (wrk), HTTP/2 throughput
// (h2load), new TLS connections per second and latency at a fixed request
// rate (its own load generators, loadgen.go). It prints one table per
// measurement with the target's CPU time per request and peak memory, then
// rampart's ratios to nginx and Caddy, and writes them as markdown with -out.
//
// Usage (from the repository root; see bench/README.md):
//
//	go run ./bench/cmd/benchrun [-targets rampart,nginx,caddy,stdlib] [-rounds 3] [-measure h1,h2,handshakes,fixedrate] [-out BENCHMARKS.md]
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

type config struct {
	rampart, nginx, wrk, h2load string
	caddy                       string
	targets                     []string
	measures                    []measurement
	host, path                  string
	duration, warmup            time.Duration
	load                        wrkArgs // wrk's threads and connections
	h2                          h2Args  // h2load's clients and streams
	handshakeClients            int
	rate, rateConns             int
	rounds                      int
	keep                        bool
	out                         string
	rampartFlags                stringList
	rampartConfig               string
	nginxLogBuffer              string // nginx's access_log buffer=, "" for none (the seed's)
	dir                         string // the run's temporary directory
}

func main() {
	var c config
	var targets, measures string
	flag.StringVar(&c.rampart, "rampart", "", "rampart binary (default: build ./cmd/rampart from this module)")
	flag.StringVar(&c.nginx, "nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&c.caddy, "caddy", "/usr/bin/caddy", "caddy binary (Debian's package; the target is skipped when it is missing)")
	flag.StringVar(&c.wrk, "wrk", "wrk", "wrk binary (measurements h1 and resumed)")
	flag.StringVar(&c.h2load, "h2load", "h2load", "h2load binary, from nghttp2-client (measurement h2)")
	flag.StringVar(&targets, "targets", "rampart,nginx", "comma-separated targets to measure, in order: rampart, stdlib (a bare Go reverse proxy), nginx, caddy")
	flag.StringVar(&measures, "measure", defaultMeasures, "comma-separated measurements: h1 (HTTPS/1.1 req/s, wrk), h2 (HTTP/2 req/s, h2load), handshakes (new TLS connections/s), resumed (wrk with Connection: close, which resumes TLS sessions), fixedrate (latency at -rate req/s)")
	flag.StringVar(&c.host, "host", "localhost", "host name in the certificate and the URL (must resolve to 127.0.0.1)")
	flag.StringVar(&c.path, "path", "/", "request path")
	flag.DurationVar(&c.duration, "duration", 4*time.Second, "measured run per measurement, target and round (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured run before each measured one, same load (0 to skip; whole seconds)")
	flag.IntVar(&c.load.Threads, "threads", 2, "wrk threads")
	flag.IntVar(&c.load.Connections, "connections", 64, "wrk connections")
	flag.IntVar(&c.h2.Clients, "h2-clients", 16, "h2load clients (connections)")
	flag.IntVar(&c.h2.Streams, "h2-streams", 10, "h2load concurrent streams per connection")
	flag.IntVar(&c.handshakeClients, "handshake-clients", 32, "concurrent connection loops of the handshakes measurement")
	flag.IntVar(&c.rate, "rate", 2000, "requests per second of the fixedrate measurement")
	flag.IntVar(&c.rateConns, "rate-connections", 32, "kept-alive connections of the fixedrate measurement")
	flag.IntVar(&c.rounds, "rounds", 1, "measure each target this many times, alternating targets")
	flag.StringVar(&c.out, "out", "", "also write the report as markdown to this `file` (e.g. BENCHMARKS.md)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (configurations, logs, the tools' raw reports)")
	flag.StringVar(&c.nginxLogBuffer, "nginx-log-buffer", "", "give nginx's access log a buffer of this nginx `size` (64k) written out at the latest after 100ms, as rampart's default for a log file; default: none, each line written as it comes, as the seed's nginx")
	flag.StringVar(&c.rampartConfig, "rampart-config", "", "rampart configuration file (default: one equivalent to the seed, see bench/README.md)")
	flag.Var(&c.rampartFlags, "rampart-flag", "extra argument for `rampart serve` (repeatable)")
	var bf baselineFlags
	flag.StringVar(&bf.listen, "serve-stdlib", "", "internal: run as the stdlib baseline proxy on this `address`")
	flag.StringVar(&bf.upstream, "upstream", "", "internal: upstream host:port for -serve-stdlib")
	flag.StringVar(&bf.cert, "cert", "", "internal: certificate file for -serve-stdlib")
	flag.StringVar(&bf.key, "key", "", "internal: key file for -serve-stdlib")
	flag.Parse()
	c.targets = strings.Split(targets, ",")
	if bf.listen != "" {
		if err := bf.run(); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: stdlib proxy: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if c.measures, err = parseMeasures(measures); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: error: %v\n", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, commandLine(os.Args[1:])); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: error: %v\n", err)
		os.Exit(1)
	}
}

// target is one server under test.
type target struct {
	name    string
	url     string
	pid     int
	log     string // where its logs are, for error messages
	version string // for the report
	stop    func()
	// check, if set, vets the target's response headers before measuring
	// (over HTTP/1.1 and HTTP/2).
	check func(*http.Response) error
}

func (c config) has(measure string) bool {
	for _, m := range c.measures {
		if m.name == measure {
			return true
		}
	}
	return false
}

func (c config) validate() error {
	switch {
	case c.duration < time.Second || c.duration%time.Second != 0:
		return errors.New("need -duration in whole seconds, at least 1s (wrk's unit)")
	case c.warmup < 0 || c.warmup%time.Second != 0:
		return errors.New("need -warmup in whole seconds, or 0")
	case c.load.Threads < 1 || c.load.Connections < c.load.Threads:
		return errors.New("need -threads >= 1 and -connections >= -threads")
	case c.h2.Clients < 1 || c.h2.Streams < 1:
		return errors.New("need -h2-clients >= 1 and -h2-streams >= 1")
	case c.handshakeClients < 1:
		return errors.New("need -handshake-clients >= 1")
	case c.rate < 1 || c.rateConns < 1:
		return errors.New("need -rate >= 1 and -rate-connections >= 1")
	case c.rounds < 1:
		return errors.New("need -rounds >= 1")
	}
	return nil
}

func run(ctx context.Context, c config, command string) error {
	if err := c.validate(); err != nil {
		return err
	}
	rep := report{date: time.Now(), command: command, machine: thisMachine()}
	if c.has("h1") || c.has("resumed") {
		wrk, err := exec.LookPath(c.wrk)
		if err != nil {
			return fmt.Errorf("%v\nbenchrun: hint: apt-get install wrk", err)
		}
		c.wrk = wrk
		// "wrk debian/4.1.0-3+b2 [epoll] Copyright …"
		v, _, _ := strings.Cut(toolVersion(ctx, wrk, "-v"), " [")
		rep.versions = append(rep.versions, v)
	}
	if c.has("h2") {
		h2load, err := exec.LookPath(c.h2load)
		if err != nil {
			return fmt.Errorf("%v\nbenchrun: hint: %s", err, h2loadInstall)
		}
		c.h2load = h2load
		rep.versions = append(rep.versions, toolVersion(ctx, h2load, "--version"))
	}
	dir, err := os.MkdirTemp("", "benchrun-")
	if err != nil {
		return err
	}
	c.dir = dir
	if c.keep {
		fmt.Printf("temporary directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// wrk and h2load do not verify certificates; benchrun's own readiness
	// and sanity checks do, against this throwaway CA.
	pair, err := testcert.Write(dir, 24*time.Hour, c.host)
	if err != nil {
		return err
	}
	certFile, keyFile, roots := pair.CertFile, pair.KeyFile, pair.Roots
	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUpstream()

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, name := range c.targets {
		var t *target
		switch name {
		case "rampart":
			t, err = startRampart(ctx, c, dir, upstream, certFile, keyFile)
		case "nginx":
			t, err = startNginx(ctx, c, dir, upstream, certFile, keyFile)
		case "stdlib":
			t, err = startBaseline(ctx, c, dir, upstream, certFile, keyFile)
		case "caddy":
			t, err = startCaddy(ctx, c, dir, upstream, certFile, keyFile)
		default:
			err = fmt.Errorf("unknown target %q (known: rampart, stdlib, nginx, caddy)", name)
		}
		var skip skipTarget
		if errors.As(err, &skip) {
			fmt.Fprintf(os.Stderr, "benchrun: skipping target %s: %v\n", name, skip)
			continue
		}
		if err != nil {
			return err
		}
		targets = append(targets, t)
		if err := sanityCheck(ctx, t, roots, c.has("h2")); err != nil {
			return fmt.Errorf("%s: %v (logs: %s)", name, err, t.log)
		}
		rep.versions = append(rep.versions, t.version)
	}
	if len(targets) == 0 {
		return errors.New("no target left to measure")
	}

	var names []string
	mem := make(map[string]memStats)
	for _, t := range targets {
		names = append(names, t.name)
		s := treeStats(t.pid)
		mem[t.name] = memStats{procs: s.Procs, idleKiB: s.RSSKiB, peakKiB: s.PeakKiB}
	}
	var rows []row
	for round := 1; round <= c.rounds; round++ {
		for _, m := range c.measures {
			for _, t := range targets {
				// The peak since the last reset, before this run resets it.
				seen := mem[t.name]
				seen.peakKiB = max(seen.peakKiB, treeStats(t.pid).PeakKiB)
				r, err := measureOnce(ctx, c, m, t, round)
				if err != nil {
					return err
				}
				seen.peakKiB = max(seen.peakKiB, r.peakKiB)
				mem[t.name] = seen
				rows = append(rows, r)
				fmt.Fprintf(os.Stderr, "%s %s round %d: %.0f %s\n", t.name, m.name, round, r.r.PerSec, m.rate)
			}
		}
	}
	for _, t := range targets {
		s := treeStats(t.pid)
		m := mem[t.name]
		m.procs, m.endKiB, m.peakKiB = s.Procs, s.RSSKiB, max(m.peakKiB, s.PeakKiB)
		mem[t.name] = m
	}

	rep.setup = []string{
		fmt.Sprintf("load: HTTPS to %s on loopback, path %s; upstream: Go net/http on loopback, %d-byte HTML page; %s warm-up before each %s measured run; rounds: %d, targets alternating",
			c.host, c.path, len(page), c.warmup, c.duration, c.rounds),
		"the load generator, the upstream and the target share the machine's CPUs",
		accessLogs(c),
	}
	for _, m := range c.measures {
		rep.tables = append(rep.tables, measurementTable(m, m.about(c), rows))
	}
	rep.tables = append(rep.tables, memoryTable(names, mem), ratioTable(c.measures, names, rows, mem, c.rounds))
	if t, ok := roundRatioTable(c.measures, names, rows, c.rounds); ok {
		rep.tables = append(rep.tables, t)
	}
	rep.notes = warnings(c, rows)
	rep.text(os.Stdout)
	if c.out != "" {
		f, err := os.Create(c.out)
		if err != nil {
			return err
		}
		rep.markdown(f)
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", c.out)
	}
	return nil
}

// warnings are the rows whose figures describe something else than
// proxying: error answers, failed requests, a rate not sustained, a peak
// memory that could not be measured per run.
func warnings(c config, rows []row) []string {
	var out []string
	noPeak := 0
	for _, r := range rows {
		what := fmt.Sprintf("%s, %s, round %d", r.target, r.m.title, r.round)
		if r.r.Requests > 0 && r.r.Non2xx3xx*100 > r.r.Requests {
			out = append(out, fmt.Sprintf("warning: %s: %d of %d answers had a status outside 2xx/3xx; the figures measure error responses (rate limiting?), not proxying",
				what, r.r.Non2xx3xx, r.r.Requests))
		}
		if total := r.r.Requests + r.r.Failed; r.r.Failed*100 > total {
			msg := fmt.Sprintf("warning: %s: %d of %d requests failed", what, r.r.Failed, total)
			if r.r.FirstErr != "" {
				msg += " (first: " + r.r.FirstErr + ")"
			}
			out = append(out, msg)
		}
		if r.m.name == "fixedrate" && r.r.PerSec < 0.95*float64(c.rate) {
			out = append(out, fmt.Sprintf("warning: %s: %.0f req/s answered, under the %d req/s asked; the latencies include the backlog", what, r.r.PerSec, c.rate))
		}
		if r.peakKiB < 0 {
			noPeak++
		}
	}
	if noPeak > 0 {
		out = append(out, fmt.Sprintf("warning: %d run(s) without a peak RSS: the peak memory mark could not be reset (/proc/PID/clear_refs needs the targets' user or root); the Memory table's peak is each process's lifetime peak", noPeak))
	}
	return out
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// buildRampart compiles ./cmd/rampart of the module benchrun runs in, and
// says what it built: the checkout's commit, and whether it had uncommitted
// changes (read from git, since GOFLAGS=-buildvcs=false leaves nothing in
// the binary).
func buildRampart(ctx context.Context, dir string) (bin, version string, err error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", "", fmt.Errorf("cannot find the rampart module (go env GOMOD: %v)\nbenchrun: hint: run from the repository, or pass -rampart PATH", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin = filepath.Join(dir, "rampart")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rampart")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/rampart: %v\n%s", err, out)
	}
	version = goBinaryVersion(bin)
	git := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	if rev, err := git("rev-parse", "--short=12", "HEAD"); err == nil && !strings.HasPrefix(version, "commit") {
		if changes, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && changes != "" {
			rev += " with uncommitted changes"
		}
		version = "commit " + rev + ", " + version
	}
	return bin, version, nil
}

func startRampart(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error) {
	bin, version := c.rampart, ""
	if bin == "" {
		var err error
		if bin, version, err = buildRampart(ctx, dir); err != nil {
			return nil, err
		}
	} else {
		version = goBinaryVersion(bin)
	}
	httpsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	confPath := c.rampartConfig
	if confPath == "" {
		confPath = filepath.Join(dir, "rampart.yaml")
		if err := os.WriteFile(confPath, []byte(seedRampartYAML), 0o644); err != nil {
			return nil, err
		}
	}
	args := append([]string{"serve",
		"--config", confPath,
		"--listen", httpsAddr,
		"--http-listen", httpAddr,
		"--upstream", "http://" + upstream,
		"--host", c.host,
		"--cert", certFile,
		"--key", keyFile,
		"--state-dir", filepath.Join(dir, "rampart-state"),
	}, c.rampartFlags...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	t, err := startChild(ctx, cmd, "rampart", filepath.Join(dir, "rampart.log"), httpsAddr, c.host, c.path)
	if err != nil {
		return nil, fmt.Errorf("rampart %s: %w", strings.Join(args, " "), err)
	}
	t.version = "rampart: " + version
	return t, nil
}

// seedRampartYAML is the part of rampart's configuration that the command
// line cannot say, set as the seed's nginx has it: the rate limit applies to
// /api/ only (10r/s, burst 20, nodelay), not to the benchmarked path.
// Without a ratelimit section rampart would apply its default flood guard
// (50r/s per client) to every path, and a benchmark from one address would
// measure 429 answers.
const seedRampartYAML = `# Written by benchrun: the seed's limit_req on /api/, nothing on /.
ratelimit:
  zones:
    api_limit: {key: client_ip, rate: 10r/s, size: 10m}
  rules:
    - prefix: /api/
      limits:
        - {zone: api_limit, burst: 20, nodelay: true}
# wrk opens every connection from loopback, one client to rampart; nginx
# has no per-client connection cap, so neither does the benchmark.
listen:
  max_conns_per_client: 100000
# The access log to a file beside nginx's, with rampart's default for a
# file (a 64 KiB buffer). Rotated files are not compressed here: nginx's
# logrotate would compress them in another process, outside the figures.
log:
  access:
    path: access.log
    compress: false
`

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// startChild starts cmd with its output in logPath and waits until addr
// accepts connections. The target it returns stops the process with
// SIGTERM, then SIGKILL after 10 s. On failure the error holds the log.
func startChild(ctx context.Context, cmd *exec.Cmd, name, logPath, addr, host, path string) (*target, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t := &target{
		name: name,
		url:  "https://" + net.JoinHostPort(host, port(addr)) + path,
		pid:  cmd.Process.Pid,
		log:  logPath,
		stop: func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		},
	}
	if err := waitListening(ctx, addr, done); err != nil {
		t.stop()
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%v\n%s", err, b)
	}
	return t, nil
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before listening")
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sanityCheck makes one verified HTTPS request over HTTP/1.1 (as wrk and
// benchrun's load generators send) and checks that the upstream's page comes
// back, so the figures measure proxying, not an error page. When h2 is
// measured, or the target has a header check, it asks again over HTTP/2 (as
// h2load does) and checks the same.
func sanityCheck(ctx context.Context, t *target, roots *x509.CertPool, h2 bool) error {
	if err := probe(ctx, t, roots, false); err != nil {
		return err
	}
	if !h2 && t.check == nil {
		return nil
	}
	return probe(ctx, t, roots, true)
}

func probe(ctx context.Context, t *target, roots *x509.CertPool, h2 bool) error {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, p, _ := net.SplitHostPort(addr)
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
		},
		ForceAttemptHTTP2: h2,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, "GET", t.url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(body) != page {
		return fmt.Errorf("GET %s (%s) = %s, not the upstream's page:\n%s", t.url, resp.Proto, resp.Status, firstLines(string(body), 10))
	}
	if h2 && resp.ProtoMajor != 2 {
		return fmt.Errorf("GET %s: answered over %s, want HTTP/2", t.url, resp.Proto)
	}
	if t.check != nil {
		return t.check(resp)
	}
	return nil
}

// accessLogs says how each target writes its access log, a system call per
// request or per buffer.
func accessLogs(c config) string {
	nginx := "nginx each line as it comes (the seed's access_log)"
	if c.nginxLogBuffer != "" {
		nginx = fmt.Sprintf("nginx through a %s buffer, flushed after %s (-nginx-log-buffer)", c.nginxLogBuffer, nginxLogFlush(c.nginxLogBuffer))
	}
	rampart := "rampart through its default 64 KiB buffer, flushed after 100 ms"
	if c.rampartConfig != "" {
		rampart = "rampart as " + filepath.Base(c.rampartConfig) + " says"
	}
	return "access logs to files: " + rampart + "; " + nginx + "; Caddy each line as it comes; stdlib none"
}
