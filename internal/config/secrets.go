package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A secret is looked up by name, in this order:
//  1. the environment variable NAME (the process environment, then .env);
//  2. the file named by NAME_FILE (Docker and Kubernetes secrets);
//  3. $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=).
// The first that exists wins. Trailing newlines of files are dropped.
// Secret values are never written into a Finding, a log line or the plan's
// String form, and neither is anything written where a secret's name
// belongs that is not a valid name (see secretNameProblem): that is most
// often the value itself, pasted in the wrong place.

// errNoSecret means no source holds the secret.
var errNoSecret = errors.New("not set")

// lookupSecret resolves the secret called name and says where it came from.
// name must have passed secretNameProblem: it becomes part of the error
// and of from.
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

// maxSecretNameLen bounds a secret's name. POSIX sets no limit on
// environment variable names, but no real one comes near it; a longer
// "name" is a value pasted in the wrong place.
const maxSecretNameLen = 128

// validEnvName reports whether s is an environment variable name as shells
// and docker compose accept it: [A-Za-z_][A-Za-z0-9_]*.
func validEnvName(s string) bool {
	if s == "" || len(s) > maxSecretNameLen || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// secretNameProblem explains why name cannot be the name of a secret, or
// returns "", "". A valid name is an environment variable name of at most
// maxSecretNameLen bytes that does not look random. msg and hint never
// contain name: what stands where a name belongs is often the secret value
// itself, and findings are printed to terminals, journals and CI logs.
func secretNameProblem(name string) (msg, hint string) {
	const nameHint = "write the name of the variable that holds the secret, e.g. APP_SECRET; rampart reads its value from the environment, APP_SECRET_FILE or $CREDENTIALS_DIRECTORY/APP_SECRET"
	switch {
	case strings.TrimSpace(name) == "":
		return "is empty", nameHint
	case placeholderIn(name) != nil:
		return "looks like a variable reference (" + placeholderIn(name).syntax + "): rampart does not expand variables in its configuration, it reads the named variable itself", nameHint
	case looksLikeSecretValue(name):
		return "this looks like a secret value, not a variable name (it is not repeated here)",
			"put the value in the environment or in a file named by NAME_FILE under a name such as APP_SECRET, write that name here, " +
				"and replace the secret: it has been written in the configuration"
	case !validEnvName(name):
		return "is not a variable name (it is not repeated here): use letters, digits and _, not starting with a digit, at most 128 characters", nameHint
	}
	return "", ""
}

// looksLikeSecretValue reports whether s, found where a secret's name
// belongs, looks like a generated secret rather than a name: a long string
// with the symbols of base64 or of a password generator, or a string whose
// parts look random (hex, base64url, mixed case and digits). Real names are
// words: OAUTH2_CLIENT_SECRET, S3_KEY.
func looksLikeSecretValue(s string) bool {
	if len(s) >= 16 && strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) {
		return true
	}
	for seg := range strings.FieldsFuncSeq(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		var lower, upper, digits, letters, switches int
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			isDigit := c >= '0' && c <= '9'
			switch {
			case isDigit:
				digits++
			case c >= 'a' && c <= 'z':
				lower++
				letters++
			default:
				upper++
				letters++
			}
			if i > 0 && isDigit != (seg[i-1] >= '0' && seg[i-1] <= '9') {
				switches++
			}
		}
		switch {
		case len(seg) >= 24: // no word is this long
			return true
		case len(seg) >= 16 && digits > 0 && letters > 0: // hex, lower-case tokens
			return true
		case len(seg) >= 12 && lower > 0 && upper > 0 && digits > 0: // base64
			return true
		case switches >= 4: // x7kq2m9p: letters and digits interleaved
			return true
		}
	}
	return false
}

// placeholder is a syntax that marks a value nobody filled in.
type placeholder struct {
	re     *regexp.Regexp
	syntax string // how the finding names it; never the value itself
	cause  string // the likely reason it reached rampart unexpanded
	hint   string
}

const (
	expandHint = "set the real value, or find why it was passed on literally: single quotes in a shell, a variable docker compose never received, " +
		"an EnvironmentFile= (systemd does not expand it); generate a secret with: openssl rand -base64 48"
	replaceHint = "replace it with a real secret: openssl rand -base64 48"
)

// placeholders are matched on the whole value where their syntax could
// occur by chance in a random secret made of symbols (a password manager's
// or Django's alphabet), anywhere otherwise (${UPPER_CASE}, {{ x }}: rarer
// by chance than 1 in a million such secrets). None of them matches
// base64, hex or base64url, which have no $ { } < > %.
var placeholders = []placeholder{
	{regexp.MustCompile(`^\s*\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?+=][^{}]*)?\}\s*$|\$\{[A-Z_][A-Z0-9_]{3,}\}`), "${...}",
		"a shell or docker compose variable that was never expanded", expandHint},
	{regexp.MustCompile(`^\s*\$[A-Za-z_][A-Za-z0-9_]*\s*$`), "$NAME",
		"a shell or docker compose variable that was never expanded", expandHint},
	{regexp.MustCompile(`(?s)^\s*\$\(\s*[A-Za-z_./][A-Za-z0-9_./-]*(?:\s.*)?\)\s*$`), "$(...)",
		"a shell command substitution that never ran", expandHint},
	{regexp.MustCompile(`\{\{[A-Za-z0-9_. |'"()-]*[A-Za-z][A-Za-z0-9_. |'"()-]*\}\}`), "{{ ... }}",
		"a template (Jinja, Ansible, Helm, Go) that was never rendered", "render the template, or " + expandHint},
	{regexp.MustCompile(`^\s*%\([A-Za-z_][A-Za-z0-9_.-]*\)s\s*$`), "%(...)s",
		"a Python, configparser or supervisord %(name)s interpolation that was never applied", expandHint},
	{regexp.MustCompile(`^\s*<[A-Za-z][A-Za-z0-9 _.-]*>\s*$`), "<...>",
		"a placeholder from documentation that was never replaced", replaceHint},
}

// placeholderIn returns the placeholder syntax s contains, or nil.
func placeholderIn(s string) *placeholder {
	for i := range placeholders {
		if placeholders[i].re.MatchString(s) {
			return &placeholders[i]
		}
	}
	return nil
}

// placeholderWord reports whether s is a REPLACE_ME-style value: one whose
// words (split at anything but letters and digits) start with a marker
// such as REPLACE_ME, CHANGE_ME, TODO, FIXME, "your", "insert", "enter", end
// with "here", or contain REPLACE_ME, CHANGE_ME, TODO, FIXME or XXXX as a
// whole word. Whole words only: base64 and hex never split into such
// words, and a random symbol-rich secret does only by rare chance.
func placeholderWord(s string) bool {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	if len(words) == 0 {
		return false
	}
	marker := func(w string) bool {
		switch w {
		case "replaceme", "changeme", "changeit", "todo", "fixme", "placeholder":
			return true
		}
		return len(w) >= 4 && strings.Trim(w, "x") == ""
	}
	pair := func(i int) string {
		if i+1 < len(words) {
			return words[i] + words[i+1]
		}
		return ""
	}
	switch words[0] {
	case "your", "insert", "enter":
		if len(words) > 1 {
			return true
		}
	}
	if words[len(words)-1] == "here" && len(words) > 1 {
		return true
	}
	for i, w := range words {
		switch {
		case marker(w):
			return true
		case pair(i) == "replaceme", pair(i) == "changeme", pair(i) == "changeit", pair(i) == "changethis", pair(i) == "replacethis":
			return true
		}
	}
	return false
}

// exampleSecrets are values printed in documentation (ours and the seed's
// Flask tutorials). A deployment using one has a secret that is public.
var exampleSecrets = []string{
	"changeme", "change-me", "change_me", "secret", "secret-key", "secret_key", "your-secret-key",
	"your_secret_key", "supersecret", "super-secret-key", "dev", "development", "password",
	"replace-me-with-a-long-random-string-of-64-hex-chars",
	"0123456789abcdef0123456789abcdef", "00000000000000000000000000000000",
	"thisisnotasecretthisisnotasecret", "you-will-never-guess",
}

// exampleWords are the words example values and placeholders are made of,
// in the form normalizeSecret gives them. A value covered by them (in any
// order, repeated, with any separators) is guessable.
var exampleWords = func() []string {
	words := strings.Fields(`this is not a secret key your change me replace with long random string of hex chars 64
		you will never guess super dev development password insecure django flask app my the here goes value token default
		example sample dummy fake test todo fixme insert enter put qwerty letmein admin abc 123456 0123456789 abcdef session
		signing cookie jwt`)
	for _, ex := range exampleSecrets {
		words = append(words, normalizeSecret(ex))
	}
	return words
}()

// normalizeSecret lower-cases s and keeps letters and digits only, so that
// separators and case do not hide an example.
func normalizeSecret(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
}

// minNonExample is how many characters of a value must be something other
// than example words and the separators between them: 16 random letters
// and digits are about 80 bits.
const minNonExample = 16

// isExample reports whether value is a documented example (whole, after
// normalizeSecret) and otherwise how many of its characters are neither
// example words nor separators (- _ . : / , + and space). The cover is the
// best over every way of splitting the value, so no word can hide another
// ("secret" inside "thisisnotasecret"), and the order of the words does
// not matter. Other symbols count as uncovered: a random password full of
// them is not made of words.
func isExample(value string) (whole bool, uncovered int) {
	n := normalizeSecret(value)
	for _, ex := range exampleSecrets {
		if n == normalizeSecret(ex) {
			return true, 0
		}
	}
	t := strings.ToLower(value)
	// best[i] is the fewest characters of t[:i] left uncovered.
	best := make([]int, len(t)+1)
	for i := 1; i <= len(t); i++ {
		best[i] = best[i-1] + 1
		if strings.IndexByte("-_.:/,+ ", t[i-1]) >= 0 {
			best[i] = best[i-1]
			continue
		}
		for _, w := range exampleWords {
			if len(w) <= i && best[i-len(w)] < best[i] && t[i-len(w):i] == w {
				best[i] = best[i-len(w)]
			}
		}
	}
	return false, best[len(t)]
}

// genSecretHint is the hint for a secret that is too weak.
const genSecretHint = "generate one with: openssl rand -base64 48"

// secretPlaceholder explains why value is a placeholder nobody filled in
// (${SECRET_KEY}, {{ secret }}, <your-key>, REPLACE_ME, …), whatever its
// length, or returns "", "". Neither string contains the value.
func secretPlaceholder(value string) (why, hint string) {
	if p := placeholderIn(value); p != nil {
		return "is an unexpanded placeholder (" + p.syntax + "): " + p.cause, p.hint
	}
	if placeholderWord(value) {
		return "is a placeholder (REPLACE_ME, TODO, your-…-here): a value nobody filled in", replaceHint
	}
	return "", ""
}

// checkSecret explains why value is not acceptable as a secret, with a
// hint, or returns "", "". The checks catch mistakes (a placeholder, a
// short password, an example), not a determined weak choice: no test can
// prove randomness. Neither string ever contains the value.
func checkSecret(value []byte) (why, hint string) {
	s := string(value)
	if why, hint := secretPlaceholder(s); why != "" {
		return why, hint
	}
	if len(value) < MinSecretBytes {
		return "is shorter than 32 bytes", genSecretHint
	}
	// A value that is mostly example words ("your-secret-key" twice, or
	// with a short suffix) is as public as the example itself.
	switch whole, uncovered := isExample(s); {
	case whole:
		return "is a documented example value", genSecretHint
	case uncovered < minNonExample:
		return "is made of example words (secret, changeme, your-secret-key, …): anyone can guess it", genSecretHint
	}
	if bitsPerByte(value) < 3.0 {
		return "has too little entropy (repeated or patterned characters)", genSecretHint
	}
	return "", ""
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
