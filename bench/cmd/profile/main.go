//go:build unix

// Command profile runs rampart's gateway in this process, configured as
// benchrun runs it (the seed's rate limit on /api/ only, the access log to a
// file), in front of a small Go upstream, drives it with wrk (HTTP/1.1) or
// h2load (HTTP/2) over TLS on loopback, and writes CPU and allocation
// profiles of the gateway under that load: what bench/README.md's profile
// tables are made of, and cmd/rampart/default.pgo.
//
//	go run ./bench/cmd/profile -proto h1 -duration 10s -cpu cpu-h1.pprof
//	go tool pprof -top -nodecount 40 cpu-h1.pprof
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/gateway"
	"github.com/rampart-dev/rampart/internal/gcfloor"
	"github.com/rampart-dev/rampart/internal/listen"
	"github.com/rampart-dev/rampart/internal/testcert"
	"github.com/rampart-dev/rampart/proxy"
	"github.com/rampart-dev/rampart/secheaders"
)

const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>bench</title></head>
<body><main><h1>Hello</h1><p>A small page from a fast upstream, served through the proxy under test.</p>
<form method="post" action="/submit"><input name="message"><button>Send</button></form></main></body>
</html>
`

// The configuration benchrun gives rampart (see bench/cmd/benchrun).
const yaml = `ratelimit:
  zones:
    api_limit: {key: client_ip, rate: 10r/s, size: 10m}
  rules:
    - prefix: /api/
      limits:
        - {zone: api_limit, burst: 20, nodelay: true}
listen:
  max_conns_per_client: 100000
`

func main() {
	proto := flag.String("proto", "h1", "h1 (wrk, HTTP/1.1 over TLS) or h2 (h2load)")
	duration := flag.Duration("duration", 10*time.Second, "load duration")
	conns := flag.Int("connections", 32, "connections")
	streams := flag.Int("streams", 10, "h2: concurrent streams per connection")
	cpuOut := flag.String("cpu", "", "CPU profile output file")
	memOut := flag.String("allocs", "", "allocation profile output file")
	traceOut := flag.String("trace", "", "execution trace output file (go tool trace): where goroutines block, wake and are scheduled")
	var settings envFlag
	flag.Var(&settings, "env", "a configuration setting as an environment `VARIABLE=value` (RAMPART_LOG_ACCESS_BUFFER=0), repeatable: to profile two settings against each other")
	server := flag.String("server", "rampart", "the server around the gateway's handler: rampart (its own listener, as in production; with -handler proxy or headers, a listener of the same kind around them), nethttp (a bare net/http.Server with TLS, HTTP/1.1 and HTTP/2), loop (the least an HTTP/1.1 server can do: a measuring aid, see loop.go), h2loop (the least an HTTP/2 server can do: a measuring aid, see h2loop.go)")
	handler := flag.String("handler", "gateway", "what serves the requests: gateway (every stage and the proxy, as in production), proxy (the proxy package alone, with the plan's options), headers (the proxy inside the secheaders middleware)")
	serveUpstream := flag.String("serve-upstream", "", "internal: serve the upstream on this `address` (a child process)")
	flag.Parse()
	if *serveUpstream != "" {
		ln, err := net.Listen("tcp", *serveUpstream)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			os.Exit(1)
		}
		http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Server", "bench-upstream")
			io.WriteString(w, page)
		}))
		return
	}
	if err := run(*proto, *server, *handler, *duration, *conns, *streams, *cpuOut, *memOut, *traceOut, settings); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

// envFlag gathers -env settings.
type envFlag map[string]string

func (e *envFlag) String() string { return fmt.Sprint(map[string]string(*e)) }

func (e *envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(k, "RAMPART_") {
		return fmt.Errorf("want RAMPART_NAME=value, got %q", s)
	}
	if *e == nil {
		*e = envFlag{}
	}
	(*e)[k] = v
	return nil
}

func run(proto, server, handler string, duration time.Duration, conns, streams int, cpuOut, memOut, traceOut string, settings envFlag) error {
	dir, err := os.MkdirTemp("", "rampart-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pair, err := testcert.Write(dir, 24*time.Hour, "localhost")
	if err != nil {
		return err
	}
	// The upstream runs in a child process: its CPU is not in the profile.
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upAddr := up.Addr().String()
	up.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "-serve-upstream", upAddr)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	for range 100 {
		if c, err := net.Dial("tcp", upAddr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	cfg := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	upURL, state := "http://"+upAddr, filepath.Join(dir, "state")
	listenAddr, httpListen := "127.0.0.1:0", "off"
	env := map[string]string{
		"RAMPART_TLS_CERT_FILE":   pair.CertFile,
		"RAMPART_TLS_KEY_FILE":    pair.KeyFile,
		"RAMPART_LOG_ACCESS_PATH": filepath.Join(dir, "access.log"),
	}
	maps.Copy(env, settings)
	plan, fs := config.Load(config.Source{Path: cfg, Flags: config.Flags{Upstream: &upURL, StateDir: &state,
		Listen: &listenAddr, HTTPListen: &httpListen, Hosts: []string{"localhost"}},
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if plan == nil {
		return fmt.Errorf("configuration: %v", fs.Error())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gw, err := gateway.New(plan, gateway.Options{Logger: slog.New(slog.DiscardHandler), HTTPSListener: ln,
		Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := waitServing(ln.Addr().String(), done); err != nil {
		return err
	}
	defer gcfloor.Start(gcfloor.DefaultFloor)()

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	h, err := handlerOf(handler, gw, plan)
	if err != nil {
		return err
	}
	switch {
	case server == "rampart" && handler == "gateway":
	case server == "rampart", server == "nethttp", server == "loop", server == "h2loop":
		// The same handler behind another server, on a listener of its
		// own: the gateway's keeps serving, unused.
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			return err
		}
		sln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer sln.Close()
		tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
		if server == "h2loop" {
			tcfg.NextProtos = []string{"h2"}
		} else if server != "loop" && proto == "h2" {
			tcfg.NextProtos = []string{"h2", "http/1.1"}
		}
		host := "localhost:" + port
		switch server {
		case "loop":
			go serveLoop(sln, tcfg, h, host)
		case "h2loop":
			go serveH2Loop(sln, tcfg, h, host)
		case "rampart":
			// rampart's listener, with its defaults, around h alone.
			s, err := listen.NewServer(sln.Addr().String(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Host = host
				h.ServeHTTP(w, r)
			}), tcfg, listen.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return err
			}
			s.Listener = sln
			lctx, stop := context.WithCancel(context.Background())
			stopped := make(chan error, 1)
			go func() { stopped <- listen.Run(lctx, s) }()
			defer func() { stop(); <-stopped }()
		default:
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Host = host
				h.ServeHTTP(w, r)
			})}
			go srv.Serve(tls.NewListener(sln, tcfg))
		}
		_, port, _ = net.SplitHostPort(sln.Addr().String())
	default:
		return fmt.Errorf("-server %q: rampart, nethttp, loop or h2loop", server)
	}
	if server == "h2loop" && proto != "h2" {
		return fmt.Errorf("-server h2loop serves HTTP/2 only")
	}
	if server == "loop" && proto != "h1" {
		return fmt.Errorf("-server %s serves HTTP/1.1 only", server)
	}
	url := "https://localhost:" + port + "/"
	secs := strconv.Itoa(int(duration / time.Second))
	var cmd *exec.Cmd
	switch proto {
	case "h1":
		cmd = exec.Command("wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+secs+"s", "--latency", url)
	case "h2":
		cmd = exec.Command("h2load", "-c"+strconv.Itoa(conns), "-m"+strconv.Itoa(streams), "-D", secs, url)
	default:
		return fmt.Errorf("-proto %q: h1 or h2", proto)
	}
	// A short warm-up, unprofiled.
	warm := exec.Command(cmd.Path, cmd.Args[1:]...)
	for i, a := range warm.Args {
		if a == "-d"+secs+"s" {
			warm.Args[i] = "-d2s"
		}
		if a == secs && i > 0 && warm.Args[i-1] == "-D" {
			warm.Args[i] = "2"
		}
	}
	if err := warm.Run(); err != nil {
		return fmt.Errorf("warm-up: %v", err)
	}
	if cpuOut != "" {
		f, err := os.Create(cpuOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	if traceOut != "" {
		f, err := os.Create(traceOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
	}
	if memOut != "" {
		// Finer sampling for the allocation profile; it costs about 2% of
		// the CPU, so only when that profile is asked for.
		runtime.MemProfileRate = 64 << 10
	}
	userBefore, sysBefore := cpuTime()
	out, err := cmd.CombinedOutput()
	userAfter, sysAfter := cpuTime()
	used, sys := userAfter-userBefore+sysAfter-sysBefore, sysAfter-sysBefore
	if cpuOut != "" {
		pprof.StopCPUProfile()
	}
	if traceOut != "" {
		trace.Stop()
	}
	os.Stdout.Write(out)
	if err != nil {
		return fmt.Errorf("%s: %v", cmd.Path, err)
	}
	if n := requests(string(out)); n > 0 {
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
		fmt.Printf("gateway CPU: %.2f s for %d requests, %.1f µs per request (%.1f in user space, %.1f in the kernel)\n",
			used.Seconds(), n, per(used), per(used-sys), per(sys))
	}
	if memOut != "" {
		f, err := os.Create(memOut)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
	return nil
}

// handlerOf is what -handler names: the gateway's whole pipeline, or the
// proxy package alone (with or without the security headers) configured
// from the same plan, to measure what the stages around the proxy cost.
func handlerOf(name string, gw *gateway.Gateway, plan *config.Plan) (http.Handler, error) {
	if name == "gateway" {
		return gw.Handler(), nil
	}
	if name != "proxy" && name != "headers" {
		return nil, fmt.Errorf("-handler %q: gateway, proxy or headers", name)
	}
	p, err := proxy.New(plan.Proxy)
	if err != nil {
		return nil, err
	}
	if name == "proxy" {
		return p, nil
	}
	m, err := secheaders.New(plan.Headers)
	if err != nil {
		return nil, err
	}
	return m.Handler(p), nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

var (
	wrkRequests    = regexp.MustCompile(`(\d+) requests in`)
	h2loadRequests = regexp.MustCompile(`requests: \d+ total, \d+ started, (\d+) done`)
)

// requests is how many requests the load tool completed, from its report.
func requests(out string) int {
	for _, re := range []*regexp.Regexp{wrkRequests, h2loadRequests} {
		if m := re.FindStringSubmatch(out); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return 0
}

// waitServing waits until the gateway completes a TLS handshake on addr.
// A gateway that could not start (another rampart holds the admin port,
// say) returns its error on done: that error is returned, and put back
// for the deferred receive; otherwise the load would measure nothing.
func waitServing(addr string, done chan error) error {
	dialer := &net.Dialer{Timeout: 200 * time.Millisecond}
	for range 50 {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("the gateway stopped before serving: %v", err)
		default:
		}
		c, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the gateway does not answer on %s", addr)
}
