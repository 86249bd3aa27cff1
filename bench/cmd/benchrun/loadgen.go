package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// benchrun's own load generators, for what wrk and h2load cannot measure:
//
//   - new TLS connections: wrk and h2load both resume the TLS session when
//     they reconnect (a server counting tls.ConnectionState.DidResume sees
//     every connection after the first resumed), so "Connection: close"
//     with either measures resumed handshakes, without the certificate
//     signature a new client costs. handshakeLoad never resumes.
//   - latency at a fixed rate: a closed-loop tool waits for an answer before
//     it sends the next request, so a stalled server also stalls the clock
//     (coordinated omission) and its stall hides in a few slow samples.
//     h2load --rps queues the late requests and times them from when it
//     actually sends them. fixedRateLoad times every request from the moment
//     the schedule says it should have been sent.
//
// Both speak HTTP/1.1 over TLS 1.3 with X25519 only, as wrk and h2load
// (OpenSSL 3.0) negotiate: Go's client would otherwise offer the hybrid
// X25519MLKEM768 key exchange, which rampart and the bare Go proxy accept and
// nginx (OpenSSL 3.0) and Caddy 2.6 do not, and the handshake figures would
// compare different work.

// genTimeout bounds each connection attempt and each request, as wrk's
// --timeout 10s does.
const genTimeout = 10 * time.Second

// genTarget is where the generators connect: always 127.0.0.1, whatever the
// URL's host name resolves to, so the load stays on loopback.
type genTarget struct {
	addr      string // 127.0.0.1:port
	host      string // TLS server name
	keepalive []byte // a request on a kept-alive connection
	close     []byte // the same request with "Connection: close"
}

func newGenTarget(rawURL string) (genTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return genTarget{}, err
	}
	if u.Scheme != "https" || u.Port() == "" {
		return genTarget{}, fmt.Errorf("load generator: %s: want https://host:port/path", rawURL)
	}
	req := func(extra string) []byte {
		return []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + extra + "\r\n")
	}
	return genTarget{
		addr:      net.JoinHostPort("127.0.0.1", u.Port()),
		host:      u.Hostname(),
		keepalive: req(""),
		close:     req("Connection: close\r\n"),
	}, nil
}

// genTLSConfig is a fresh client configuration per connection, with no
// session cache, so every handshake is a full one.
func genTLSConfig(host string) *tls.Config {
	return &tls.Config{
		ServerName: host,
		// As wrk and h2load: the load does not verify the chain (benchrun's
		// sanity check did, against the run's CA, before measuring). The
		// handshake's signature is still checked against the leaf's key.
		InsecureSkipVerify: true,
		NextProtos:         []string{"http/1.1"},
		CurvePreferences:   []tls.CurveID{tls.X25519},
	}
}

// genConn is one HTTP/1.1 connection over TLS.
type genConn struct {
	c  *tls.Conn
	br *bufio.Reader
}

func dialGen(ctx context.Context, g genTarget) (*genConn, error) {
	ctx, cancel := context.WithTimeout(ctx, genTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", g.addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, genTLSConfig(g.host))
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return &genConn{c: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

func (gc *genConn) Close() error { return gc.c.Close() }

// errNotPage marks an answer with a 2xx status but a body other than the
// upstream's page: something else answered.
var errNotPage = errors.New("2xx answer without the upstream's page")

// roundTrip sends req and reads the whole response. It returns the status
// code, or an error if the connection failed or the answer was not the
// upstream's page; reuse says whether the connection can carry another
// request.
func (gc *genConn) roundTrip(req []byte) (status int, reuse bool, err error) {
	gc.c.SetDeadline(time.Now().Add(genTimeout))
	if _, err := gc.c.Write(req); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(gc.br, nil)
	if err != nil {
		return 0, false, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(page))+1))
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, false, err
	}
	if resp.StatusCode/100 == 2 && !bytes.Equal(body, []byte(page)) {
		return resp.StatusCode, false, errNotPage
	}
	return resp.StatusCode, !resp.Close, nil
}

// genStats gathers what the workers of one run saw.
type genStats struct {
	mu        sync.Mutex
	latencies []time.Duration // of answered requests (any status)
	non2xx3xx int64
	failed    int64
	firstErr  error
}

func (s *genStats) add(lat []time.Duration, non2xx3xx, failed int64, firstErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = append(s.latencies, lat...)
	s.non2xx3xx += non2xx3xx
	s.failed += failed
	if s.firstErr == nil {
		s.firstErr = firstErr
	}
}

// result turns the run's figures into a row; elapsed is the measured time.
func (s *genStats) result(elapsed time.Duration) result {
	r := result{
		Requests:  int64(len(s.latencies)),
		Non2xx3xx: s.non2xx3xx,
		Failed:    s.failed,
	}
	if elapsed > 0 {
		r.PerSec = float64(len(s.latencies)) / elapsed.Seconds()
	}
	setPercentiles(&r, s.latencies)
	if s.firstErr != nil {
		r.FirstErr = s.firstErr.Error()
	}
	return r
}

// worker accumulates one goroutine's figures without locking.
type worker struct {
	lat               []time.Duration
	non2xx3xx, failed int64
	firstErr          error
}

func (w *worker) record(lat time.Duration, status int, err error) {
	switch {
	case err != nil && status == 0:
		w.failed++
	case err != nil:
		w.lat = append(w.lat, lat)
		w.failed++
	default:
		w.lat = append(w.lat, lat)
		if status < 200 || status > 399 {
			w.non2xx3xx++
		}
	}
	if err != nil && w.firstErr == nil {
		w.firstErr = err
	}
}

// handshakeLoad runs clients concurrent loops, each making one request per
// new connection (TCP connect, full TLS handshake, GET with Connection:
// close, read the answer, close), first for warmup unmeasured, then, after
// mark, for d. Latency runs from the start of the connect to the end of the
// answer.
func handshakeLoad(ctx context.Context, g genTarget, clients int, warmup, d time.Duration, mark func()) result {
	if warmup > 0 {
		closedLoop(ctx, g, clients, warmup)
	}
	mark()
	s, elapsed := closedLoop(ctx, g, clients, d)
	return s.result(elapsed)
}

func closedLoop(ctx context.Context, g genTarget, clients int, d time.Duration) (*genStats, time.Duration) {
	var s genStats
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w worker
			// Each loop makes at least one connection, however short d.
			for first := true; ctx.Err() == nil && (first || time.Now().Before(end)); first = false {
				t0 := time.Now()
				gc, err := dialGen(ctx, g)
				if err != nil {
					w.record(0, 0, err)
					// A refusing target would otherwise spin this loop.
					sleepCtx(ctx, 10*time.Millisecond)
					continue
				}
				status, _, err := gc.roundTrip(g.close)
				gc.Close()
				w.record(time.Since(t0), status, err)
			}
			s.add(w.lat, w.non2xx3xx, w.failed, w.firstErr)
		}()
	}
	wg.Wait()
	return &s, time.Since(start)
}

// fixedRateLoad sends rate requests per second on conns kept-alive
// connections, opened (and their handshakes done) before the clock starts:
// first for warmup unmeasured, then, after mark, for d.
//
// Request i is due at start + i/rate, whatever happened before it: the
// schedule is open-loop. Its latency is measured from that due time, not
// from when it could actually be sent, so when every connection is busy with
// a stalled request, the requests that wait behind them count their wait:
// a 100 ms stall at 2000 req/s shows as 200 slow requests, not one. The
// generator's own lateness (a timer firing late on a loaded machine) counts
// too, the same for every target.
func fixedRateLoad(ctx context.Context, g genTarget, rate, conns int, warmup, d time.Duration, mark func()) (result, error) {
	pool := make([]*genConn, conns)
	defer func() {
		for _, gc := range pool {
			if gc != nil {
				gc.Close()
			}
		}
	}()
	for i := range pool {
		gc, err := dialGen(ctx, g)
		if err != nil {
			return result{}, fmt.Errorf("connecting %d of %d: %v", i+1, conns, err)
		}
		pool[i] = gc
	}
	if warmup > 0 {
		openLoop(ctx, g, pool, rate, warmup)
	}
	mark()
	s, elapsed := openLoop(ctx, g, pool, rate, d)
	return s.result(elapsed), nil
}

// dueAt is when request i of a schedule at rate per second is due.
func dueAt(start time.Time, i int64, rate int) time.Time {
	return start.Add(time.Duration(i * int64(time.Second) / int64(rate)))
}

// openLoop runs the schedule of rate*d requests on pool's connections (one
// goroutine each, a failed connection is redialled). Each goroutine takes
// the next request of the schedule as soon as it is free, waits until that
// request is due (unless it is already late) and sends it. Requests still
// unsent genTimeout after the schedule's end are counted as failed.
func openLoop(ctx context.Context, g genTarget, pool []*genConn, rate int, d time.Duration) (*genStats, time.Duration) {
	n := int64(d) * int64(rate) / int64(time.Second)
	var next atomic.Int64
	var s genStats
	var wg sync.WaitGroup
	start := time.Now()
	giveUp := start.Add(d + genTimeout)
	for k := range pool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w worker
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= n {
					break
				}
				due := dueAt(start, i, rate)
				if wait := time.Until(due); wait > 0 {
					sleepCtx(ctx, wait)
				}
				if time.Now().After(giveUp) {
					// This request, and every one nobody has taken yet.
					w.record(0, 0, fmt.Errorf("not sent: requests still queued %s after the schedule's end", genTimeout))
					if unclaimed := next.Swap(n); unclaimed < n {
						w.failed += n - unclaimed
					}
					break
				}
				if pool[k] == nil {
					gc, err := dialGen(ctx, g)
					if err != nil {
						w.record(0, 0, err)
						continue
					}
					pool[k] = gc
				}
				status, reuse, err := pool[k].roundTrip(g.keepalive)
				w.record(time.Since(due), status, err)
				if !reuse {
					pool[k].Close()
					pool[k] = nil
				}
			}
			s.add(w.lat, w.non2xx3xx, w.failed, w.firstErr)
		}()
	}
	wg.Wait()
	return &s, time.Since(start)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// setPercentiles sets r's p50, p99, p99.9 and maximum from lat (which it
// sorts), by the nearest-rank method: pN is the smallest sample that at
// least N% of the samples do not exceed. With fewer than 1000 samples p99.9
// is the maximum.
func setPercentiles(r *result, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.P50 = nearestRank(lat, 50)
	r.P99 = nearestRank(lat, 99)
	r.P999 = nearestRank(lat, 99.9)
	r.Max = lat[len(lat)-1]
}

// nearestRank returns the pth percentile of the sorted, non-empty samples.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	// In thousandths, so that 99.9 is exact: rank = ceil(p/100 * n).
	perMille := int64(p*10 + 0.5)
	rank := (perMille*int64(len(sorted)) + 999) / 1000
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}
