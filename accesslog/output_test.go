package accesslog

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOutput_Validation(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		o    Output
		want []string
	}{
		{"NegativeSize", Output{Path: "x.log", MaxSizeMB: -1}, []string{"max_size_mb: must be >= 1", "hint:"}},
		{"NegativeBackups", Output{MaxBackups: -2}, []string{"max_backups: must be >= 0"}},
		{"NegativeAge", Output{MaxAgeDays: -1}, []string{"max_age_days: must be >= 0"}},
		{"Directory", Output{Path: dir}, []string{"path: " + dir + " is a directory"}},
		{"AllErrorsAtOnce", Output{MaxSizeMB: -1, MaxBackups: -1}, []string{"max_size_mb", "max_backups"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := OpenWriter(c.o); err == nil {
				t.Error("OpenWriter accepted it")
			}
		})
	}
	if err := (Output{}).Validate(); err != nil {
		t.Fatalf("zero Output: %v", err)
	}
}

func TestOutput_Warnings(t *testing.T) {
	if w := (Output{Path: "a.log"}).Warnings(); len(w) != 0 {
		t.Fatalf("defaults warn: %q", w)
	}
	if w := (Output{Path: "a.log", MaxSizeMB: 1, MaxBackups: 3, MaxAgeDays: 1}).Warnings(); len(w) != 2 {
		t.Fatalf("Warnings = %q", w)
	}
	worldReadable := filepath.Join(t.TempDir(), "old.log")
	os.WriteFile(worldReadable, nil, 0o644)
	if w := (Output{Path: worldReadable}).Warnings(); len(w) != 1 || !strings.Contains(w[0], "chmod 640") {
		t.Fatalf("Warnings = %q", w)
	}
}

func TestOpenWriter_Stdout(t *testing.T) {
	for _, p := range []string{"", "-"} {
		w, err := OpenWriter(Output{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenWriter_CreatesFileWithRestrictedMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "access.log")
	w, err := OpenWriter(Output{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode = %v, want 0640", fi.Mode().Perm())
	}
	if _, ok := w.(interface{ Rotate() error }); !ok {
		t.Fatal("file writer has no Rotate")
	}
}

func TestOpenWriter_UnwritablePathFailsAtStartup(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := OpenWriter(Output{Path: filepath.Join(dir, "access.log")}); err == nil || !strings.HasPrefix(err.Error(), "path: ") {
		t.Fatalf("err = %v", err)
	}
}

// Rotation at the 1 MB minimum: more than a megabyte of records through
// the middleware produces a rotated file that keeps the mode, and every
// line in both files is a whole record.
func TestOpenWriter_RotatesThroughMiddleware(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w, err := OpenWriter(Output{Path: path, MaxSizeMB: 1, MaxBackups: 2, NoCompress: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/"+strings.Repeat("p", 1000), nil)
	for i := 0; i < 1200; i++ { // ~1.4 MB
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "access-*.log"))
	if len(backups) != 1 {
		t.Fatalf("backups = %v, want 1", backups)
	}
	total := 0
	for _, f := range append(backups, path) {
		fi, _ := os.Stat(f)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s mode = %v", f, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(f)
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		for _, line := range lines {
			decode(t, string(line)+"\n")
		}
		total += len(lines)
	}
	if total != 1200 {
		t.Fatalf("%d records, want 1200", total)
	}
}

// Compression happens in lumberjack's background goroutine after rotation;
// the test waits for the .gz file (the deadline only guards a hang).
func TestOpenWriter_CompressesRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "security.log")
	w, err := OpenWriter(Output{Path: path, MaxSizeMB: 1})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for i := 0; i < 1100; i++ {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		gz, _ := filepath.Glob(filepath.Join(dir, "security-*.log.gz"))
		plain, _ := filepath.Glob(filepath.Join(dir, "security-*.log"))
		if len(gz) == 1 && len(plain) == 0 {
			f, _ := os.Open(gz[0])
			head := make([]byte, 2)
			io.ReadFull(f, head)
			f.Close()
			if head[0] != 0x1f || head[1] != 0x8b {
				t.Fatalf("%s is not gzip", gz[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no compressed backup: gz=%v plain=%v", gz, plain)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
