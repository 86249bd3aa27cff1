package main

import (
	"net"
	"net/http"
	"time"
)

// page is the upstream's response: a small HTML document, about the size of
// a minimal server-rendered page, so the figures measure the proxy rather
// than the application or the copy of a large body.
const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>bench</title></head>
<body><main><h1>Hello</h1><p>A small page from a fast upstream, served through the proxy under test.</p>
<form method="post" action="/submit"><input name="message"><button>Send</button></form></main></body>
</html>
`

// startUpstream serves page on a loopback port and returns its address.
func startUpstream() (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Server", "bench-upstream")
			w.Write([]byte(page))
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go srv.Serve(l)
	return l.Addr().String(), func() { srv.Close() }, nil
}
