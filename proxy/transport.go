package proxy

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// newTransport builds the upstream transport from o's timeouts and pool
// size.
//
//   - Proxy is nil: HTTP_PROXY and friends in rampart's environment must
//     not divert traffic meant for the application.
//   - DisableCompression: net/http would otherwise ask the upstream for
//     gzip and decompress it, changing the body and its headers behind
//     the application's back; the client's Accept-Encoding passes as is.
//   - One upstream host, so the per-host idle pool is the whole pool.
func newTransport(o *Options) *http.Transport {
	dialer := &net.Dialer{
		Timeout:   orDefaultDuration(o.DialTimeout, DefaultDialTimeout),
		KeepAlive: 30 * time.Second,
	}
	idle := orDefault(o.MaxIdleConns, DefaultMaxIdleConns)
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    orDefaultDuration(o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  orDefaultDuration(o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		IdleConnTimeout:        orDefaultDuration(o.IdleConnTimeout, DefaultIdleConnTimeout),
		ExpectContinueTimeout:  1 * time.Second,
		MaxIdleConns:           idle,
		MaxIdleConnsPerHost:    idle,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	if o.TLSClientConfig != nil {
		t.TLSClientConfig = o.TLSClientConfig.Clone()
	}
	return t
}

func orDefaultDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies response
// bodies through; without it each request allocates one. The pool holds
// array pointers, which convert to and from slices without allocating.
type bufferPool struct{}

const bufSize = 32 << 10

var buffers = sync.Pool{New: func() any { return new([bufSize]byte) }}

func (bufferPool) Get() []byte { return buffers.Get().(*[bufSize]byte)[:] }

func (bufferPool) Put(b []byte) {
	if cap(b) != bufSize {
		return
	}
	buffers.Put((*[bufSize]byte)(b[:bufSize]))
}
