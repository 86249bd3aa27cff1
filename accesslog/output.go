package accesslog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Output says where a log stream goes and how it rotates. It serves the
// access log and the security log alike (OpenWriter is not specific to
// access records). The zero value writes to standard output.
//
// The defaults keep a real audit trail: 100 MB per file and 10 compressed
// backups hold roughly 1.1 GB before compression, weeks of traffic for a
// typical site, where the old RotatingFileHandler(maxBytes=10000,
// backupCount=3) kept about 30 KB, a few seconds of a flood: an attacker
// could erase their own traces by making noise.
type Output struct {
	// Path of the log file. "" or "-" means standard output (for
	// journald, Docker, Kubernetes), which is the default. The directory is
	// created with mode 0750 if missing; the file is created with mode 0640
	// (owner writes, the owner's group, e.g. a log shipper, reads; others
	// nothing), and rotated files keep that mode.
	Path string

	// MaxSizeMB is the size in megabytes at which the file is rotated.
	// Default 100. Must be at least 1.
	MaxSizeMB int

	// MaxBackups is how many rotated files are kept. Default 10. There is
	// no "unlimited": set a large number and MaxAgeDays instead.
	MaxBackups int

	// MaxAgeDays removes rotated files older than this many days. Default
	// 0: age is not considered, rotated files are kept by count only
	// (MaxBackups). Set it to meet a retention policy (GDPR: no longer
	// than needed).
	MaxAgeDays int

	// NoCompress keeps rotated files uncompressed. Default false: rotated
	// files are gzip-compressed (in the background, after rotation).
	NoCompress bool
}

// Defaults for Output.
const (
	DefaultMaxSizeMB  = 100
	DefaultMaxBackups = 10
)

// Stdout reports whether o writes to standard output.
func (o Output) Stdout() bool { return o.Path == "" || o.Path == "-" }

// Validate checks o. Each error names its YAML key (path, max_size_mb,
// max_backups, max_age_days) so configuration can prefix it with its
// location, and says what to do.
func (o Output) Validate() error {
	var errs []error
	if o.MaxSizeMB < 0 {
		errs = append(errs, fmt.Errorf("max_size_mb: must be >= 1 (got %d); hint: rotating files smaller than a megabyte erases the audit trail within seconds of a flood; omit the key for the default of %d", o.MaxSizeMB, DefaultMaxSizeMB))
	}
	if o.MaxBackups < 0 {
		errs = append(errs, fmt.Errorf("max_backups: must be >= 0 (got %d); hint: omit the key for the default of %d", o.MaxBackups, DefaultMaxBackups))
	}
	if o.MaxAgeDays < 0 {
		errs = append(errs, fmt.Errorf("max_age_days: must be >= 0 (got %d); hint: 0 keeps rotated files by count only", o.MaxAgeDays))
	}
	if !o.Stdout() {
		if fi, err := os.Stat(o.Path); err == nil && fi.IsDir() {
			errs = append(errs, fmt.Errorf("path: %s is a directory; hint: name a file in it, e.g. %s", o.Path, filepath.Join(o.Path, "access.log")))
		}
	}
	return errors.Join(errs...)
}

// Warnings lists valid but risky choices, for `rampart config check`.
func (o Output) Warnings() []string {
	var w []string
	size, backups := o.withDefaults()
	if !o.Stdout() && size*(backups+1) < 10 {
		w = append(w, fmt.Sprintf("max_size_mb x (max_backups+1) keeps only %d MB of history; a flood can push an attack out of the log", size*(backups+1)))
	}
	if !o.Stdout() {
		// An existing file keeps its mode across rotations; the 0640 only
		// applies to files OpenWriter creates.
		if fi, err := os.Stat(o.Path); err == nil && fi.Mode().Perm()&0o007 != 0 {
			w = append(w, fmt.Sprintf("path: %s is accessible to all users (mode %#o); hint: chmod 640 %s", o.Path, fi.Mode().Perm(), o.Path))
		}
	}
	if o.MaxAgeDays > 0 && o.MaxAgeDays < 7 {
		w = append(w, fmt.Sprintf("max_age_days: %d days is shorter than most incident detection times", o.MaxAgeDays))
	}
	return w
}

func (o Output) withDefaults() (size, backups int) {
	size, backups = o.MaxSizeMB, o.MaxBackups
	if size == 0 {
		size = DefaultMaxSizeMB
	}
	if backups == 0 {
		backups = DefaultMaxBackups
	}
	return size, backups
}

// OpenWriter validates o and opens its writer: standard output (Close
// does nothing) or a lumberjack.Logger, safe for concurrent writes, that
// also has Rotate() error for a SIGHUP handler. The file is created (and
// its directory) now, so a path that cannot be written fails at startup
// rather than on the first request.
func OpenWriter(o Output) (io.WriteCloser, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Stdout() {
		return nopCloser{os.Stdout}, nil
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o750); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	// Create with our mode before lumberjack opens it: lumberjack reuses
	// an existing file's mode, and its own default is 0600.
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	size, backups := o.withDefaults()
	return &lumberjack.Logger{
		Filename:   o.Path,
		MaxSize:    size,
		MaxBackups: backups,
		MaxAge:     o.MaxAgeDays,
		Compress:   !o.NoCompress,
	}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
