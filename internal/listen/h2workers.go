package listen

import (
	"net/http"
	"sync"
)

// h2Workers runs the HTTP/2 server's handlers on goroutines kept from one
// request to the next. A goroutine started for each request begins with a
// small stack that the pipeline outgrows: growStack made it grow once, at
// the start, but that growth (a new stack, the old one copied, 8 KiB
// zeroed) was still 6% of the gateway's CPU over HTTP/2 (bench/cmd/profile
// -proto h2). A worker's stack stays grown between requests.
//
// A stream's handler goes to the worker that finished last, if one is
// idle, else to a new one. At most maxIdleH2Workers wait; the others end
// after their request. close ends the idle ones and those that finish
// after it.
type h2Workers struct {
	mu     sync.Mutex
	idle   []*h2Worker // the last to finish last
	closed bool
	// serve runs a job; nil: its handler on its connection (a test's
	// stub otherwise).
	serve func(h2Job)
}

// maxIdleH2Workers bounds the workers kept waiting, each with a stack of
// 16 or 32 KiB, which the collector shrinks while it stays idle: at most
// 8 MiB just after a burst of requests. A load of more concurrent
// requests than that starts goroutines for the rest, as before.
const maxIdleH2Workers = 256

type h2Worker struct {
	jobs chan h2Job // one job at most: run hands over one to a worker it took from idle
}

type h2Job struct {
	hc  *h2Conn
	w   *h2Writer
	req *http.Request
	h   http.Handler
}

// run runs j's handler on a worker.
func (p *h2Workers) run(j h2Job) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		wk := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		wk.jobs <- j
		return
	}
	p.mu.Unlock()
	go (&h2Worker{jobs: make(chan h2Job, 1)}).loop(p, j)
}

func (wk *h2Worker) loop(p *h2Workers, j h2Job) {
	growStack(0)
	for {
		if p.serve != nil {
			p.serve(j)
		} else {
			j.hc.runHandler(j.w, j.req, j.h)
		}
		j = h2Job{} // nothing of the request is kept while idle
		if !p.park(wk) {
			return
		}
		var ok bool
		if j, ok = <-wk.jobs; !ok {
			return
		}
	}
}

// park puts wk back among the idle workers; false when it is to end.
func (p *h2Workers) park(wk *h2Worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdleH2Workers {
		return false
	}
	p.idle = append(p.idle, wk)
	return true
}

// close ends the idle workers, and the others as they finish.
func (p *h2Workers) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, wk := range idle {
		close(wk.jobs)
	}
}
