package proxy

import (
	"errors"
	"net"
	"net/http/httptest"
	"testing"
)

// A client that breaks its own request body (short of its declared
// length, malformed chunks, trickled until the read timeout) must not make
// the proxy blame, and alert on, the upstream.
func TestClassify_ClientBodyErrorsAreNotUpstreamFailures(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	short := &net.OpError{Op: "readfrom", Err: &clientBodyError{errors.New("request declared a Content-Length of 100 but only wrote 1 bytes")}}
	if got := Classify(r, short); got != ReasonBadRequest || got.Status() != 400 {
		t.Errorf("short body: %v %d", got, got.Status())
	}
	slow := &clientBodyError{&net.OpError{Op: "read", Err: timeoutErr{}}}
	if got := Classify(r, slow); got != ReasonClientTimeout || got.Status() != 408 {
		t.Errorf("slow body: %v %d", got, got.Status())
	}
}
