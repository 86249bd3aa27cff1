package ratelimit_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/accesslog"
)

// The decision reaches the access-log record, without the key.
func TestHandler_AnnotatesAccessLog(t *testing.T) {
	var buf bytes.Buffer
	al, err := accesslog.New(accesslog.Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	o := seedOpts()
	o.Rules[0].Limits[0].Burst = 0
	f := newFixture(t, o)
	h := al.Handler(f.h)
	for i := 0; i < 2; i++ {
		r := httptest.NewRequest("GET", "/api/x", nil)
		r.RemoteAddr = "192.0.2.1:1"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"ratelimit":"pass"`) ||
		!strings.Contains(lines[1], `"ratelimit":"reject"`) || !strings.Contains(lines[1], `"ratelimit_zone":"api"`) {
		t.Errorf("access log:\n%s", buf.String())
	}
}
