package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// The "stdlib" target is the floor under rampart: crypto/tls, net/http and
// httputil.ReverseProxy with upstream keep-alive, and nothing else (no
// request id, logs, headers or limits). rampart minus stdlib is what
// rampart's own stages cost; stdlib minus nginx is what Go's TLS and HTTP
// stack costs. It runs as a separate benchrun process so that its CPU time
// and memory are measured apart from the upstream's.

// serveBaseline is benchrun's -serve-stdlib mode.
func serveBaseline(listen, upstream, certFile, keyFile string) error {
	u, err := url.Parse("http://" + upstream)
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.SetXForwarded()
		},
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	srv := &http.Server{
		Addr:              listen,
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return srv.ListenAndServeTLS(certFile, keyFile)
}

func startBaseline(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-stdlib", addr, "-upstream", upstream, "-cert", certFile, "-key", keyFile)
	t, err := startChild(ctx, cmd, "stdlib", filepath.Join(dir, "stdlib.log"), addr, c.host, c.path)
	if err != nil {
		return nil, fmt.Errorf("stdlib proxy: %w", err)
	}
	t.version = "stdlib: httputil.ReverseProxy, " + runtime.Version()
	return t, nil
}

// baselineFlags holds benchrun's -serve-stdlib mode flags.
type baselineFlags struct{ listen, upstream, cert, key string }

func (b baselineFlags) run() error {
	if b.upstream == "" || b.cert == "" || b.key == "" {
		return errors.New("-serve-stdlib needs -upstream, -cert and -key")
	}
	return serveBaseline(b.listen, b.upstream, b.cert, b.key)
}
