package proxy

import (
	"errors"
	"io"
	"net"
)

// clientBody marks the errors of reading the client's request body, so that
// Classify can tell them from the upstream's failures. The transport
// reports both the same way (the request could not be sent), and without
// the mark a client could, at will, make rampart answer 502 or 504 and log
// "upstream unavailable" at error level with a security event: by ending an
// HTTP/2 stream short of its declared content-length, by sending a
// malformed chunked body, or by trickling the body until the listener's
// read timeout fires.
type clientBody struct{ io.ReadCloser }

// clientBodyError is an error of the client's request body.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string {
	return "reading the client's request body: " + e.err.Error()
}
func (e *clientBodyError) Unwrap() error { return e.err }

func (b clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err}
	}
	return n, err
}

// clientBodyReason is the reason for a failure caused by the client's body,
// and whether err is one.
func clientBodyReason(err error) (Reason, bool) {
	var cbe *clientBodyError
	if !errors.As(err, &cbe) {
		return 0, false
	}
	var ne net.Error
	if errors.As(cbe.err, &ne) && ne.Timeout() {
		return ReasonClientTimeout, true
	}
	return ReasonBadRequest, true
}
