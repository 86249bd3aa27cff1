package seclog

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// A request path carrying a C1 CSI (U+009B), a bidi override (U+202E), an
// ANSI escape and invalid UTF-8 must reach the log as '?', and a huge path
// must be cut, so that a log line neither drives the reader's terminal nor
// reads differently than it is, nor floods the log.
func TestEvent_TerminalAndBidiInjectionInRequestFields(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	r := httptest.NewRequest("GET", "https://app.example/", nil)
	r.URL.Path = "/a\u009b2J\u202eevil\x1b[31m\xff" + strings.Repeat("A", 10000)
	r.Method = "G\u202eET"
	l.Event(context.Background(), r, slog.LevelWarn, AuthnLoginFail, "test")
	out := buf.String()
	for _, bad := range []string{"\u009b", "\u202e", "\ufffd"} {
		if strings.Contains(out, bad) {
			t.Errorf("%U reached the log: %s", []rune(bad)[0], out)
		}
	}
	if len(out) > maxPath+512 {
		t.Errorf("path not bounded: %d bytes", len(out))
	}
	if !strings.Contains(out, `"path":"/a?2J?evil?[31m?AAA`) {
		t.Errorf("unexpected path rendering: %.200s", out)
	}
}

func TestClean_PlainASCIIUnchanged(t *testing.T) {
	if got := Clean("/api/x?y", 100); got != "/api/x?y" {
		t.Errorf("clean = %q", got)
	}
}
