package reqstate

import (
	"net/http/httptest"
	"net/netip"
	"testing"
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
