// Command benchrun compares rampart with the seed's nginx configuration under
// the same load, in the same run, on loopback.
//
// It starts one fast upstream (a tiny Go HTTP server), rampart and nginx (the
// seed's configuration from examples/seed/nginx, with keep-alive upstream
// connections), optionally a bare Go proxy (stdlib) and Caddy configured as
// the seed (caddy.go), then runs wrk against each over HTTPS for a fixed duration and
// prints requests per second, latency percentiles, CPU time and memory.
//
// Usage (from the repository root; see bench/README.md):
//
//	go run ./bench/cmd/benchrun [-duration 10s] [-threads 2] [-connections 64]
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
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	seednginx "github.com/rampart-dev/rampart/examples/seed/nginx"
	"github.com/rampart-dev/rampart/internal/testcert"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

type config struct {
	rampart, nginx, wrk string
	caddy               string
	targets             []string
	host, path          string
	load                wrkArgs
	warmup              time.Duration
	rounds              int
	keep                bool
	rampartFlags        stringList
	rampartConfig       string
}

func main() {
	var c config
	var targets string
	flag.StringVar(&c.rampart, "rampart", "", "rampart binary (default: build ./cmd/rampart from this module)")
	flag.StringVar(&c.nginx, "nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&c.caddy, "caddy", "/usr/bin/caddy", "caddy binary (Debian's package; the target is skipped when it is missing)")
	flag.StringVar(&c.wrk, "wrk", "wrk", "wrk binary")
	flag.StringVar(&targets, "targets", "rampart,nginx", "comma-separated targets to measure, in order: rampart, stdlib (a bare Go reverse proxy), nginx, caddy")
	flag.StringVar(&c.host, "host", "localhost", "host name in the certificate and the URL (must resolve to 127.0.0.1)")
	flag.StringVar(&c.path, "path", "/", "request path")
	flag.DurationVar(&c.load.Duration, "duration", 10*time.Second, "measured wrk run per target and round (whole seconds)")
	flag.IntVar(&c.load.Threads, "threads", 2, "wrk threads")
	flag.IntVar(&c.load.Connections, "connections", 64, "wrk connections")
	flag.BoolVar(&c.load.Close, "handshakes", false, "send Connection: close, so every request is a new TLS connection")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured wrk run before each measured one (0 to skip)")
	flag.IntVar(&c.rounds, "rounds", 1, "measure each target this many times, alternating targets")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (configurations, logs)")
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: error: %v\n", err)
		os.Exit(1)
	}
}

// target is one server under test.
type target struct {
	name string
	url  string
	pid  int
	log  string // where its logs are, for error messages
	stop func()
	// check, if set, vets the target's response headers before measuring
	// (over HTTP/1.1 and HTTP/2).
	check func(*http.Response) error
}

func run(ctx context.Context, c config) error {
	if c.load.Duration < time.Second || c.load.Threads < 1 || c.load.Connections < c.load.Threads || c.rounds < 1 {
		return errors.New("need -duration >= 1s, -threads >= 1, -connections >= -threads, -rounds >= 1")
	}
	wrk, err := exec.LookPath(c.wrk)
	if err != nil {
		return fmt.Errorf("%v\nbenchrun: hint: apt-get install wrk", err)
	}
	dir, err := os.MkdirTemp("", "benchrun-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Printf("temporary directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// wrk does not verify certificates; benchrun's own readiness and sanity
	// checks do, against this throwaway CA.
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
		if err := sanityCheck(ctx, t, roots); err != nil {
			return fmt.Errorf("%s: %v (logs: %s)", name, err, t.log)
		}
	}

	if len(targets) == 0 {
		return errors.New("no target left to measure")
	}
	idle := make(map[string]procStats)
	for _, t := range targets {
		idle[t.name] = treeStats(t.pid)
	}
	type row struct {
		t     *target
		round int
		r     wrkResult
		cpu   time.Duration
	}
	var rows []row
	for round := 1; round <= c.rounds; round++ {
		for _, t := range targets {
			if c.warmup >= time.Second {
				w := c.load
				w.Duration = c.warmup
				if _, out, err := runWrk(ctx, wrk, w, t.url); err != nil {
					return fmt.Errorf("%s warmup: %v", t.name, firstLines(out, 20))
				}
			}
			before := treeStats(t.pid)
			r, out, err := runWrk(ctx, wrk, c.load, t.url)
			if err != nil {
				return fmt.Errorf("%s: %v", t.name, err)
			}
			after := treeStats(t.pid)
			rows = append(rows, row{t, round, r, after.CPU - before.CPU})
			fmt.Fprintf(os.Stderr, "%s round %d: %.0f req/s\n", t.name, round, r.RequestsSec)
			if c.keep {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("wrk-%s-%d.txt", t.name, round)), []byte(out), 0o644)
			}
		}
	}

	mode := "connections reused"
	if c.load.Close {
		mode = "Connection: close, one TLS handshake per request"
	}
	fmt.Printf("\nwrk -t%d -c%d -d%s --latency (%s), HTTP/1.1 over TLS to %s (loopback), path %s; upstream: Go net/http on loopback, %d-byte HTML body\n",
		c.load.Threads, c.load.Connections, c.load.Duration, mode, c.host, c.path, len(page))
	fmt.Printf("machine: %d CPUs (%s/%s); wrk, the upstream and the server under test share them\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tround\treq/s\tp50\tp99\tnon-2xx/3xx\tsocket errors\tCPU s\tCPU µs/req\t")
	for _, r := range rows {
		perReq := 0.0
		if r.r.Requests > 0 {
			perReq = float64(r.cpu.Microseconds()) / float64(r.r.Requests)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%d\t%.2f\t%.0f\t\n",
			r.t.name, r.round, r.r.RequestsSec, fmtDur(r.r.P50), fmtDur(r.r.P99),
			r.r.Non2xx3xx, r.r.SocketErrs, r.cpu.Seconds(), perReq)
	}
	tw.Flush()

	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tprocesses\tRSS idle MiB\tRSS after MiB\tpeak RSS MiB\t")
	for _, t := range targets {
		now := treeStats(t.pid)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t\n", t.name, now.Procs,
			mib(idle[t.name].RSSKiB), mib(now.RSSKiB), mib(now.PeakKiB))
	}
	tw.Flush()
	for _, r := range rows {
		if r.r.Requests > 0 && r.r.Non2xx3xx*100 > r.r.Requests {
			fmt.Printf("\nwarning: %s answered %d of %d requests with a status outside 2xx/3xx; its figures measure error responses (rate limiting?), not proxying\n",
				r.t.name, r.r.Non2xx3xx, r.r.Requests)
		}
	}
	return nil
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

// buildRampart compiles ./cmd/rampart of the module benchrun runs in.
func buildRampart(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", fmt.Errorf("cannot find the rampart module (go env GOMOD: %v)\nbenchrun: hint: run from the repository, or pass -rampart PATH", err)
	}
	bin := filepath.Join(dir, "rampart")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rampart")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rampart: %v\n%s", err, out)
	}
	return bin, nil
}

func startRampart(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error) {
	bin := c.rampart
	if bin == "" {
		var err error
		if bin, err = buildRampart(ctx, dir); err != nil {
			return nil, err
		}
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
`

func startNginx(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error) {
	prefix := filepath.Join(dir, "nginx")
	if err := os.Mkdir(prefix, 0o755); err != nil {
		return nil, err
	}
	httpsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	srv, err := seednginx.Start(startCtx, c.nginx, seednginx.Params{
		Prefix:     prefix,
		HTTPSAddr:  httpsAddr,
		HTTPAddr:   httpAddr,
		Upstream:   upstream,
		ServerName: c.host,
		CertFile:   certFile,
		KeyFile:    keyFile,
		// rampart reuses its upstream connections; the seed's nginx
		// opened one per request. Compare like with like.
		UpstreamKeepalive: 64,
		// A packaged nginx logs every request, as rampart does.
		AccessLog: true,
	})
	if err != nil {
		return nil, err
	}
	return &target{
		name: "nginx",
		url:  "https://" + net.JoinHostPort(c.host, port(httpsAddr)) + c.path,
		pid:  srv.Pid(),
		log:  prefix,
		stop: func() { srv.Stop() },
	}, nil
}

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

// sanityCheck makes one verified HTTPS request over HTTP/1.1 (as wrk does)
// and checks that the upstream's page comes back, so the figures measure
// proxying, not an error page. A target with a header check is also asked
// over HTTP/2.
func sanityCheck(ctx context.Context, t *target, roots *x509.CertPool) error {
	if err := probe(ctx, t, roots, false); err != nil {
		return err
	}
	if t.check == nil {
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
