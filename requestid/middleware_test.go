package requestid

import (
	"encoding/base32"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, o Options, incoming ...string) (seen, upstream, response string) {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = FromRequest(r)
		upstream = r.Header.Get("X-Request-ID")
	}))
	r := httptest.NewRequest("GET", "/", nil)
	for _, v := range incoming {
		r.Header.Add("X-Request-ID", v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return seen, upstream, rec.Header().Get("X-Request-ID")
}

func always(*http.Request) bool { return true }

func TestRequestID_UntrustedClientCannotChooseID(t *testing.T) {
	for _, o := range []Options{{}, {TrustIncoming: func(*http.Request) bool { return false }}} {
		seen, up, resp := serve(t, o, "chosen-by-attacker")
		if seen == "chosen-by-attacker" || up == "chosen-by-attacker" || resp == "chosen-by-attacker" {
			t.Fatalf("untrusted id kept: %q %q %q", seen, up, resp)
		}
		if !Valid(seen) || seen != up || seen != resp {
			t.Fatalf("ids differ or invalid: %q %q %q", seen, up, resp)
		}
	}
}

func TestRequestID_TrustedProxyIDKept(t *testing.T) {
	seen, up, resp := serve(t, Options{TrustIncoming: always}, "lb-1234.abc_DEF")
	if seen != "lb-1234.abc_DEF" || up != seen || resp != seen {
		t.Fatalf("got %q %q %q", seen, up, resp)
	}
}

func TestRequestID_HostileIDFromTrustedProxyReplaced(t *testing.T) {
	for name, id := range map[string]string{
		"CRLFInjection":  "abc\r\nSet-Cookie: x=1",
		"LFLogForgery":   "abc\n{\"status\":200}",
		"TenKilobytes":   strings.Repeat("a", 10<<10),
		"JustOverMaxLen": strings.Repeat("a", MaxLen+1),
		"Empty":          "",
		"Space":          "a b",
		"Quote":          `a"b`,
		"NonASCII":       "idé",
		"HTML":           "<script>",
	} {
		t.Run(name, func(t *testing.T) {
			seen, _, resp := serve(t, Options{TrustIncoming: always}, id)
			if seen == id || resp == id || !Valid(seen) {
				t.Fatalf("hostile id %q kept (got %q)", id, seen)
			}
		})
	}
}

func TestRequestID_DuplicateHeaderLinesReplaced(t *testing.T) {
	seen, _, _ := serve(t, Options{TrustIncoming: always}, "first", "second")
	if seen == "first" || seen == "second" {
		t.Fatalf("appended id kept: %q", seen)
	}
}

func TestRequestID_MaxLenAccepted(t *testing.T) {
	id := strings.Repeat("a", MaxLen)
	if seen, _, _ := serve(t, Options{TrustIncoming: always}, id); seen != id {
		t.Fatal("id of MaxLen rejected")
	}
}

func TestRequestID_CustomHeader(t *testing.T) {
	m, err := New(Options{Header: "x-correlation-id", TrustIncoming: always})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Correlation-Id", "abc")
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
	if rec.Header().Get("X-Correlation-Id") != "abc" {
		t.Fatalf("response header = %q", rec.Header().Get("X-Correlation-Id"))
	}
	if _, err := New(Options{Header: "bad header\r\n"}); err == nil || !strings.Contains(err.Error(), "Header: ") {
		t.Fatalf("New(bad header) error = %v", err)
	}
}

func TestGenerate_ShapeAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := Generate()
		if len(id) != 26 || !Valid(id) {
			t.Fatalf("Generate() = %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestEncode_IsBase32(t *testing.T) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for _, b := range [][16]byte{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}} {
		if got, want := encode(&b), strings.ToLower(enc.EncodeToString(b[:])); got != want {
			t.Errorf("encode(%x) = %q, want %q", b, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("abc")
	f.Add("a\r\nb")
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) && (len(s) > MaxLen || strings.ContainsAny(s, "\r\n\"' <>\x00")) {
			t.Fatalf("Valid(%q) = true", s)
		}
	})
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Generate()
	}
}

func BenchmarkHandler(b *testing.B) {
	m, _ := New(Options{})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// The id replaces its header on every request and response: naming a
// header that frames, routes or authenticates the message would let the
// middleware rewrite a body's length or wipe every client's cookies.
func TestNew_HeaderThatAlreadyMeansSomethingRefused(t *testing.T) {
	for _, h := range []string{"Content-Length", "transfer-encoding", "Host", "Cookie", "Authorization", "Connection", "Set-Cookie"} {
		if _, err := New(Options{Header: h}); err == nil || !strings.Contains(err.Error(), "Header: ") {
			t.Errorf("header %q: err = %v", h, err)
		}
	}
	if _, err := New(Options{Header: "X-Correlation-Id"}); err != nil {
		t.Errorf("X-Correlation-Id refused: %v", err)
	}
}

// The request's and the response's values share one allocation: a handler
// that rewrites or extends one of them leaves the other as it was.
func TestRequestID_RequestAndResponseValuesIndependent(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id = FromRequest(r)
		r.Header["X-Request-Id"][0] = "rewritten-on-the-request"
		r.Header.Add("X-Request-Id", "added-to-the-request")
		w.Header().Add("X-Request-Id", "added-to-the-response")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Values("X-Request-Id"); len(got) != 2 || got[0] != id || got[1] != "added-to-the-response" {
		t.Fatalf("response values %q, want [%q added-to-the-response]", got, id)
	}
}

// Two of the middleware in one chain: the handlers inside the inner one
// see its id, those outside it (once next has returned) still see the
// outer one, as when each id had a context value of its own.
func TestRequestID_NestedMiddlewareKeepTheirOwnIDs(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var inner, outerAfter, headerInner string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner, headerInner = FromRequest(r), r.Header.Get(DefaultHeader)
		})).ServeHTTP(w, r)
		outerAfter = FromRequest(r)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if inner == "" || outerAfter == "" || inner == outerAfter {
		t.Fatalf("inner %q, outer after it %q: want two different ids", inner, outerAfter)
	}
	if headerInner != inner {
		t.Errorf("the inner handler's header says %q, its context %q", headerInner, inner)
	}
	if got := FromContext(NewContext(t.Context(), "x")); got != "x" {
		t.Errorf("FromContext(NewContext(x)) = %q", got)
	}
}
