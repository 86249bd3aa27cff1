package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/gateway"
	"github.com/rampart-dev/rampart/internal/gcfloor"
	"github.com/rampart-dev/rampart/internal/listen"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// optString is a flag that remembers whether it was given.
type optString struct{ p **string }

func (o optString) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return **o.p
}
func (o optString) Set(v string) error {
	*o.p = &v
	return nil
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g gatewayFlags
	g.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rampart serve [--config rampart.yaml] [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs the gateway. The smallest useful command line is")
		fmt.Fprintln(stderr, "  rampart serve --upstream http://127.0.0.1:5000 --host example.com")
		fmt.Fprintln(stderr, "Without --config, ./rampart.yaml is read when it exists (as by 'rampart config check').")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		errorf(stderr, "everything is a flag: rampart serve --upstream http://127.0.0.1:5000 --host example.com", "serve takes no arguments, got %q", pos[0])
		return 2
	}
	src, note := g.source(fs)
	if note != "" {
		// serve's standard error is JSON records (the plan's logger
		// does not exist yet).
		slog.New(slog.NewJSONHandler(stderr, nil)).Info(note, "config", src.Path)
	}
	return serve(src, stdout, stderr, nil)
}

// serve loads the plan, refuses to start on any error finding, and runs the
// gateway until SIGTERM or SIGINT. ready, when not nil, is called once the
// gateway is built, before it serves (the demo prints its banner there).
func serve(src config.Source, stdout, stderr io.Writer, ready func(*config.Plan)) int {
	plan, findings := config.Load(src)
	if findings.HasErrors() {
		findings.Write(stderr)
		hint := "fix the errors above, then confirm with: " + checkCommand(src)
		if src.Data != nil {
			hint = "fix the flags above"
		}
		errorf(stderr, hint, "configuration refused")
		return 1
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: plan.LogLevel}))
	for _, f := range findings {
		logger.Warn("configuration warning", "where", f.Where, "key", f.Key, "message", f.Message, "hint", f.Hint)
	}
	v, _ := versionInfo()
	gwOpts := gateway.Options{Logger: logger, Stdout: stdout, Stderr: stderr, Version: v, Source: src}
	lns, err := activatedListeners()
	if err == nil {
		gwOpts.HTTPSListener, gwOpts.HTTPListener, err = pickActivated(lns)
	}
	if err != nil {
		errorf(stderr, "name the sockets of rampart.socket with FileDescriptorName=https and FileDescriptorName=http (see deploy/systemd/rampart.socket)", "%v", err)
		return 1
	}
	httpsAddr, httpAddr := plan.HTTPS, plan.HTTP
	if gwOpts.HTTPSListener != nil {
		httpsAddr = gwOpts.HTTPSListener.Addr().String()
		logger.Info("socket activation: serving HTTPS on the socket systemd passed", "https", httpsAddr, "listen.https", plan.HTTPS)
	}
	if gwOpts.HTTPListener != nil {
		httpAddr = gwOpts.HTTPListener.Addr().String()
		logger.Info("socket activation: serving the redirect on the socket systemd passed", "http", httpAddr, "listen.http", plan.HTTP)
	}
	gw, err := gateway.New(plan, gwOpts)
	if err != nil {
		errorf(stderr, "", "%v", err)
		return 1
	}
	// Bind before saying anything is served: a port in use or a
	// privileged port fails here, with who to ask.
	if err := gw.Listen(); err != nil {
		errorf(stderr, listenHint(err, plan), "%v", err)
		gw.Close()
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Fewer garbage collections under load, for at most DefaultFloor of
	// extra heap; see the package documentation.
	defer gcfloor.Start(gcfloor.DefaultFloor)()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, hup, gw.Reopen, func(ctx context.Context) error { return gw.ReloadConfig(ctx, src) }, logger)
	if ready != nil {
		ready(plan)
	}
	adminAddr := "off"
	if a := gw.AdminAddr(); a != nil {
		adminAddr = a.String()
	}
	logger.Info("rampart serving", "https", httpsAddr, "http", httpAddr, "admin", adminAddr, "upstream", plan.Proxy.Upstream.Redacted(), "hosts", plan.Hosts, "tls", plan.TLSMode())
	if err := gw.Run(ctx); err != nil {
		errorf(stderr, "", "%v", err)
		return 1
	}
	logger.Info("rampart stopped")
	return 0
}

// reloadOnHUP, for each signal on hup until ctx is done, reopens the log
// files (logrotate's postrotate sends SIGHUP) and reloads the
// configuration (gateway.ReloadConfig). signal.Stop does not close the
// channel, so without ctx the goroutine would outlive serve.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, reopen func() error, reload func(context.Context) error, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := reopen(); err != nil {
				logger.Error("SIGHUP: reopening log files failed", "error", err)
			}
			if err := reload(ctx); err != nil {
				logger.Error("SIGHUP: configuration not reloaded; the running one stays", "error", err)
			} else {
				logger.Info("SIGHUP: log files reopened, configuration reloaded")
			}
		}
	}
}

// listenHint says what to do about a listener that could not be opened.
func listenHint(err error, plan *config.Plan) string {
	var op *net.OpError
	addr := plan.HTTPS
	if errors.As(err, &op) && op.Addr != nil {
		addr = op.Addr.String()
	}
	_, port, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Sprintf("another program listens on %s; see which with: ss -ltnp 'sport = :%s' (or choose another address with --listen, --http-listen or --admin-listen)", addr, port)
	case errors.Is(err, syscall.EACCES):
		return fmt.Sprintf("ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: sudo setcap cap_net_bind_service=+ep %s (or systemd AmbientCapabilities=CAP_NET_BIND_SERVICE)", executable())
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Sprintf("no network interface of this machine has the address of %s", addr)
	}
	return ""
}

func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "rampart"
}

// activatedListeners returns the sockets systemd passed (socket
// activation); tests replace it.
var activatedListeners = listen.Activated

// pickActivated takes the HTTPS and HTTP listeners out of the sockets
// systemd passed, by their FileDescriptorName= ("https", "http"). Either
// may be nil: the gateway then opens the plan's address itself. A socket
// of any other name is refused (and every socket closed): serving it as
// neither would leave a port open that nothing answers.
func pickActivated(lns map[string]net.Listener) (https, http net.Listener, err error) {
	for name := range lns {
		if name != "https" && name != "http" {
			for _, ln := range lns {
				ln.Close()
			}
			return nil, nil, fmt.Errorf("socket activation: a socket named %q was passed; rampart serves sockets named https and http", name)
		}
	}
	return lns["https"], lns["http"], nil
}
