package admin

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-dev/rampart/internal/tlsconf"
)

// readiness is /readyz's JSON answer.
type readiness struct {
	Status string `json:"status"` // "ready" or "not ready"
	// Failing names the failing checks, sorted, each with "failed" or
	// "timed out": the detail is in the server's log, not here.
	Failing map[string]string `json:"failing,omitempty"`
}

// readyz runs every check concurrently, each within CheckTimeout, and
// answers 200 when all pass, else 503 with the failing checks' names. The
// answer is plain text, or JSON when the client accepts
// application/json. Errors are logged when a check starts failing or its
// error changes, and when it recovers, not at every probe.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	checks := slices.Clone(s.checks)
	s.mu.Unlock()
	results := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), s.o.CheckTimeout)
			defer cancel()
			results[i] = runCheck(ctx, c.f)
		})
	}
	wg.Wait()
	out := readiness{Status: "ready"}
	for i, c := range checks {
		s.logChange(c.name, results[i])
		if results[i] == nil {
			continue
		}
		if out.Failing == nil {
			out.Failing = map[string]string{}
		}
		out.Failing[c.name] = "failed"
		if errors.Is(results[i], context.DeadlineExceeded) {
			out.Failing[c.name] = "timed out"
		}
	}
	code := http.StatusOK
	if out.Failing != nil {
		out.Status, code = "not ready", http.StatusServiceUnavailable
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(out)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if out.Failing == nil {
		fmt.Fprintln(w, "ok")
		return
	}
	fmt.Fprintln(w, "not ready")
	names := make([]string, 0, len(out.Failing))
	for n := range out.Failing {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s: %s\n", n, out.Failing[n])
	}
}

// runCheck runs f, turning a panic into an error and a check that ignores
// its context into a timeout.
func runCheck(ctx context.Context, f Check) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- f(ctx)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
		}
		return err
	case <-ctx.Done():
		return context.DeadlineExceeded
	}
}

func (s *Server) logChange(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, wasFailing := s.failed[name]
	switch {
	case err == nil && wasFailing:
		delete(s.failed, name)
		s.logger.Info("admin: readiness check passes again", "check", name)
	case err != nil && (!wasFailing || prev != err.Error()):
		s.failed[name] = err.Error()
		s.logger.Warn("admin: readiness check failing", "check", name, "err", err)
	}
}

// CheckDial is ready when a TCP connection to addr (host:port) opens
// within timeout (or the check's own deadline, if sooner). The connection
// is closed at once.
func CheckDial(addr string, timeout time.Duration) Check {
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// CheckUpstream is CheckDial to the host and port of an upstream URL
// (port 80 or 443 by its scheme when it names none). The URL's user
// information never appears in an error.
func CheckUpstream(u *url.URL, timeout time.Duration) Check {
	if u == nil {
		return func(context.Context) error { return errors.New("no upstream configured") }
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return CheckDial(host, timeout)
}

// CheckPing is ready when ping succeeds: a Redis client's Ping, or any
// other store's. It only names what failed; the store's error is kept for
// the log.
func CheckPing(what string, ping func(context.Context) error) Check {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return fmt.Errorf("%s unreachable: %w", what, err)
		}
		return nil
	}
}

// CheckCertificate is ready when leaf returns a certificate that is valid
// now (NotBefore ≤ now ≤ NotAfter).
func CheckCertificate(leaf func() *x509.Certificate) Check {
	return func(context.Context) error {
		return certValid("", leaf(), time.Now())
	}
}

// CheckLeaves is ready when every certificate leaves returns is valid now
// ((*tlsconf.Server).Leaves). A host without a certificate yet (ACME
// before its first handshake) is not a failure: the certificate is
// obtained when a client first asks for it, which a load balancer waiting
// for readiness would otherwise never let happen.
func CheckLeaves(leaves func(context.Context) []tlsconf.Leaf) Check {
	return func(ctx context.Context) error {
		now := time.Now()
		var errs []error
		for _, l := range leaves(ctx) {
			if err := certValid(l.Name, l.Cert, now); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

func certValid(name string, c *x509.Certificate, now time.Time) error {
	if name != "" {
		name = " for " + name
	}
	switch {
	case c == nil:
		return errors.New("no certificate" + name)
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate%s not valid before %s", name, c.NotBefore.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate%s expired at %s", name, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
