package logfile

import (
	"io"
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
		o    Options
		want []string
	}{
		{"NegativeSize", Options{Path: "x.log", MaxSizeMB: -1}, []string{"MaxSizeMB: must not be negative", "hint:"}},
		{"NegativeBackups", Options{MaxBackups: -2}, []string{"MaxBackups: must not be negative"}},
		{"NegativeAge", Options{MaxAgeDays: -1}, []string{"MaxAgeDays: must not be negative"}},
		{"Directory", Options{Path: dir}, []string{"Path: \"" + dir + "\" is a directory"}},
		{"AllErrorsAtOnce", Options{MaxSizeMB: -1, MaxBackups: -1}, []string{"MaxSizeMB", "MaxBackups"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Validate().Err()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := Open(c.o); err == nil {
				t.Error("Open accepted it")
			}
		})
	}
	if errs := (Options{}).Validate(); len(errs) != 0 {
		t.Fatalf("zero Options: %v", errs)
	}
}

func TestOptions_Warnings(t *testing.T) {
	if w := (Options{Path: "a.log"}).Validate(); len(w) != 0 {
		t.Fatalf("defaults warn: %q", w)
	}
	if w := (Options{Path: "a.log", MaxSizeMB: 1, MaxBackups: 3, MaxAgeDays: 1}).Validate(); len(w) != 2 || w.HasErrors() {
		t.Fatalf("warnings = %q", w)
	}
	if w := (Options{Path: "a.log", MaxSizeMB: 9}).Validate(); len(w) != 1 || !strings.Contains(w[0].Message, "keeps only 99 MB of history") {
		t.Fatalf("warnings = %q", w)
	}
	worldReadable := filepath.Join(t.TempDir(), "old.log")
	os.WriteFile(worldReadable, nil, 0o644)
	if w := (Options{Path: worldReadable}).Validate(); len(w) != 1 || !strings.Contains(w[0].Hint, "chmod 640") {
		t.Fatalf("warnings = %q", w)
	}
}

func TestOpen_Stdout(t *testing.T) {
	for _, p := range []string{"", "-"} {
		w, err := Open(Options{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpen_CreatesFileWithRestrictedMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "access.log")
	w, err := Open(Options{Path: path})
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

func TestOpen_UnwritablePathFailsAtStartup(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := Open(Options{Path: filepath.Join(dir, "access.log")}); err == nil || !strings.Contains(err.Error(), "access.log") {
		t.Fatalf("err = %v", err)
	}
}

// Compression happens in lumberjack's background goroutine after rotation;
// the test waits for the .gz file (the deadline only guards a hang).
func TestOpen_CompressesRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "security.log")
	w, err := Open(Options{Path: path, MaxSizeMB: 1})
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
