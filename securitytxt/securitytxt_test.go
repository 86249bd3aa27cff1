package securitytxt

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/field"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func full() Options {
	return Options{
		Contact:            []string{"mailto:security@example.com", "https://example.com/security", "tel:+1-201-555-0123"},
		Expires:            t0.Add(180 * 24 * time.Hour),
		Encryption:         []string{"https://example.com/pgp-key.txt", "openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f"},
		Acknowledgments:    []string{"https://example.com/hall-of-fame"},
		PreferredLanguages: []string{"en", "fr", "pt-BR"},
		Canonical:          []string{"https://example.com/.well-known/security.txt"},
		Policy:             []string{"https://example.com/disclosure"},
		Hiring:             []string{"https://example.com/jobs"},
	}
}

func TestNew_Golden(t *testing.T) {
	f, err := newAt(full(), func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/full.golden"
	if *update {
		os.WriteFile(golden, f.Body(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Body(), want) {
		t.Errorf("body:\n%s\nwant:\n%s", f.Body(), want)
	}
}

// What New writes, Parse reads back field for field.
func TestNew_RoundTrip(t *testing.T) {
	o := full()
	f, err := newAt(o, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	p := Parse(f.Body())
	if len(p.Problems) > 0 {
		t.Fatalf("problems: %v", p.Problems)
	}
	exp, err := p.Expires()
	if err != nil || !exp.Equal(o.Expires) {
		t.Errorf("Expires = %v, %v", exp, err)
	}
	for name, want := range map[string][]string{"Contact": o.Contact, "Encryption": o.Encryption, "Acknowledgments": o.Acknowledgments,
		"Canonical": o.Canonical, "Policy": o.Policy, "Hiring": o.Hiring, "Preferred-Languages": {"en, fr, pt-BR"}} {
		if got := p.Values(name); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func findings(errs field.Errors) string {
	var b strings.Builder
	for _, e := range errs {
		if e.Warning {
			b.WriteString("warning ")
		}
		b.WriteString(e.Error())
		b.WriteString("\n")
	}
	return b.String()
}

func TestValidate(t *testing.T) {
	ok := Options{Contact: []string{"mailto:security@example.com"}, Expires: t0.Add(30 * 24 * time.Hour)}
	for name, tc := range map[string]struct {
		mod      func(*Options)
		path     string
		warning  bool
		contains string
	}{
		"no contact":        {func(o *Options) { o.Contact = nil }, "Contact", false, "at least one contact"},
		"no expires":        {func(o *Options) { o.Expires = time.Time{} }, "Expires", false, "is required"},
		"expired":           {func(o *Options) { o.Expires = t0.Add(-time.Second) }, "Expires", false, "is past"},
		"expires now":       {func(o *Options) { o.Expires = t0 }, "Expires", false, "is past"},
		"over a year":       {func(o *Options) { o.Expires = t0.Add(400 * 24 * time.Hour) }, "Expires", true, "more than a year"},
		"http contact":      {func(o *Options) { o.Contact = []string{"http://example.com/report"} }, "Contact[0]", false, "uses http:"},
		"javascript":        {func(o *Options) { o.Contact = []string{"javascript:alert(1)"} }, "Contact[0]", false, "does not accept"},
		"relative":          {func(o *Options) { o.Contact = []string{"/report"} }, "Contact[0]", false, "absolute URI"},
		"mailto no address": {func(o *Options) { o.Contact = []string{"mailto:security"} }, "Contact[0]", false, "mailto"},
		"https user":        {func(o *Options) { o.Policy = []string{"https://user:pw@example.com/"} }, "Policy[0]", false, "user:password"},
		"https no host":     {func(o *Options) { o.Hiring = []string{"https:///jobs"} }, "Hiring[0]", false, "with a host"},
		"encryption http":   {func(o *Options) { o.Encryption = []string{"http://example.com/key"} }, "Encryption[0]", false, "uses http:"},
		"canonical mailto":  {func(o *Options) { o.Canonical = []string{"mailto:a@example.com"} }, "Canonical[0]", false, "does not accept"},
		"bad language":      {func(o *Options) { o.PreferredLanguages = []string{"en, fr"} }, "PreferredLanguages[0]", false, "language tag"},
		"space in URI":      {func(o *Options) { o.Contact = []string{"mailto:a@example.com "} }, "Contact[0]", false, "spaces"},
		"empty":             {func(o *Options) { o.Acknowledgments = []string{""} }, "Acknowledgments[0]", false, "empty"},
		"long":              {func(o *Options) { o.Policy = []string{"https://example.com/" + strings.Repeat("a", 3000)} }, "Policy[0]", false, "longer"},
		"tel nothing":       {func(o *Options) { o.Contact = []string{"tel:"} }, "Contact[0]", false, "nothing after"},
	} {
		t.Run(name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			errs := o.validate(t0)
			if len(errs) != 1 || errs[0].Path != tc.path || errs[0].Warning != tc.warning || !strings.Contains(errs[0].Message, tc.contains) {
				t.Errorf("findings:\n%swant one on %s containing %q (warning %v)", findings(errs), tc.path, tc.contains, tc.warning)
			}
			_, err := newAt(o, func() time.Time { return t0 })
			if (err != nil) == tc.warning {
				t.Errorf("New: %v", err)
			}
		})
	}
	if errs := ok.validate(t0); len(errs) != 0 {
		t.Errorf("valid options: %s", findings(errs))
	}
	if errs := full().validate(t0); len(errs) != 0 {
		t.Errorf("full options: %s", findings(errs))
	}
}

// Attack: a line break in a value would add fields of the author's
// choosing (a second Contact, a later Expires). Refused in every field.
func TestValidate_LineInjectionRefused(t *testing.T) {
	for _, inj := range []string{"\r\nContact: https://evil.example", "\nExpires: 2099-01-01T00:00:00Z", "\rx", "\x00", "\x85"} {
		for _, mod := range []func(*Options, string){
			func(o *Options, s string) { o.Contact = []string{"mailto:security@example.com" + s} },
			func(o *Options, s string) { o.Encryption = []string{"https://example.com/key" + s} },
			func(o *Options, s string) { o.Policy = []string{"https://example.com/p" + s} },
			func(o *Options, s string) { o.PreferredLanguages = []string{"en" + s} },
		} {
			o := Options{Contact: []string{"mailto:security@example.com"}, Expires: t0.Add(time.Hour)}
			mod(&o, inj)
			f, err := newAt(o, func() time.Time { return t0 })
			if err == nil {
				// \x85 (NEL in Latin-1, invalid UTF-8 alone) must at least
				// not make a second line.
				if p := Parse(f.Body()); len(p.Values("Contact")) != 1 || len(p.Values("Expires")) != 1 {
					t.Errorf("%q accepted and injected a field:\n%s", inj, f.Body())
				}
				if strings.ContainsAny(string(f.Body()), "\r\x00") {
					t.Errorf("%q reached the file", inj)
				}
			}
		}
	}
}

func TestHandler(t *testing.T) {
	c := &clock{t: t0}
	o := full()
	var logBuf bytes.Buffer
	o.Logger = slog.New(slog.NewJSONHandler(&logBuf, nil))
	f, err := newAt(o, c.now)
	if err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) })
	h := f.Handler(next)
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	rec := do("GET", Path)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" || !bytes.Equal(rec.Body.Bytes(), f.Body()) {
		t.Errorf("GET: %d %q\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=86400" {
		t.Errorf("Cache-Control %q", cc)
	}
	if rec := do("HEAD", Path); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := do("POST", Path); rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d", rec.Code)
	}
	for _, p := range []string{"/", "/security.txt", "/.well-known/security.txt/x", "/.well-known/"} {
		if rec := do("GET", p); rec.Body.String() != "app" {
			t.Errorf("%s not passed on: %d %s", p, rec.Code, rec.Body)
		}
	}
	// An hour before expiry, caches keep it no longer than that.
	c.set(f.Expires().Add(-time.Hour))
	if rec := do("GET", Path); rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("near expiry: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if logBuf.Len() != 0 {
		t.Errorf("logged before expiry: %s", logBuf.String())
	}
}

// Attack on the operator: a file that expires while served is not served
// stale; it answers 404, the application's own file is not served in its
// place, and the expiry is logged once.
func TestHandler_ExpiresWhileRunning(t *testing.T) {
	c := &clock{t: t0}
	o := full()
	var logBuf bytes.Buffer
	o.Logger = slog.New(slog.NewJSONHandler(&logBuf, nil))
	f, err := newAt(o, c.now)
	if err != nil {
		t.Fatal(err)
	}
	h := f.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Contact: mailto:old@example.com")) }))
	c.set(o.Expires)
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", Path, nil))
		if rec.Code != 404 || strings.Contains(rec.Body.String(), "Contact") {
			t.Fatalf("expired file: %d\n%s", rec.Code, rec.Body)
		}
	}
	if !f.Expired() {
		t.Error("Expired() = false")
	}
	if n := strings.Count(logBuf.String(), "security.txt has expired"); n != 1 {
		t.Errorf("expiry logged %d times:\n%s", n, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), `"level":"ERROR"`) {
		t.Errorf("not an error record: %s", logBuf.String())
	}
}

func TestNew_RefusesExpired(t *testing.T) {
	o := full()
	o.Expires = time.Now().Add(-time.Minute)
	_, err := New(o)
	var errs field.Errors
	if !errors.As(err, &errs) || errs[0].Path != "Expires" {
		t.Fatalf("err = %v", err)
	}
}

// signedFile is a clear-signed file as gpg --clear-sign writes it (the
// signature is not verified, so any armored block does).
func signedFile(expires string) []byte {
	return []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
		"Contact: mailto:security@example.com\nExpires: " + expires + "\nPreferred-Languages: en\n" +
		"-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQ==\n=abcd\n-----END PGP SIGNATURE-----\n")
}

// A signed file is served byte for byte, its own Expires governing it;
// it is checked as the fields are, and nothing else may be set beside it.
func TestNew_SignedFileServedAsItIs(t *testing.T) {
	c := &clock{t: t0}
	exp := t0.Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	f, err := newAt(Options{Signed: signedFile(exp)}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	h := f.Handler(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Path, nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), signedFile(exp)) {
		t.Fatalf("signed file: %d\n%s", rec.Code, rec.Body)
	}
	if got := f.Expires().UTC().Format(time.RFC3339); got != exp {
		t.Errorf("Expires() = %s, want the file's %s", got, exp)
	}
	c.set(t0.Add(31 * 24 * time.Hour))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Path, nil))
	if rec.Code != 404 {
		t.Errorf("a signed file past its Expires: %d, want 404", rec.Code)
	}

	c.set(t0) // each case below is refused for its own fault, not for age
	if _, err := newAt(Options{Signed: signedFile(exp)}, c.now); err != nil {
		t.Fatalf("the control case: %v", err)
	}

	for name, o := range map[string]Options{
		"unsigned":         {Signed: []byte("Contact: mailto:security@example.com\nExpires: " + exp + "\n")},
		"expired":          {Signed: signedFile(t0.Add(-time.Hour).UTC().Format(time.RFC3339))},
		"no expires":       {Signed: bytes.Replace(signedFile(exp), []byte("Expires: "+exp+"\n"), nil, 1)},
		"no contact":       {Signed: bytes.Replace(signedFile(exp), []byte("Contact: mailto:security@example.com\n"), nil, 1)},
		"http contact":     {Signed: bytes.Replace(signedFile(exp), []byte("mailto:security@example.com"), []byte("http://example.com/report"), 1)},
		"stray line":       {Signed: bytes.Replace(signedFile(exp), []byte("Preferred-Languages: en\n"), []byte("not a field\n"), 1)},
		"no signature":     {Signed: []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nContact: mailto:a@example.com\nExpires: " + exp + "\n")},
		"fields beside":    {Signed: signedFile(exp), Contact: []string{"mailto:other@example.com"}},
		"expires beside":   {Signed: signedFile(exp), Expires: t0.Add(time.Hour)},
		"languages beside": {Signed: signedFile(exp), PreferredLanguages: []string{"fr"}},
		"too long":         {Signed: append(signedFile(exp), bytes.Repeat([]byte("# padding\n"), MaxParseBytes/10)...)},
	} {
		if _, err := newAt(o, c.now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
