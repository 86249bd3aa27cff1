package users

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The parameters of new hashes. They are OWASP's first recommendation for
// argon2id in its Password Storage Cheat Sheet: 19 MiB of memory, 2
// iterations, 1 lane, the minimum it gives for a server, equivalent in
// strength to its other configurations (46 MiB × 1, 12 MiB × 3, …). More
// memory per hash would make each guess dearer for an attacker with the
// file, but a gateway verifies hashes on behalf of anyone who posts the
// login form: at 19 MiB, the shared budget of max(2, GOMAXPROCS) hashes in
// flight is 38 MiB on a 2-core machine, and one verification takes tens of
// milliseconds of one core. One lane because the gateway runs several
// logins at once; lanes would only make each one use more cores. A
// 16-byte salt and a 32-byte key are RFC 9106's recommendation.
const (
	DefaultMemoryKiB   = 19456
	DefaultIterations  = 2
	DefaultParallelism = 1
	SaltBytes          = 16
	KeyBytes           = 32
)

// The caps Verify puts on a hash's parameters before it spends anything on
// it. They admit the hashes other tools make with their defaults (Python's
// argon2-cffi: 64 MiB, 3 iterations, 4 lanes) and RFC 9106's second
// recommendation (64 MiB, 3 iterations), and refuse anything that would
// cost more than about 1 GiB of memory passes (one to a few seconds of
// CPU): a hash written by an attacker who could edit the file, or mangled
// on disk, costs at most that per login attempt.
const (
	MaxMemoryKiB   = 256 << 10 // 256 MiB
	MaxIterations  = 10
	MaxParallelism = 16
	// MaxWorkKiB caps memory × iterations: 256 MiB × 4, 64 MiB × 10.
	MaxWorkKiB  = 1 << 20
	MinSaltLen  = 8
	MaxSaltLen  = 64
	MinKeyLen   = 16
	MaxKeyLen   = 64
	MaxHashLen  = 256 // the whole PHC string, in bytes
	argon2Ver   = argon2.Version
	phcIDPrefix = "$argon2id$v=19$"
)

// MaxPasswordBytes is the longest password Hash and Verify accept. NIST SP
// 800-63B asks verifiers to accept at least 64 characters; this allows 4
// KiB, and stops a megabyte "password" from being hashed.
const MaxPasswordBytes = 4096

// Errors about passwords given to Hash and Verify.
var (
	ErrEmptyPassword   = errors.New("users: the password is empty")
	ErrPasswordTooLong = fmt.Errorf("users: the password is longer than %d bytes", MaxPasswordBytes)
)

// params are one hash's argon2id parameters, as decoded.
type params struct {
	memory  uint32 // KiB
	time    uint32 // iterations
	threads uint8  // lanes
	saltLen int
	keyLen  int
}

func defaultParams() params {
	return params{memory: DefaultMemoryKiB, time: DefaultIterations, threads: DefaultParallelism, saltLen: SaltBytes, keyLen: KeyBytes}
}

// Hash returns the argon2id hash of password with the default parameters
// and a random salt, as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with salt and key in unpadded standard base64. It waits for its share of
// the hashing budget like VerifyContext, without a deadline.
func Hash(password string) (string, error) {
	return HashContext(context.Background(), password)
}

// HashContext is Hash, waiting for the hashing budget at most until ctx is
// done.
func HashContext(ctx context.Context, password string) (string, error) {
	if password == "" {
		return "", ErrEmptyPassword
	}
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	p := defaultParams()
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("users: salt: %w", err)
	}
	key, err := derive(ctx, p, password, salt)
	if err != nil {
		return "", err
	}
	return encodePHC(p, salt, key), nil
}

func encodePHC(p params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2Ver, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether password matches the PHC string phc, waiting for
// the hashing budget without a deadline. Prefer VerifyContext on a
// request's path.
func Verify(phc, password string) (bool, error) {
	return VerifyContext(context.Background(), phc, password)
}

// VerifyContext reports whether password matches the argon2id PHC string
// phc. The string is decoded and its parameters checked against the caps
// (MaxMemoryKiB, MaxIterations, MaxParallelism, MaxWorkKiB, salt and key
// lengths, version 19 only, MaxHashLen in all) before any memory is spent:
// a hash outside them is an error, never computed. The key is compared in
// constant time.
//
// Every hash computed in the process (HashContext, VerifyContext,
// VerifyUnknown, File.Check) draws its memory parameter from one budget of
// HashingBudgetKiB: max(2, GOMAXPROCS) hashes of the default 19 MiB, so 38
// MiB on a 2-core machine and at most GOMAXPROCS hashes computing at once.
// A hash with more memory than the budget runs alone. So the memory held
// by hashing at any moment is at most max(HashingBudgetKiB, the largest
// memory parameter in use) ≤ max(HashingBudgetKiB, MaxMemoryKiB); the
// garbage collector may keep about as much again until it runs. Callers
// wait their turn in order; a wait ends when ctx is done, with ctx's
// error, so a flood of logins queues for as long as their requests may
// live and no longer.
func VerifyContext(ctx context.Context, phc, password string) (bool, error) {
	p, salt, key, err := decodePHC(phc)
	if err != nil {
		return false, err
	}
	if password == "" {
		return false, ErrEmptyPassword
	}
	if len(password) > MaxPasswordBytes {
		return false, ErrPasswordTooLong
	}
	got, err := derive(ctx, p, password, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// derive computes the argon2id key within the hashing budget.
func derive(ctx context.Context, p params, password string, salt []byte) ([]byte, error) {
	release, err := hashing.acquire(ctx, int64(p.memory))
	if err != nil {
		return nil, err
	}
	defer release()
	return argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(p.keyLen)), nil
}

// HashError says why a string is not an acceptable hash. Its message
// never quotes the string: a "hash" that fails to decode may be a password
// pasted in the wrong place.
type HashError struct{ Reason string }

func (e *HashError) Error() string { return "users: hash: " + e.Reason }

func hashErr(format string, args ...any) error {
	return &HashError{Reason: fmt.Sprintf(format, args...)}
}

// decodePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$key strictly: this
// exact field order, decimal numbers without sign or leading zeros,
// unpadded standard base64, no optional PHC fields (keyid, data), and
// every parameter within the caps.
func decodePHC(s string) (params, []byte, []byte, error) {
	var p params
	if len(s) > MaxHashLen {
		return p, nil, nil, hashErr("longer than %d bytes", MaxHashLen)
	}
	if !strings.HasPrefix(s, phcIDPrefix) {
		return p, nil, nil, prefixError(s)
	}
	fields := strings.Split(s[len(phcIDPrefix):], "$")
	if len(fields) != 3 {
		return p, nil, nil, hashErr("expected $argon2id$v=19$m=…,t=…,p=…$salt$key")
	}
	kv := strings.Split(fields[0], ",")
	if len(kv) != 3 {
		return p, nil, nil, hashErr("expected exactly the parameters m=…,t=…,p=… in that order")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return p, nil, nil, hashErr("expected exactly the parameters m=…,t=…,p=… in that order")
		}
		n, err := decimal(v)
		if err != nil {
			return p, nil, nil, hashErr("parameter %s%v", name, err)
		}
		vals[i] = n
	}
	m, t, par := vals[0], vals[1], vals[2]
	switch {
	case par < 1 || par > MaxParallelism:
		return p, nil, nil, hashErr("parallelism p=%d is outside 1..%d", par, MaxParallelism)
	case t < 1 || t > MaxIterations:
		return p, nil, nil, hashErr("iterations t=%d are outside 1..%d", t, MaxIterations)
	case m < 8*par:
		return p, nil, nil, hashErr("memory m=%d KiB is below argon2's minimum of 8 KiB per lane", m)
	case m > MaxMemoryKiB:
		return p, nil, nil, hashErr("memory m=%d KiB is above the cap of %d KiB", m, MaxMemoryKiB)
	case m*t > MaxWorkKiB:
		return p, nil, nil, hashErr("memory × iterations (%d KiB × %d) is above the cap of %d KiB", m, t, MaxWorkKiB)
	}
	salt, err := b64(fields[1], MinSaltLen, MaxSaltLen, "salt")
	if err != nil {
		return p, nil, nil, err
	}
	key, err := b64(fields[2], MinKeyLen, MaxKeyLen, "key")
	if err != nil {
		return p, nil, nil, err
	}
	p = params{memory: uint32(m), time: uint32(t), threads: uint8(par), saltLen: len(salt), keyLen: len(key)}
	return p, salt, key, nil
}

// prefixError names what the string looks like instead, so that the hint
// for a bcrypt or argon2i hash brought from elsewhere is the right one.
func prefixError(s string) error {
	switch {
	case strings.HasPrefix(s, "$argon2id$v=16$"), strings.HasPrefix(s, "$argon2id$m="):
		return hashErr("argon2 version 1.0 (v=16) is not accepted, only v=19")
	case strings.HasPrefix(s, "$argon2id$"):
		return hashErr("expected the version v=19 after $argon2id$")
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return hashErr("only argon2id hashes are accepted, not argon2i or argon2d")
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return hashErr("bcrypt hashes are not accepted, only argon2id")
	case strings.HasPrefix(s, "argon2$argon2id$"):
		return hashErr("a Django argon2 hash: remove the leading \"argon2\" to use it")
	case strings.HasPrefix(s, "pbkdf2:"), strings.HasPrefix(s, "scrypt:"), strings.HasPrefix(s, "pbkdf2_sha256$"):
		return hashErr("Werkzeug and Django hashes are not accepted, only argon2id")
	case s == "":
		return hashErr("is empty")
	}
	return hashErr("not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key)")
}

// decimal parses a PHC decimal: digits only, no leading zero, at most 10
// digits (beyond any cap anyway).
func decimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New(" is not a decimal number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New(" is not a decimal number")
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

func b64(s string, minLen, maxLen int, what string) ([]byte, error) {
	if len(s) > base64.RawStdEncoding.EncodedLen(maxLen) {
		return nil, hashErr("%s is longer than %d bytes", what, maxLen)
	}
	// The decoder skips CR and LF; a hash has one spelling.
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil || strings.ContainsAny(s, "\r\n") {
		return nil, hashErr("%s is not unpadded standard base64", what)
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, hashErr("%s is %d bytes, expected %d to %d", what, len(b), minLen, maxLen)
	}
	return b, nil
}
