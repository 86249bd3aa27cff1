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
// Every listener is opened before any serves (see Server.Listen), so a port
// already in use fails Run before traffic is accepted. Run returns the
// first serve error, or nil after a shutdown asked for by ctx.
//
// Hijacked connections (WebSocket) are not tracked by http.Server.Shutdown;
// register a close function with HTTP.RegisterOnShutdown to end them.
func Run(ctx context.Context, servers ...*Server) error {
	if err := ListenAll(servers...); err != nil {
		return err
	}
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		lns[i] = s.limitConns(s.Listener)
	}
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.serve(lns[i])
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
			l := s.lane()
			if l != nil {
				l.beginShutdown()
			}
			if err := s.HTTP.Shutdown(sctx); err != nil {
				s.HTTP.Close()
			}
			if l != nil {
				l.wait(sctx)
			}
			if h := s.h2(); h != nil {
				h.wait(sctx)
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

// ListenAll opens every server's address (Server.Listen). On an error it
// closes all of their listeners, opened here or given, and returns it.
func ListenAll(servers ...*Server) error {
	for _, s := range servers {
		if err := s.Listen(); err != nil {
			for _, o := range servers {
				if o.Listener != nil {
					o.Listener.Close()
				}
			}
			return err
		}
	}
	return nil
}
