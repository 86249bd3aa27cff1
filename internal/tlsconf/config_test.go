package tlsconf

import (
	"crypto/tls"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestServerConfig_Golden pins the TLS policy: any change to versions,
// suites, groups or ALPN shows up as a diff of testdata/server_config.golden.
func TestServerConfig_Golden(t *testing.T) {
	cfg := ServerConfig(nil)
	var b strings.Builder
	b.WriteString("min_version: " + tls.VersionName(cfg.MinVersion) + "\n")
	b.WriteString("max_version: " + tls.VersionName(cfg.MaxVersion) + "\n")
	b.WriteString("tls12_cipher_suites:\n")
	for _, id := range cfg.CipherSuites {
		b.WriteString("  - " + tls.CipherSuiteName(id) + "\n")
	}
	b.WriteString("groups:\n")
	for _, c := range cfg.CurvePreferences {
		b.WriteString("  - " + c.String() + "\n")
	}
	b.WriteString("alpn: " + strings.Join(cfg.NextProtos, ", ") + "\n")
	got := b.String()
	const golden = "testdata/server_config.golden"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("server TLS policy changed:\n--- got\n%s--- want\n%s", got, want)
	}
}

// TestServerConfig_NoCBCNoRSAKeyExchange checks every offered TLS 1.2
// suite against crypto/tls's own metadata: ECDHE, AEAD, not insecure.
func TestServerConfig_NoCBCNoRSAKeyExchange(t *testing.T) {
	known := map[uint16]*tls.CipherSuite{}
	for _, s := range tls.CipherSuites() {
		known[s.ID] = s
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.ID] = s
	}
	for _, id := range ServerConfig(nil).CipherSuites {
		s := known[id]
		name := tls.CipherSuiteName(id)
		switch {
		case s == nil:
			t.Errorf("%s: unknown suite", name)
		case s.Insecure:
			t.Errorf("%s: marked insecure by crypto/tls", name)
		case strings.Contains(name, "CBC"):
			t.Errorf("%s: CBC suite offered", name)
		case !strings.HasPrefix(name, "TLS_ECDHE_"):
			t.Errorf("%s: no forward secrecy (RSA key exchange)", name)
		case !strings.Contains(name, "_GCM_") && !strings.Contains(name, "CHACHA20_POLY1305"):
			t.Errorf("%s: not AEAD", name)
		}
	}
	if got := ServerConfig(nil).CurvePreferences; got[0] != tls.X25519MLKEM768 {
		t.Errorf("first group = %v, want X25519MLKEM768", got[0])
	}
	if !slices.Equal(ServerConfig(nil).NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("ALPN = %v", ServerConfig(nil).NextProtos)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"1.0", "1.1", "TLS1.2", "1.4"} {
		if _, err := ParseVersion(in); err == nil || !strings.Contains(err.Error(), "is not a TLS version rampart allows") {
			t.Errorf("ParseVersion(%q) err = %v", in, err)
		}
	}
}

func TestNew_DowngradeMinVersionRefused(t *testing.T) {
	_, err := New(Options{StateDir: t.TempDir(), MinVersion: tls.VersionTLS11})
	if err == nil || !strings.Contains(err.Error(), "MinVersion: 0x0302 is not allowed") {
		t.Fatalf("err = %v", err)
	}
}

func TestNew_FilesAndACMEMutuallyExclusive(t *testing.T) {
	_, err := New(Options{CertFile: "c", KeyFile: "k", ACME: &ACMEOptions{}, Hosts: []string{"a.example"}, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "ACME: cannot be used with certificate files") {
		t.Fatalf("err = %v", err)
	}
}

// With no certificate source, the zero Options are refused; the
// development certificate must be asked for, and is reported.
func TestNew_DevCertOnlyWhenAskedAndReported(t *testing.T) {
	if _, err := New(Options{StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no certificate source") {
		t.Fatalf("zero Options: %v", err)
	}
	o := Options{StateDir: t.TempDir(), InsecureDevCertificate: true}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if w := o.Validate(); len(w) != 1 || w.HasErrors() || w[0].Path != "InsecureDevCertificate" || s.ChallengeHandler() != nil {
		t.Fatalf("findings = %v", w)
	}
	c, err := s.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
	if err != nil || c == nil {
		t.Fatal(err)
	}
}
