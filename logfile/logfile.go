// Package logfile opens the files rampart's logs are written to, rotated by
// size (lumberjack), with modes and defaults that keep an audit trail.
package logfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/rampart-dev/rampart/field"
)

// Options say where a log stream goes and how it rotates: the access log
// and the security log alike. The zero value writes to standard output.
//
// The defaults keep a real audit trail: 100 MB per file and 10 compressed
// backups hold roughly 1.1 GB before compression, weeks of traffic for a
// typical site, where the old RotatingFileHandler(maxBytes=10000,
// backupCount=3) kept about 30 KB, a few seconds of a flood: an attacker
// could erase their own traces by making noise.
type Options struct {
	// Path of the log file. "" or "-" means standard output (for
	// journald, Docker, Kubernetes), which is the default. The directory is
	// created with mode 0750 if missing; the file is created with mode 0640
	// (owner writes, the owner's group, e.g. a log shipper, reads; others
	// nothing), and rotated files keep that mode.
	Path string

	// MaxSizeMB is the size in megabytes at which the file is rotated.
	// Zero means DefaultMaxSizeMB (100).
	MaxSizeMB int

	// MaxBackups is how many rotated files are kept. Zero means
	// DefaultMaxBackups (10). There is no "unlimited": set a large number
	// and MaxAgeDays instead.
	MaxBackups int

	// MaxAgeDays removes rotated files older than this many days. Default
	// 0: age is not considered, rotated files are kept by count only
	// (MaxBackups). Set it to meet a retention policy (GDPR: no longer
	// than needed).
	MaxAgeDays int

	// NoCompress keeps rotated files uncompressed. Default false: rotated
	// files are gzip-compressed (in the background, after rotation).
	NoCompress bool

	// BufferSize, when positive, gathers lines in a buffer of this many
	// bytes and writes them out together (see Buffered): when the buffer
	// is full, FlushInterval after a line entered it, and on Rotate and
	// Close. Default 0: every line is written as it comes. At most
	// MaxBufferSize. A process killed outright (SIGKILL, the OOM killer)
	// loses what the buffer held: keep it for streams that are not the
	// audit trail (the access log, not the security log).
	BufferSize int

	// FlushInterval is the longest a line waits in the buffer. Zero means
	// DefaultFlushInterval (100 ms); at most MaxFlushInterval (10 s).
	// Without BufferSize it has no effect.
	FlushInterval time.Duration
}

// Defaults for Options.
const (
	DefaultMaxSizeMB  = 100
	DefaultMaxBackups = 10
	// MinHistoryMB is the least history (MaxSizeMB × (MaxBackups+1))
	// below which Validate warns: a flood can then push an attack out of
	// the log before anyone reads it.
	MinHistoryMB = 100
)

// Stdout reports whether o writes to standard output.
func (o Options) Stdout() bool { return o.Path == "" || o.Path == "-" }

// Validate reports what is wrong with o, and what is valid but weakens the
// audit trail, by Go field name. Open refuses o on any error.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	if o.MaxSizeMB < 0 {
		errs.Errorf("MaxSizeMB", fmt.Sprintf("omit it for the default of %d", DefaultMaxSizeMB), "must not be negative")
	}
	if o.MaxBackups < 0 {
		errs.Errorf("MaxBackups", fmt.Sprintf("omit it for the default of %d", DefaultMaxBackups), "must not be negative")
	}
	if o.MaxAgeDays < 0 {
		errs.Errorf("MaxAgeDays", "0 keeps rotated files by count only", "must not be negative")
	}
	switch {
	case o.BufferSize < 0:
		errs.Errorf("BufferSize", "0 writes every line at once", "must not be negative")
	case o.BufferSize > MaxBufferSize:
		errs.Errorf("BufferSize", "64k is plenty: one write per few hundred lines", "must be at most %d bytes (1 MiB)", MaxBufferSize)
	}
	switch {
	case o.FlushInterval < 0:
		errs.Errorf("FlushInterval", "omit it for the default of "+DefaultFlushInterval.String(), "must not be negative")
	case o.FlushInterval > MaxFlushInterval:
		errs.Errorf("FlushInterval", "omit it for the default of "+DefaultFlushInterval.String(),
			"%s is over the limit of %s: a process killed outright would take that much of the log with it", o.FlushInterval, MaxFlushInterval)
	case o.FlushInterval > 0 && o.BufferSize == 0:
		errs.Warnf("FlushInterval", "set a buffer size too, or remove it", "has no effect without a buffer")
	}
	if o.Stdout() {
		return errs
	}
	// A missing directory is created at start; a directory in place of
	// the file, or a file in place of the directory, cannot be.
	if st, err := os.Stat(o.Path); err == nil && st.IsDir() {
		errs.Errorf("Path", "name a file inside it, e.g. "+filepath.Join(o.Path, "access.log"), "%q is a directory", o.Path)
	} else if err == nil && st.Mode().Perm()&0o007 != 0 {
		// An existing file keeps its mode across rotations; the 0640
		// only applies to files Open creates.
		errs.Warnf("Path", "chmod 640 "+o.Path, "%q is accessible to all users (mode %#o)", o.Path, st.Mode().Perm())
	} else if st, err := os.Stat(filepath.Dir(o.Path)); err == nil && !st.IsDir() {
		errs.Errorf("Path", "choose a path in a directory", "%q is not a directory", filepath.Dir(o.Path))
	}
	size, backups := o.withDefaults()
	if history := size * (backups + 1); o.MaxSizeMB >= 0 && o.MaxBackups >= 0 && history < MinHistoryMB {
		errs.Warnf("MaxSizeMB", "keep at least 100 MB, e.g. the defaults: 100 MB per file, 10 backups",
			"keeps only %d MB of history: too little for an audit trail, a flood can push an attack out of the log", history)
	}
	if o.MaxAgeDays > 0 && o.MaxAgeDays < 7 {
		errs.Warnf("MaxAgeDays", "keep rotated files for weeks", "%d days is shorter than most incident detection times", o.MaxAgeDays)
	}
	return errs
}

func (o Options) withDefaults() (size, backups int) {
	size, backups = o.MaxSizeMB, o.MaxBackups
	if size == 0 {
		size = DefaultMaxSizeMB
	}
	if backups == 0 {
		backups = DefaultMaxBackups
	}
	return size, backups
}

// Open validates o and opens its writer: standard output (Close does
// nothing) or a lumberjack.Logger, safe for concurrent writes, that also
// has Rotate() error for a SIGHUP handler; behind a Buffered when
// o.BufferSize is set. The file is created (and its
// directory) now, so a path that cannot be written fails at startup rather
// than on the first request.
func Open(o Options) (io.WriteCloser, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	if o.Stdout() {
		return o.buffer(nopCloser{os.Stdout}), nil
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o750); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	// Create with our mode before lumberjack opens it: lumberjack reuses
	// an existing file's mode, and its own default is 0600.
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	size, backups := o.withDefaults()
	return o.buffer(&lumberjack.Logger{
		Filename:   o.Path,
		MaxSize:    size,
		MaxBackups: backups,
		MaxAge:     o.MaxAgeDays,
		Compress:   !o.NoCompress,
	}), nil
}

func (o Options) buffer(w io.WriteCloser) io.WriteCloser {
	if o.BufferSize <= 0 {
		return w
	}
	return NewBuffered(w, o.BufferSize, o.FlushInterval)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
