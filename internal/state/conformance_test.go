package state

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/rampart-dev/rampart/session"
	"github.com/rampart-dev/rampart/session/storetest"
)

// Both stores keep session.Store's contract, as the in-memory one does.
func TestEmbedded_StoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return embedded(t) })
}

func TestRedis_StoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return redisStore(t, "") })
}

// Two instances on one Redis are one store.
func TestRedis_SharedStoreContract(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (session.Store, session.Store) {
		var b [6]byte
		rand.Read(b[:])
		prefix := "rampart-test-" + hex.EncodeToString(b[:]) + ":"
		return redisStore(t, prefix), redisStore(t, prefix)
	})
}
