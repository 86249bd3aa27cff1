package nginx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Server is an nginx started by Start, running in the foreground as a child
// of this process.
type Server struct {
	// Prefix is the directory holding nginx.conf, the pid file and logs.
	Prefix string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // the result of cmd.Wait, valid once done is closed
}

// Start renders p into p.Prefix/nginx.conf, starts the nginx binary at
// nginxPath with that prefix and configuration, and returns once both
// listeners accept connections, nginx exits, or ctx is done (nginx is then
// stopped). It never touches /etc/nginx or the system's pid file.
func Start(ctx context.Context, nginxPath string, p Params) (*Server, error) {
	conf, err := Render(p)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(p.Prefix, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, err
	}
	errLog := filepath.Join(p.Prefix, "error.log")
	cmd := exec.Command(nginxPath, "-p", p.Prefix+"/", "-c", confPath, "-e", errLog)
	out, err := os.Create(filepath.Join(p.Prefix, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Prefix: p.Prefix, cmd: cmd, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()

	for _, addr := range []string{p.HTTPSAddr, p.HTTPAddr} {
		if err := s.waitListening(ctx, addr); err != nil {
			s.Stop()
			return nil, fmt.Errorf("nginx: %w\n%s", err, s.logs())
		}
	}
	return s, nil
}

// Pid returns the process id of nginx's master process.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop asks nginx to shut down (SIGTERM, a fast shutdown), kills it if it
// has not exited after five seconds, and waits for it.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

func (s *Server) waitListening(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited before listening on %s: %v", addr, s.err)
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logs returns what nginx wrote to its error log and stderr, for errors.
func (s *Server) logs() string {
	var all []byte
	for _, name := range []string{"stderr.log", "error.log"} {
		b, err := os.ReadFile(filepath.Join(s.Prefix, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			continue
		}
		all = append(all, b...)
	}
	return string(all)
}
