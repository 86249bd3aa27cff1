package secheaders

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func injectPolicy(t *testing.T) *Middleware {
	return mustNew(t, Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true, Directives: []string{"script-src", "style-src"}, InjectHTML: true}}})
}

// TestInjectHTML_Streaming: tags split across writes are rewritten, raw text
// inside a script is left alone, an existing nonce is kept, and the
// Content-Length the application computed is dropped.
func TestInjectHTML_Streaming(t *testing.T) {
	m := injectPolicy(t)
	chunks := []string{
		"<!doctype html><html><head><sty", "le>p{}</style><scr", "ipt src=/a.js></script>",
		"<SCRIPT type=module>let s = \"<script>\"; if (a<b) {}</SCRIPT>",
		"<script nonce=\"theirs\">x()</script><p>caf\xc3", "\xa9 <b>bold</b></p>",
	}
	total := 0
	for _, c := range chunks {
		total += len(c)
	}
	var nonce string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce = Nonce(r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", "1234")
		for _, c := range chunks {
			io.WriteString(w, c)
			w.(http.Flusher).Flush()
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	n := ` nonce="` + nonce + `"`
	want := "<!doctype html><html><head><style" + n + ">p{}</style><script" + n + " src=/a.js></script>" +
		"<SCRIPT" + n + " type=module>let s = \"<script>\"; if (a<b) {}</SCRIPT>" +
		"<script nonce=\"theirs\">x()</script><p>caf\xc3\xa9 <b>bold</b></p>"
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n got %q\nwant %q", got, want)
	}
	if rec.Header().Get("Content-Length") != "" {
		t.Error("Content-Length kept after rewriting")
	}
}

// failingWriter is a client that went away after the headers.
type failingWriter struct{ *httptest.ResponseRecorder }

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestInjectHTML_ClientGoneStopsHandler: when writing to the client fails,
// the handler's writes fail too, so it stops producing the body (a reverse
// proxy stops reading the upstream) instead of being told all is well.
func TestInjectHTML_ClientGoneStopsHandler(t *testing.T) {
	m := injectPolicy(t)
	var errs []error
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		for range 3 {
			_, err := io.WriteString(w, "<p>chunk</p>")
			errs = append(errs, err)
		}
	}))
	h.ServeHTTP(failingWriter{httptest.NewRecorder()}, httptest.NewRequest("GET", "/", nil))
	if errs[len(errs)-1] == nil {
		t.Errorf("handler writes after the client left: %v, want an error", errs)
	}
}

// TestInjectHTML_SkipsCompressedAndNonHTML: compressed and non-HTML bodies
// pass through byte for byte.
func TestInjectHTML_SkipsCompressedAndNonHTML(t *testing.T) {
	m := injectPolicy(t)
	body := "<script>x()</script>"
	for _, hdr := range []map[string]string{
		{"Content-Type": "text/html", "Content-Encoding": "gzip"},
		{"Content-Type": "application/json"},
		{"Content-Type": "text/plain"},
	} {
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			io.WriteString(w, body)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Body.String() != body {
			t.Errorf("%v: body rewritten to %q", hdr, rec.Body.String())
		}
	}
}

// TestInjectHTML_HandlerAbort: a handler that aborts mid-body does not leave
// the rewriter goroutine behind or write after the handler returned.
func TestInjectHTML_HandlerAbort(t *testing.T) {
	m := injectPolicy(t)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<p>partial <scr")
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() { recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
}

func TestInjectHTML_EmptyAndHead(t *testing.T) {
	m := injectPolicy(t)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
	}))
	for _, method := range []string{"GET", "HEAD"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
		if rec.Code != 200 || rec.Body.Len() != 0 || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "nonce-") {
			t.Errorf("%s: %d %q", method, rec.Code, rec.Body.String())
		}
	}
}

// FuzzInjectHTML: whatever HTML the application sends, in whatever chunks,
// the rewriter only ever adds the nonce attribute: removing it gives back
// the exact input.
func FuzzInjectHTML(f *testing.F) {
	f.Add("<script>a<b</script><style>x</style>", uint8(3))
	f.Add("<!-- <script> --><p a='<script>'>", uint8(1))
	f.Add("<scr<script/><SCRIPT\tsrc=x>", uint8(7))
	f.Add("<textarea><script></textarea><script nonce=a>", uint8(2))
	m, err := New(Policy{CSP: CSP{Nonce: NonceOptions{Enabled: true, InjectHTML: true}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, chunk uint8) {
		size := int(chunk)%16 + 1
		var nonce string
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			nonce = Nonce(r)
			w.Header().Set("Content-Type", "text/html")
			for i := 0; i < len(body); i += size {
				io.WriteString(w, body[i:min(i+size, len(body))])
			}
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if got := strings.ReplaceAll(rec.Body.String(), ` nonce="`+nonce+`"`, ""); got != body {
			t.Fatalf("rewriter changed more than the nonce:\n in %q\nout %q", body, rec.Body.String())
		}
	})
}
