package proxy

import (
	"bytes"
	"io"
	"net/http"
)

// BodyBufferBytes is the size up to which a request body with a declared
// Content-Length is still read completely before the upstream is
// contacted when Options.InsecureStreamRequestBodies turns request
// buffering off (by default every body is buffered; see spool.go).
//
// Why: a proxied body is otherwise streamed to the upstream as the client
// sends it, so a client that declares a body and sends it slowly holds an
// upstream worker for as long as the listener's read timeout allows. A
// pre-forking application server (gunicorn's sync workers, the usual Flask
// and Django deployment) has a handful of workers; a few such clients a
// minute take the application down, which is why gunicorn's documentation
// insists on a buffering proxy in front. Form posts, logins and JSON API
// calls are far below this size and now reach the application only once
// complete. The buffer costs at most 16 KiB per request in flight.
const BodyBufferBytes = 16 << 10

// bufferBody reads r's body (of declared length n <= BodyBufferBytes) to
// its end and returns it in memory. Reading to the end, not just n bytes,
// lets the listener lift its body read deadline. The error is the client's.
func bufferBody(body io.Reader, n int64) (io.ReadCloser, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, &clientBodyError{err}
	}
	var one [1]byte
	if m, err := body.Read(one[:]); m != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF // longer than declared: cannot happen with net/http
		}
		return nil, &clientBodyError{err}
	}
	return io.NopCloser(bytes.NewReader(buf)), nil
}

// bufferSmallBody applies bufferBody to r when its body is small enough,
// answering the client's errors itself (ok false).
func (p *Proxy) bufferSmallBody(w http.ResponseWriter, r *http.Request) (ok bool) {
	if r.ContentLength <= 0 || r.ContentLength > BodyBufferBytes || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	b, err := bufferBody(r.Body, r.ContentLength)
	if err != nil {
		p.handleError(w, r, err)
		return false
	}
	r.Body = b
	return true
}
