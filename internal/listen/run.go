package listen

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Run serves every server until ctx is done or one of them fails, then
// shuts them all down gracefully: listeners close at once, in-flight
// requests get up to each server's ShutdownTimeout to finish, and
// connections still open after that are closed. The caller wires SIGTERM
// and SIGINT into ctx (signal.NotifyContext).
//
// Each listener, opened here or given in Server.Listener, is wrapped in
// the server's per-client connection cap (LimitPerClient).
//
// Every listener is opened before any serves, so a port already in use
// fails Run before traffic is accepted. Run returns the first serve error,
// or nil after a shutdown asked for by ctx.
//
// Hijacked connections (WebSocket) are not tracked by http.Server.Shutdown;
// register a close function with HTTP.RegisterOnShutdown to end them.
func Run(ctx context.Context, servers ...*Server) error {
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		lns[i] = s.Listener
		if lns[i] != nil {
			continue
		}
		ln, err := net.Listen("tcp", s.HTTP.Addr)
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			for _, s := range servers[i+1:] {
				if s.Listener != nil {
					s.Listener.Close()
				}
			}
			return err
		}
		lns[i] = ln
	}
	for i, s := range servers {
		lns[i] = s.limitConns(lns[i])
	}
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if s.HTTP.TLSConfig != nil {
				err = s.HTTP.ServeTLS(lns[i], "", "")
			} else {
				err = s.HTTP.Serve(lns[i])
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	var sd sync.WaitGroup
	for _, s := range servers {
		sd.Add(1)
		go func() {
			defer sd.Done()
			d := s.ShutdownTimeout
			if d <= 0 {
				d = DefaultShutdownTimeout
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
			defer cancel()
			if err := s.HTTP.Shutdown(sctx); err != nil {
				s.HTTP.Close()
			}
		}()
	}
	sd.Wait()
	wg.Wait()
	close(errc)
	if first == nil {
		for err := range errc {
			if err != nil {
				first = err
				break
			}
		}
	}
	return first
}
