package users

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// Made by the reference implementation (Debian's argon2 command, libargon2):
//
//	echo -n 'correct horse battery staple' | argon2 saltsaltsaltsalt -id -t 2 -k 19456 -p 1 -l 32 -e
//	echo -n 'correct horse battery staple' | argon2 somesaltvalue123 -id -t 3 -k 65536 -p 4 -l 32 -e
//
// The second has argon2-cffi's (Python) default parameters: hashes brought
// from a Flask application verify.
const (
	refPassword   = "correct horse battery staple"
	refDefault    = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM"
	refArgon2CFFI = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHR2YWx1ZTEyMw$UvUndBgKFERBqGr7ntAxDSX8fTHjRJKN9Ykx5apgCKI"
)

func TestHashAndVerify(t *testing.T) {
	h, err := Hash(refPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("Hash = %q, not the default PHC form", h)
	}
	if ok, err := Verify(h, refPassword); !ok || err != nil {
		t.Errorf("Verify(right password) = %v, %v", ok, err)
	}
	if ok, err := Verify(h, refPassword+"!"); ok || err != nil {
		t.Errorf("Verify(wrong password) = %v, %v", ok, err)
	}
	h2, _ := Hash(refPassword)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyReferenceHashes(t *testing.T) {
	for _, h := range []string{refDefault, refArgon2CFFI} {
		if ok, err := Verify(h, refPassword); !ok || err != nil {
			t.Errorf("Verify(%s) = %v, %v", h, ok, err)
		}
		if ok, _ := Verify(h, "Correct horse battery staple"); ok {
			t.Errorf("Verify(%s) accepts another password", h)
		}
	}
}

// A hash in the file is decoded before anything is spent on it: each of
// these would cost gigabytes, minutes of CPU, or accept nearly any
// password. None may reach argon2.
func TestHostileHashesAreRefusedBeforeHashing(t *testing.T) {
	salt, key := "c2FsdHNhbHRzYWx0c2FsdA", "QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM"
	mk := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	cases := map[string]struct{ phc, want string }{
		"MemoryBomb4GiB":          {mk("m=4194304,t=1,p=1"), "above the cap"},
		"MemoryBombUint32Max":     {mk("m=4294967295,t=1,p=1"), "above the cap"},
		"MemoryOverflowingUint":   {mk("m=99999999999,t=1,p=1"), "not a decimal number"},
		"IterationBomb":           {mk("m=19456,t=4294967295,p=1"), "outside 1..10"},
		"WorkBombUnderEachCap":    {mk("m=262144,t=10,p=1"), "memory × iterations"},
		"ParallelismBomb":         {mk("m=19456,t=2,p=255"), "outside 1..16"},
		"ZeroIterations":          {mk("m=19456,t=0,p=1"), "outside 1..10"},
		"ZeroParallelism":         {mk("m=19456,t=2,p=0"), "outside 1..16"},
		"MemoryBelowMinimum":      {mk("m=7,t=2,p=1"), "below argon2's minimum"},
		"LeadingZero":             {mk("m=019456,t=2,p=1"), "not a decimal number"},
		"Sign":                    {mk("m=+19456,t=2,p=1"), "not a decimal number"},
		"ParamsReordered":         {mk("t=2,m=19456,p=1"), "in that order"},
		"ExtraParam":              {mk("m=19456,t=2,p=1,keyid=x"), "in that order"},
		"MissingParam":            {mk("m=19456,t=2"), "in that order"},
		"TruncatedKey4Bytes":      {"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$QKHrgw", "key is 4 bytes"},
		"EmptyKey":                {"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$", "key is 0 bytes"},
		"ShortSalt":               {"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, "salt is 4 bytes"},
		"HugeSalt":                {"$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("A", 150) + "$" + key, "salt is longer than 64 bytes"},
		"PaddedBase64":            {"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA==$" + key, "not unpadded standard base64"},
		"URLBase64":               {"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN-Y0HVPNaBqykOVLUxlMkZycXE1uWRM", "not unpadded standard base64"},
		"Version16":               {"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, "v=16"},
		"NoVersion":               {"$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, "v=16"},
		"Argon2i":                 {"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, "only argon2id"},
		"Argon2d":                 {"$argon2d$v=19$m=19456,t=2,p=1$" + salt + "$" + key, "only argon2id"},
		"Bcrypt":                  {"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "bcrypt"},
		"Django":                  {"argon2" + refDefault, "Django argon2 hash"},
		"Werkzeug":                {"scrypt:32768:8:1$abc$def", "Werkzeug"},
		"ExtraField":              {refDefault + "$x", "expected $argon2id"},
		"Overlong":                {refDefault + strings.Repeat("A", 300), "longer than 256"},
		"Empty":                   {"", "is empty"},
		"PlaintextPasswordPasted": {"hunter2-correct-horse", "not an argon2id PHC string"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			before := hashing.computed.Load()
			ok, err := Verify(c.phc, "hunter2-correct-horse")
			var he *HashError
			if ok || !errors.As(err, &he) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v, %v; want a HashError with %q", ok, err, c.want)
			}
			if hashing.computed.Load() != before {
				t.Fatal("the hash was computed before being refused")
			}
			// The message never quotes what it refused: it may be a
			// password pasted in the wrong place.
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), salt) {
				t.Errorf("the error quotes the input: %v", err)
			}
		})
	}
}

func TestPasswordBounds(t *testing.T) {
	long := strings.Repeat("x", MaxPasswordBytes+1)
	if _, err := Hash(long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Hash(too long) = %v", err)
	}
	before := hashing.computed.Load()
	if ok, err := Verify(refDefault, long); ok || !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Verify(too long) = %v, %v", ok, err)
	}
	if _, err := Hash(""); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("Hash(\"\") = %v", err)
	}
	if ok, err := Verify(refDefault, ""); ok || !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("Verify(\"\") = %v, %v", ok, err)
	}
	if hashing.computed.Load() != before {
		t.Error("a refused password was hashed")
	}
	if _, err := Hash(strings.Repeat("x", MaxPasswordBytes)); err != nil {
		t.Errorf("Hash(MaxPasswordBytes) = %v", err)
	}
}

func TestVerifyWaitEndsWithContext(t *testing.T) {
	// Hold the whole budget, as a flood of logins would.
	release, err := hashing.acquire(context.Background(), hashing.budget)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := VerifyContext(ctx, refDefault, refPassword); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyContext with the budget taken and ctx done = %v, %v; want context.Canceled", ok, err)
	}
	if _, err := HashContext(ctx, refPassword); !errors.Is(err, context.Canceled) {
		t.Errorf("HashContext = %v; want context.Canceled", err)
	}
	if err := VerifyUnknown(ctx, refPassword); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyUnknown = %v; want context.Canceled", err)
	}
}

// The decoder is the first thing a users file's hashes go through.
func FuzzDecodePHC(f *testing.F) {
	for _, s := range []string{refDefault, refArgon2CFFI, dummyHash, "", "$argon2id$v=19$m=1,t=1,p=1$$", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decodePHC(s)
		if err != nil {
			return
		}
		switch {
		case len(s) > MaxHashLen,
			p.memory > MaxMemoryKiB, p.memory < 8*uint32(p.threads),
			p.time < 1 || p.time > MaxIterations,
			uint64(p.memory)*uint64(p.time) > MaxWorkKiB,
			p.threads < 1 || p.threads > MaxParallelism,
			len(salt) < MinSaltLen || len(salt) > MaxSaltLen || len(salt) != p.saltLen,
			len(key) < MinKeyLen || len(key) > MaxKeyLen || len(key) != p.keyLen:
			t.Fatalf("decodePHC(%q) accepted parameters outside the caps: %+v", s, p)
		}
		// One spelling per hash: what is accepted re-encodes to itself.
		if enc := encodePHC(p, salt, key); enc != s {
			t.Fatalf("decodePHC(%q) re-encodes as %q", s, enc)
		}
	})
}

// The cost of one login attempt with the default parameters: what the
// hashing budget is sized by.
func BenchmarkVerifyDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Verify(refDefault, refPassword)
	}
}
