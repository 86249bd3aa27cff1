//go:build unix

package tlsconf

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// openDir is a directory every user can pass, under the system temporary
// directory (t.TempDir's are 0700, which would hide what is tested).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rampart-keyperm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckKeyFile(t *testing.T) {
	open := openDir(t)
	closed := filepath.Join(open, "private")
	os.Mkdir(closed, 0o700)
	write := func(path string, mode os.FileMode) string {
		if err := os.WriteFile(path, []byte("key"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode) // past the umask
		return path
	}
	e, _ := CheckKeyFile(write(filepath.Join(open, "world.pem"), 0o644))
	if !e.Others || e.Blocker != "" || e.Mode != 0o644 {
		t.Errorf("0644 in an open directory: %+v", e)
	}
	e, _ = CheckKeyFile(write(filepath.Join(open, "group.pem"), 0o640))
	if e.Others || e.Group == "" {
		t.Errorf("0640: %+v", e)
	}
	e, _ = CheckKeyFile(write(filepath.Join(open, "private.pem"), 0o600))
	if e.Readable() {
		t.Errorf("0600: %+v", e)
	}
	// certbot's layout: live/ links into archive/, which is 0700.
	target := write(filepath.Join(closed, "privkey1.pem"), 0o644)
	link := filepath.Join(open, "privkey.pem")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	e, _ = CheckKeyFile(link)
	if !e.Others || e.Blocker != closed {
		t.Errorf("0644 behind a 0700 directory, through a link: %+v", e)
	}
}

// A development key left readable by others (a chmod -R on the state
// directory) is made private when rampart loads it, the certificate is
// still reused, and the log says so with what to do.
func TestDevCert_ExistingKeyReadableByOthersIsTightened(t *testing.T) {
	state := t.TempDir()
	c1, err := DevCert(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(state, DevCertDir, "key.pem")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	c2, err := devCert(state, nil, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %#o after loading, want 0600", st.Mode().Perm())
	}
	if !slices.Equal(c1.Certificate[0], c2.Certificate[0]) {
		t.Error("certificate not reused")
	}
	for _, w := range []string{"level=WARN", "made it private", key, "mode=0644", "now=0600", "delete"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, log.String())
		}
	}
	// Already private: nothing to say.
	log = logBuffer{}
	devCert(state, nil, slog.New(slog.NewTextHandler(&log, nil)))
	if log.String() != "" {
		t.Errorf("log for a private key:\n%s", log.String())
	}
}

// The ACME cache (account key, certificates with their keys) gets the same
// treatment when the gateway's TLS is built.
func TestNew_ACMECacheKeysAreTightened(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, ACMEDir)
	os.MkdirAll(dir, 0o755)
	account := filepath.Join(dir, "acme_account+key")
	os.WriteFile(account, []byte("-----BEGIN EC PRIVATE KEY-----\n"), 0o644)
	os.Chmod(account, 0o644)
	var log logBuffer
	_, err := New(Options{Hosts: []string{"app.rampart.test"}, StateDir: state,
		ACME:   &ACMEOptions{DirectoryURL: "https://127.0.0.1:1/dir", Email: "ops@rampart.test"},
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(account); st.Mode().Perm() != 0o600 {
		t.Errorf("account key mode %#o, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %#o, want 0700", st.Mode().Perm())
	}
	if !strings.Contains(log.String(), "made it private") || !strings.Contains(log.String(), account) {
		t.Errorf("no log record:\n%s", log.String())
	}
}
