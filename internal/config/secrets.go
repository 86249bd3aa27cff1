package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// A secret is looked up by name, in this order:
//  1. the environment variable NAME (the process environment, then .env);
//  2. the file named by NAME_FILE (Docker and Kubernetes secrets);
//  3. $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=).
// The first that exists wins. Trailing newlines of files are dropped.
// Secret values are never written into a Finding, a log line or the plan's
// String form.

// errNoSecret means no source holds the secret.
var errNoSecret = errors.New("not set")

// lookupSecret resolves the secret called name and says where it came from.
func lookupSecret(env func(string) (string, bool), name string) (value []byte, from string, err error) {
	if v, ok := env(name); ok && v != "" {
		return []byte(v), "env " + name, nil
	}
	if path, ok := env(name + "_FILE"); ok && path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, "env " + name + "_FILE", errors.New("cannot read the file named by " + name + "_FILE")
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), "file " + path, nil
	}
	if dir, ok := env("CREDENTIALS_DIRECTORY"); ok && dir != "" {
		path := filepath.Join(dir, name)
		if b, err := os.ReadFile(path); err == nil {
			return []byte(strings.TrimRight(string(b), "\r\n")), "credential " + path, nil
		}
	}
	return nil, "", errNoSecret
}

// MinSecretBytes is the shortest secret accepted: 256 bits, as for an
// HMAC-SHA256 key.
const MinSecretBytes = 32

// exampleSecrets are values printed in documentation (ours and the seed's
// Flask tutorials). A deployment using one has a secret that is public.
var exampleSecrets = []string{
	"changeme", "change-me", "change_me", "secret", "secret-key", "secret_key", "your-secret-key",
	"your_secret_key", "supersecret", "super-secret-key", "dev", "development", "password",
	"replace-me-with-a-long-random-string-of-64-hex-chars",
	"0123456789abcdef0123456789abcdef", "00000000000000000000000000000000",
	"thisisnotasecretthisisnotasecret", "you-will-never-guess",
}

// checkSecret explains why value is not acceptable as a secret, or returns
// "". The checks catch mistakes (a placeholder, a short password), not a
// determined weak choice: no test can prove randomness.
func checkSecret(value []byte) string {
	if len(value) < MinSecretBytes {
		return "is shorter than 32 bytes"
	}
	// A value that is mostly example words ("your-secret-key" twice, or
	// with a suffix) is as public as the example itself.
	rest := strings.ToLower(string(value))
	for _, ex := range exampleSecrets {
		rest = strings.ReplaceAll(rest, ex, "")
	}
	rest = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, rest)
	if len(rest) < 16 {
		return "is a documented example value"
	}
	if bitsPerByte(value) < 3.0 {
		return "has too little entropy (repeated or patterned characters)"
	}
	return ""
}

// bitsPerByte is the Shannon entropy of value's byte distribution. Random
// hex scores about 4, random base64 about 5.5-6, "aaaa…" 0 and
// "abababab…" 1.
func bitsPerByte(value []byte) float64 {
	var counts [256]int
	for _, c := range value {
		counts[c]++
	}
	n := float64(len(value))
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
