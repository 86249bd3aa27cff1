package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/safe"
	"github.com/rampart-dev/rampart/seclog"
)

// deceptive lists characters that make a log line read differently than
// it is (terminal control, reordering, hidden text, line breaks, bytes
// each reader repairs its own way), each with what both log streams must
// show instead.
var deceptive = []struct{ name, in, want string }{
	{"C1 CSI", "\u009b31m", "?31m"},
	{"C1 NEL", "a\u0085b", "a?b"},
	{"DEL", "a\x7fb", "a?b"},
	{"ESC sequence", "\x1b[2J\x1b]0;t\x07", "?[2J?]0;t?"},
	{"NUL", "a\x00b", "a?b"},
	{"CR LF", "a\r\n{\"forged\":1}", "a??{\"forged\":1}"},
	{"TAB", "a\tb", "a?b"},
	{"bidi override RLO", "user\u202egnp.exe", "user?gnp.exe"},
	{"bidi embeddings LRE RLE PDF LRO", "\u202a\u202b\u202c\u202d", "????"},
	{"bidi isolates LRI RLI FSI PDI", "\u2066\u2067\u2068\u2069", "????"},
	{"zero width space", "ad\u200bmin", "ad?min"},
	{"LRM RLM ALM", "\u200e\u200f\u061c", "???"},
	{"ZWNJ ZWJ WJ BOM", "\u200c\u200d\u2060\ufeff", "????"},
	{"soft hyphen", "ad\u00admin", "ad?min"},
	{"tag characters", "a\U000E0041\U000E007F", "a??"},
	{"line and paragraph separators", "a\u2028b\u2029c", "a?b?c"},
	{"invalid UTF-8", "a\xff\xfeb", "a??b"},
	{"truncated sequence", "a\xe2\x80", "a??"},
	{"overlong slash", "/..\xc0\xaf", "/..??"},
	{"overlong three bytes", "\xe0\x80\xaf", "???"},
	{"encoded surrogate", "\xed\xa0\x80", "???"},
	{"replacement character", "a\ufffdb", "a?b"},
	{"plain text kept", "Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)"},
	{"non-ASCII text kept", "café 日本 😀", "café 日本 😀"},
}

// TestAttack_LogForgingSameInBothStreams: every deceptive character a
// client can put in a request reaches the access log and the security
// log replaced the same way, in the fields both record (method, host) and
// in a value a later stage adds (a user name from an identity header):
// one cleaning for both streams, so no character passes through one that
// the other stops.
func TestAttack_LogForgingSameInBothStreams(t *testing.T) {
	for _, tc := range deceptive {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Method = "GET" + tc.in
			r.Host = "app.example" + tc.in
			user := "alice" + tc.in

			var sec bytes.Buffer
			events := seclog.New(slog.New(slog.NewJSONHandler(&sec, nil)))
			access := logOne(t, Options{}, func(_ http.ResponseWriter, r *http.Request) {
				AddAttrs(r, slog.String("user", user))
				events.Event(context.Background(), r, slog.LevelWarn, seclog.AuthnLoginFail, "test", slog.String("user", user))
			}, r)
			streams := map[string]map[string]any{"access log": decode(t, access), "security log": decode(t, sec.String())}
			// The security log names its fields the Elastic Common
			// Schema way; the access log keeps its short names.
			names := map[string]map[string]string{
				"access log":   {"method": "method", "host": "host", "user": "user"},
				"security log": {"method": "http.request.method", "host": "url.domain", "user": "user.name"},
			}
			for name, m := range streams {
				for field, want := range map[string]string{"method": "GET" + tc.want, "host": "app.example" + tc.want, "user": "alice" + tc.want} {
					if got := m[names[name][field]]; got != want {
						t.Errorf("%s: %s = %q, want %q", name, field, got, want)
					}
				}
			}
		})
	}
}

// FuzzLogCleaningSameInBothStreams: for any value, the access log and the
// security log record the same cleaned string, which is what safe.Clean
// returns, valid UTF-8 and free of every character it removes.
func FuzzLogCleaningSameInBothStreams(f *testing.F) {
	for _, tc := range deceptive {
		f.Add(tc.in)
	}
	f.Add(strings.Repeat("é", 300) + "\u202e")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/", nil)
		var sec bytes.Buffer
		events := seclog.New(slog.New(slog.NewJSONHandler(&sec, nil)))
		access := logOne(t, Options{}, func(_ http.ResponseWriter, r *http.Request) {
			AddAttrs(r, slog.String("user", v))
			events.Event(context.Background(), r, slog.LevelWarn, seclog.AuthnLoginFail, "test", slog.String("user", v))
		}, r)
		var a, s map[string]any
		if err := json.Unmarshal([]byte(access), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sec.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		au, su := a["user"].(string), s["user.name"].(string)
		// The two streams bound an added value differently (512 and
		// 1024 bytes); within the shorter bound they must agree.
		if want := safe.Clean(v, maxAttr); au != want {
			t.Fatalf("access log: %q, want %q", au, want)
		}
		if want := safe.Clean(v, 1024); su != want {
			t.Fatalf("security log: %q, want %q", su, want)
		}
		if len(v) <= maxAttr && au != su {
			t.Fatalf("streams differ: access %q, security %q", au, su)
		}
	})
}
