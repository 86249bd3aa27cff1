package config

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// A value that is a placeholder nobody filled in is refused whatever its
// length, with the likely cause, and the finding never repeats it.
func TestSecret_UnexpandedPlaceholderIsRefused(t *testing.T) {
	long := "_FROM_THE_VAULT_OF_THE_PRODUCTION_DEPLOYMENT"
	cases := map[string]string{
		"${SECRET_KEY}":                                  "never expanded",
		"${DJANGO_SECRET_KEY" + long + "}":               "never expanded",
		"${SECRET_KEY:-}":                                "never expanded",
		"${SECRET_KEY:?secret key must be set}":          "never expanded",
		"prefix-${SECRET_KEY_PART}-suffix-0123456789":    "never expanded",
		"$SECRET_KEY":                                    "never expanded",
		"$DJANGO_SECRET_KEY" + long:                      "never expanded",
		"$(openssl rand -base64 48)":                     "never ran",
		"$(cat /run/secrets/django_secret_key)":          "never ran",
		"{{ secret_key }}":                               "never rendered",
		"{{ .Values.django.secretKey" + long + " }}":     "never rendered",
		"%(SECRET_KEY)s":                                 "never applied",
		"%(django_secret_key" + long + ")s":              "never applied",
		"<your-secret-key>":                              "never replaced",
		"<generate one with openssl rand -base64 48>":    "never replaced",
		"REPLACE_ME":                                     "nobody filled in",
		"CHANGE_ME":                                      "nobody filled in",
		"CHANGEME_" + long:                               "nobody filled in",
		"replace-me-with-a-real-secret-before-deploying": "nobody filled in",
		"TODO": "nobody filled in",
		"TODO: generate a real key before going live": "nobody filled in",
		"FIXME":                 "nobody filled in",
		strings.Repeat("x", 48): "nobody filled in",
		"XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX":        "nobody filled in",
		"your-django-secret-key-goes-here":               "nobody filled in",
		"your_very_long_and_very_random_secret_key_123":  "nobody filled in",
		"insert-the-production-signing-key-0a9b8c7d6e5f": "nobody filled in",
	}
	for v, cause := range cases {
		t.Run(v, func(t *testing.T) {
			p, fs, _ := load(t, minimal, map[string]string{"RAMPART_SECRET_KEY": v}, Flags{})
			got := fmtFindings(fs)
			if p != nil || !strings.Contains(got, "env RAMPART_SECRET_KEY: error: secret_key: secret RAMPART_SECRET_KEY is") ||
				!strings.Contains(got, "placeholder") || !strings.Contains(got, cause) {
				t.Errorf("want a placeholder error naming the cause %q, got plan=%v:\n%s", cause, p != nil, got)
			}
			if len(v) > len("REPLACE_ME") && strings.Contains(got, v) { // shorter ones are words of the message
				t.Errorf("finding repeats the value:\n%s", got)
			}
		})
	}
}

// A Redis password that is a placeholder would be sent as written: that is
// an error, where a weak password chosen for the server is a warning.
func TestSecret_PlaceholderRedisPasswordIsAnError(t *testing.T) {
	y := minimal + "ratelimit:\n  zones:\n    api: {rate: 10r/s, backend: 'redis://127.0.0.1:6379/0', password_secret: REDIS_PASSWORD}\n  rules: [{prefix: /api/, limits: [{zone: api, burst: 20}]}]\n"
	p, fs, _ := load(t, y, map[string]string{"REDIS_PASSWORD": "${REDIS_PASSWORD}"}, Flags{})
	if p != nil || !strings.Contains(fs.Error(), "ratelimit.zones.api.password_secret: secret REDIS_PASSWORD is an unexpanded placeholder") {
		t.Errorf("placeholder Redis password accepted:\n%s", fmtFindings(fs))
	}
	p, fs, _ = load(t, y, map[string]string{"REDIS_PASSWORD": "hunter2"}, Flags{})
	if p == nil || !strings.Contains(fmtFindings(fs), "warning: ratelimit.zones.api.password_secret: secret REDIS_PASSWORD is shorter") {
		t.Errorf("short Redis password: want a warning, got plan=%v:\n%s", p != nil, fmtFindings(fs))
	}
}

// rampart's own example list holds thisisnotasecretthisisnotasecret; the
// value, its words in another order or repeated, with any separators and
// case, is refused. Removing list entries one after the other ("secret"
// first) let it through.
func TestSecret_ExampleWordsInAnyOrderAreRefused(t *testing.T) {
	for _, v := range []string{
		"thisisnotasecretthisisnotasecret",
		"THIS-IS-NOT-A-SECRET this is not a secret",
		"notasecretthisisnotasecretthisis",
		"secretanotisthissecretanotisthis",
		"you-will-never-guess-you-will-never-guess",
		"never.guess.you.will/never.guess.you.will",
		"super-secret-key:super-secret-key:super-secret-key",
		"0123456789abcdef0123456789abcdef0123456789abcdef",
		"development-secret-key-for-the-flask-app-dev",
		"your-secret-key-your-secret-key-!!",
	} {
		why, _ := checkSecret([]byte(v))
		if why == "" || (!strings.Contains(why, "example") && !strings.Contains(why, "placeholder")) {
			t.Errorf("%q: accepted or wrong reason %q", v, why)
		}
	}
	// Example words around enough random text are not an example.
	for _, v := range []string{"secret-key-q8Vh3tZ0pLr7Yx2mNc5Wb9K", "q8Vh3tZ0pLr7Yx2mNc5W-thisisnotasecret"} {
		if why, _ := checkSecret([]byte(v)); why != "" {
			t.Errorf("%q refused: %s", v, why)
		}
	}
}

// Secrets as generators make them are accepted: none of the placeholder or
// example rules may refuse a random value. Measured over a million values
// of each kind: no base64, hex or base64url value refused; about two in a
// million 32-character passwords of all printable ASCII, and Django keys,
// refused as placeholders (a word such as TODO or "here" by chance).
func TestSecret_GeneratedSecretsAreAccepted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	from := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	var printable strings.Builder
	for c := byte('!'); c <= '~'; c++ {
		printable.WriteByte(c)
	}
	gens := []struct {
		name string
		gen  func() string
	}{
		{"openssl rand -base64 32", func() string { return base64.StdEncoding.EncodeToString(random(32)) }},
		{"openssl rand -base64 48", func() string { return base64.StdEncoding.EncodeToString(random(48)) }},
		{"openssl rand -hex 32", func() string { return hex.EncodeToString(random(32)) }},
		{"secrets.token_urlsafe()", func() string { return base64.RawURLEncoding.EncodeToString(random(32)) }},
		{"django get_random_secret_key", func() string { return from("abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)", 50) }},
		{"password manager, 32 printable", func() string { return from(printable.String(), 32) }},
	}
	for _, g := range gens {
		for range 2000 {
			v := g.gen()
			if why, _ := checkSecret([]byte(v)); why != "" {
				t.Errorf("%s: %q refused: %s", g.name, v, why)
			}
		}
	}
}

// A secret value written where a secret's name belongs is never printed:
// not in the message, not in the hint, not by serve or config check.
func TestSecret_ValueWrittenAsNameIsNotPrinted(t *testing.T) {
	values := []string{
		"q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6Fg0Hu3Io8Pz+Q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6", // base64, 48 bytes
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",           // hex: a valid variable name
		"Drmhze6EPcv0fN_81BjnAxQ4",         // base64url: a valid variable name
		"x7kq2m9pz3r1",                     // short, letters and digits interleaved
		"k7#Rz2!Qw9Xv4Lp8Mn3Bt6Yc1Hs5Gd0F", // password manager
		"correct horse battery staple",     // a passphrase
	}
	for _, v := range values {
		for _, y := range []string{
			minimal + "secret_key: " + yamlQuote(v) + "\n",
			minimal + "require_secrets: [APP_SECRET, " + yamlQuote(v) + "]\n",
			minimal + "ratelimit:\n  zones:\n    api: {rate: 10r/s, backend: 'redis://127.0.0.1:6379/0', password_secret: " + yamlQuote(v) + "}\n  rules: [{prefix: /api/, limits: [{zone: api, burst: 20}]}]\n",
		} {
			p, fs, _ := load(t, y, map[string]string{"APP_SECRET": "Jq3vZ8pL1xW6nR0tY4cB7mK2sD9fG5hA="}, Flags{})
			got := fmtFindings(fs)
			if p != nil || !strings.Contains(got, "looks like a secret value, not a variable name") {
				t.Errorf("%q: want 'looks like a secret value', got plan=%v:\n%s", v, p != nil, got)
			}
			if strings.Contains(got, v) {
				t.Errorf("%q: finding repeats the value:\n%s", v, got)
			}
		}
	}
}

// Names are environment variable names; anything else is refused without
// being repeated, and a variable reference gets its own explanation.
func TestSecret_NameMustBeAVariableName(t *testing.T) {
	cases := map[string]string{
		"${APP_SECRET}":          "rampart does not expand variables",
		"$APP_SECRET":            "rampart does not expand variables",
		"{{ app_secret }}":       "rampart does not expand variables",
		"app-secret":             "is not a variable name",
		"1SECRET":                "is not a variable name",
		strings.Repeat("A", 129): "looks like a secret value",
		"APP SECRET":             "is not a variable name",
		"\"APP_SECRET\"":         "is not a variable name",
	}
	for name, want := range cases {
		msg, hint := secretNameProblem(name)
		if !strings.Contains(msg, want) || hint == "" {
			t.Errorf("%q: got %q (hint %q), want %q", name, msg, hint, want)
		}
		if strings.Contains(msg+hint, name) {
			t.Errorf("%q: repeated in %q / %q", name, msg, hint)
		}
	}
	for _, name := range []string{"RAMPART_SECRET_KEY", "SECRET_KEY", "OAUTH2_CLIENT_SECRET", "S3_ACCESS_KEY", "app_secret",
		"DJANGO_SECRET_KEY", "_PRIVATE", "AWS_SECRET_ACCESS_KEY", "INTERNATIONALIZATION_KEY", "SHA256_HMAC_KEY"} {
		if msg, _ := secretNameProblem(name); msg != "" {
			t.Errorf("%q refused: %s", name, msg)
		}
	}
}

func yamlQuote(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// FuzzSecretFindings: whatever is written as a secret's name and whatever
// its value, no finding contains the value, nor a name that was refused.
// Inputs shorter than 16 bytes are skipped: they could occur in the fixed
// text of a finding by chance.
func FuzzSecretFindings(f *testing.F) {
	f.Add("APP_SECRET", "q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6Fg0Hu3Io8Pz=")
	f.Add("q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6Fg0Hu3Io8Pz=", "${SECRET_KEY}")
	f.Add("${APP_SECRET}", "thisisnotasecretthisisnotasecret")
	f.Add("9f86d081884c7d659a2feaa0c55ad015", "REPLACE_ME_REPLACE_ME_REPLACE_ME")
	f.Fuzz(func(t *testing.T, name, value string) {
		if strings.ContainsAny(name, "\x00") {
			return
		}
		doc, err := yaml.Marshal(map[string]any{
			"hosts":           []string{"example.com"},
			"upstream":        map[string]string{"url": "http://127.0.0.1:5000"},
			"secret_key":      name,
			"require_secrets": []string{name, "FUZZ_REQUIRED"},
		})
		if err != nil {
			return
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "rampart.yaml")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		_, fs := Load(Source{Path: path, LookupEnv: func(k string) (string, bool) {
			if k == name || k == "FUZZ_REQUIRED" {
				return value, true
			}
			return "", false
		}})
		got := fmtFindings(fs)
		if len(value) >= 16 && value != name && !strings.Contains(name, value) && strings.Contains(got, value) {
			t.Errorf("a finding contains the secret value %q:\n%s", value, got)
		}
		if msg, _ := secretNameProblem(name); msg != "" && len(name) >= 16 && strings.Contains(got, name) {
			t.Errorf("a finding contains the refused name %q:\n%s", name, got)
		}
		why, hint := checkSecret([]byte(value))
		if len(value) >= 16 && strings.Contains(why+hint, value) {
			t.Errorf("checkSecret repeats %q: %s / %s", value, why, hint)
		}
	})
}

// A secret pasted where a key or a URL belongs is not printed either.
func TestSecret_ValuePastedAsKeyOrURLIsNotPrinted(t *testing.T) {
	secret := "q8Vh3tZ0pLr7Yx2mNc5Wb9Ke4Ja1Sd6Fg0Hu3Io8Pz"
	_, fs, _ := load(t, minimal+secret+": x\n", nil, Flags{})
	if got := fmtFindings(fs); strings.Contains(got, secret) || !strings.Contains(got, "rampart.yaml:5: error: unknown key (not repeated here") {
		t.Errorf("secret as a key:\n%s", got)
	}
	_, fs, _ = load(t, "hosts: [example.com]\nupstream: {url: 'http://app:"+secret+"@127.0.0.1:5000/%zz'}\n", nil, Flags{})
	if got := fmtFindings(fs); strings.Contains(got, secret) || !strings.Contains(got, "upstream.url: is not a URL (not repeated here") {
		t.Errorf("password in an unparseable URL:\n%s", got)
	}
}
