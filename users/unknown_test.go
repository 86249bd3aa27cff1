package users

import (
	"context"
	"os"
	"testing"
)

// User enumeration by timing: an unknown user must cost the hash a real
// one costs. Not a timing test: it proves the dummy hash has exactly the
// parameters of the hashes Hash makes, and that VerifyUnknown computes one
// hash with that memory, as Verify does for a real user.
func TestUserEnumerationDummyHashHasDefaultParameters(t *testing.T) {
	real, err := Hash("a real password here")
	if err != nil {
		t.Fatal(err)
	}
	rp, _, _, err := decodePHC(real)
	if err != nil {
		t.Fatal(err)
	}
	dp, _, dkey, err := decodePHC(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if dp != rp || dp != defaultParams() {
		t.Fatalf("dummy parameters %+v, real hash parameters %+v", dp, rp)
	}
	for _, b := range dkey {
		if b != 0 {
			t.Fatal("the dummy key is not all zeros")
		}
	}
	if d := dummyFor(defaultParams()); d != dummyHash {
		t.Fatalf("dummyFor(defaults) = %s, dummyHash = %s", d, dummyHash)
	}

	n, kib := hashing.computed.Load(), hashing.totalKiB.Load()
	if err := VerifyUnknown(context.Background(), "guess"); err != nil {
		t.Fatal(err)
	}
	unknownN, unknownKiB := hashing.computed.Load()-n, hashing.totalKiB.Load()-kib
	n, kib = hashing.computed.Load(), hashing.totalKiB.Load()
	if ok, err := Verify(real, "guess"); ok || err != nil {
		t.Fatal(ok, err)
	}
	if wrongN, wrongKiB := hashing.computed.Load()-n, hashing.totalKiB.Load()-kib; unknownN != 1 || wrongN != 1 || unknownKiB != wrongKiB {
		t.Errorf("unknown user: %d hashes, %d KiB; wrong password: %d hashes, %d KiB", unknownN, unknownKiB, wrongN, wrongKiB)
	}
}

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
