package reqstate

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func idFree(s *State) bool { return s.ID == "" }

func TestTake_OneCopyOfTheRequestForAllFields(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	s, r1 := Take(r, idFree)
	if r1 == r || From(r1.Context()) != s {
		t.Fatal("the first Take must copy the request with a new State")
	}
	s.ID = "a"
	s2, r2 := Take(r1, func(s *State) bool { return !s.Client.IsValid() })
	if s2 != s || r2 != r1 {
		t.Fatal("a free field must be recorded in the same State, without a copy of the request")
	}
}

func TestTake_SetFieldIsCopiedNotOverwritten(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	outer, r1 := Take(r, idFree)
	outer.ID = "outer"
	outer.Client = netip.MustParseAddr("192.0.2.1")
	inner, r2 := Take(r1, idFree)
	if inner == outer || r2 == r1 {
		t.Fatal("a field already set must be recorded in a copy")
	}
	inner.ID = "inner"
	if got := From(r1.Context()).ID; got != "outer" {
		t.Errorf("outer handlers see %q, want the outer id", got)
	}
	if got := From(r2.Context()); got.ID != "inner" || got.Client != outer.Client {
		t.Errorf("inner handlers see %+v, want the inner id and the outer client", got)
	}
}

func TestWith(t *testing.T) {
	ctx := t.Context()
	if From(ctx) != nil {
		t.Fatal("no State in a bare context")
	}
	s1, ctx1 := With(ctx)
	s1.ID = "a"
	s2, ctx2 := With(ctx1)
	if s2 == s1 || s2.ID != "a" {
		t.Fatalf("With must copy the State it finds: %+v", s2)
	}
	s2.ID = "b"
	if From(ctx1).ID != "a" || From(ctx2).ID != "b" {
		t.Error("With changed the State of the context it derives from")
	}
}

// The State's context is the request's: values, cancellation and
// deadlines of the context it derives from reach the handlers inside.
func TestTake_ContextKeepsItsParent(t *testing.T) {
	type other struct{}
	parent, cancel := context.WithCancel(context.WithValue(t.Context(), other{}, "v"))
	r := httptest.NewRequest("GET", "/", nil).WithContext(parent)
	_, r1 := Take(r, idFree)
	inner, stop := context.WithCancel(r1.Context())
	defer stop()
	if got := inner.Value(other{}); got != "v" {
		t.Errorf("a value of the parent context reads %v", got)
	}
	cancel()
	select {
	case <-inner.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the parent did not reach a context derived from the State's")
	}
	if From(inner) != From(r1.Context()) || From(inner) == nil {
		t.Error("a derived context does not carry the State")
	}
}

// Observers one inside the other share one writer and one record: the
// second one, handed the writer the first one returned, adds no wrapper.
func TestRecord_SharedByNestedObservers(t *testing.T) {
	s, r := Take(httptest.NewRequest("GET", "/", nil), idFree)
	base := httptest.NewRecorder()
	w1, resp1 := Record(r, base)
	w2, resp2 := Record(r, w1)
	if w2 != w1 || resp2 != resp1 || resp1 != &s.resp {
		t.Fatal("the second observer did not share the State's writer")
	}
	w2.WriteHeader(http.StatusTeapot)
	w2.Write([]byte("hello"))
	if resp1.Status != http.StatusTeapot || resp1.Bytes != 5 {
		t.Errorf("record %+v, want 418 and 5 bytes", *resp1)
	}
	if base.Code != http.StatusTeapot || base.Body.String() != "hello" {
		t.Errorf("the server's writer got %d %q", base.Code, base.Body)
	}
}

// An observer handed another writer (a stage between wrapped the shared
// one) records what passes through that writer, in a record of its own.
func TestRecord_OtherWriterHasItsOwnRecord(t *testing.T) {
	_, r := Take(httptest.NewRequest("GET", "/", nil), idFree)
	w1, outer := Record(r, httptest.NewRecorder())
	rewrite := &statusRewriter{ResponseWriter: w1}
	w2, inner := Record(r, rewrite)
	if w2 == w1 || inner == outer {
		t.Fatal("an observer behind another wrapper shares the outer record")
	}
	w2.WriteHeader(http.StatusNotFound)
	if inner.Status != http.StatusNotFound || outer.Status != http.StatusGone {
		t.Errorf("inner %d, outer %d; want 404 and 410 (the wrapper rewrote it)", inner.Status, outer.Status)
	}
	// Without a State, each call wraps.
	plain := httptest.NewRequest("GET", "/", nil)
	a, ra := Record(plain, httptest.NewRecorder())
	b, rb := Record(plain, a)
	if a == b || ra == rb {
		t.Error("two records without a State are one")
	}
}

type statusRewriter struct{ http.ResponseWriter }

func (w *statusRewriter) WriteHeader(int) { w.ResponseWriter.WriteHeader(http.StatusGone) }

// A copy of the State (a field set twice) has a writer of its own: the
// outer observers' record is not the inner ones'.
func TestRecord_CopiedStateRecordsApart(t *testing.T) {
	outer, r1 := Take(httptest.NewRequest("GET", "/", nil), idFree)
	outer.ID = "outer"
	w1, resp1 := Record(r1, httptest.NewRecorder())
	_, r2 := Take(r1, idFree)
	w2, resp2 := Record(r2, w1)
	if w2 == w1 || resp2 == resp1 {
		t.Fatal("the copied State shares the outer writer")
	}
	w2.WriteHeader(http.StatusAccepted)
	if resp1.Status != http.StatusAccepted || resp2.Status != http.StatusAccepted {
		t.Errorf("outer %d, inner %d; want 202 for both", resp1.Status, resp2.Status)
	}
}

// What the record keeps: the first final status, 101 for an upgrade,
// informational responses passed over, 200 for a body or flush first.
func TestRecord_Status(t *testing.T) {
	cases := []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing", func(http.ResponseWriter) {}, 0},
		{"body first", func(w http.ResponseWriter) { w.Write([]byte("x")); w.WriteHeader(500) }, 200},
		{"flush first", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200},
		{"early hints then 204", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(204) }, 204},
		{"switching protocols", func(w http.ResponseWriter) { w.WriteHeader(101) }, 101},
		{"two statuses", func(w http.ResponseWriter) { w.WriteHeader(404); w.WriteHeader(500) }, 404},
		{"copy", func(w http.ResponseWriter) { w.(io.ReaderFrom).ReadFrom(strings.NewReader("abc")) }, 200},
	}
	for _, c := range cases {
		_, r := Take(httptest.NewRequest("GET", "/", nil), idFree)
		w, resp := Record(r, httptest.NewRecorder())
		c.write(w)
		if resp.Status != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.Status, c.want)
		}
	}
}

func TestRecord_Hijack(t *testing.T) {
	_, r := Take(httptest.NewRequest("GET", "/", nil), idFree)
	w, resp := Record(r, hijacker{httptest.NewRecorder()})
	if _, _, err := http.NewResponseController(w).Hijack(); err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusSwitchingProtocols {
		t.Errorf("record %+v, want 101", *resp)
	}
}

type hijacker struct{ http.ResponseWriter }

func (hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, nil }

// MarkApp reaches the State it finds and the States it was copied from,
// so an observer outside a copy sees the mark.
func TestMarkApp(t *testing.T) {
	outer, r1 := Take(httptest.NewRequest("GET", "/", nil), idFree)
	outer.ID = "a"
	inner, r2 := Take(r1, idFree)
	MarkApp(r2.Context())
	if !inner.App || !outer.App {
		t.Errorf("inner %v, outer %v; want both marked", inner.App, outer.App)
	}
	MarkApp(t.Context()) // no State: nothing to mark, no panic
}

func BenchmarkTake(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	clientFree := func(s *State) bool { return !s.Client.IsValid() }
	b.ReportAllocs()
	for b.Loop() {
		s, r1 := Take(r, idFree)
		s.ID = "x"
		s, _ = Take(r1, clientFree)
		s.Client = netip.AddrFrom4([4]byte{192, 0, 2, 1})
	}
}

// BenchmarkRecord is three observers of one response (access log,
// dashboard, metrics), one inside the other.
func BenchmarkRecord(b *testing.B) {
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		_, r := Take(httptest.NewRequest("GET", "/", nil), idFree)
		w1, _ := Record(r, w)
		w2, _ := Record(r, w1)
		w3, resp := Record(r, w2)
		w3.WriteHeader(http.StatusOK)
		if resp.Status != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
}
