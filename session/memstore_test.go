package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/session/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return session.NewMemoryStore() })
}

func TestMemoryStore_Shared(t *testing.T) {
	// One MemoryStore is its own backend: two values sharing it are the
	// same value.
	storetest.RunShared(t, func(t *testing.T) (a, b session.Store) {
		s := session.NewMemoryStore()
		return s, s
	})
}

func TestMemoryStore_ZeroValueReady(t *testing.T) {
	var s session.MemoryStore
	f := session.Family{ID: "x", User: "alice", Created: time.Now(), LastUsed: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := s.CreateFamily(context.Background(), f, [32]byte{1}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rotate(context.Background(), [32]byte{1}, [32]byte{2}, time.Now(), time.Second, time.Hour)
	if err != nil || r.Outcome != session.Rotated {
		t.Fatalf("Rotate = %v, %v", r.Outcome, err)
	}
}
