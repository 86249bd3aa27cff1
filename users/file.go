package users

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/field"
)

// DefaultReloadInterval is how often File.Run looks at the file when
// Options.ReloadInterval is zero.
const DefaultReloadInterval = 5 * time.Second

// Options say which users file to serve and how to watch it.
type Options struct {
	// Path of the users file (YAML, see the package's README section).
	// Required. It must be readable and writable by its owner only
	// (0600): the hashes in it can be attacked offline by whoever reads
	// them, and whoever can write it can make themselves an administrator.
	// A mode that lets other users read or write it, or the group write
	// it, is an error; one that lets the group read it a warning.
	Path string

	// ReloadInterval is how often Run checks the file for changes. Zero
	// means DefaultReloadInterval (5s).
	ReloadInterval time.Duration

	// Logger receives the reloads and the refused versions of the file.
	// nil means slog.Default().
	Logger *slog.Logger

	// OnChange, when set, is called after a reload put a new version in
	// service, with the names of the users whose account changed in a way
	// that must end their sessions: removed, disabled, given another
	// password hash, TOTP secret or roles. The gateway revokes their
	// sessions, so `rampart user disable` or `passwd` takes effect on
	// every session at once, not at the next login.
	OnChange func(names []string)
}

// Validate reports what is wrong with o, and what is valid but weak, by Go
// field path: "Path" carries the file's own problems, each message naming
// file:line and the key in the file. It reads the file and decodes every
// hash's parameters (no hashing). Open refuses o on any error.
func (o Options) Validate() field.Errors {
	errs, _ := o.check()
	return errs
}

// check is Validate, also returning the file's contents when it has no
// error, so that Open reads the file once and checks exactly what
// Validate checks.
func (o Options) check() (field.Errors, *snapshot) {
	var errs field.Errors
	if o.ReloadInterval < 0 {
		errs.Errorf("ReloadInterval", "remove it for the default (5s)", "must not be negative")
	}
	if o.Path == "" {
		errs.Errorf("Path", "name the users file; create it with: rampart user add --users FILE NAME", "is required")
		return errs, nil
	}
	snap, problems, err := load(o.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		errs.Errorf("Path", "create it with: rampart user add --users "+o.Path+" NAME", "%s does not exist", o.Path)
		return errs, nil
	case err != nil:
		errs.Errorf("Path", "check the path and its permissions", "%v", err)
		return errs, nil
	}
	for _, p := range problems {
		where := o.Path
		if p.Line > 0 {
			where = fmt.Sprintf("%s:%d", o.Path, p.Line)
		}
		msg := where + ": " + p.Message
		if p.Key != "" {
			msg = where + ": " + p.Key + ": " + p.Message
		}
		errs = append(errs, field.Error{Path: "Path", Message: msg, Hint: p.Hint, Warning: p.Warning})
	}
	if snap == nil {
		return errs, nil
	}
	checkMode(&errs, o.Path, snap.mode)
	if errs.HasErrors() {
		return errs, nil
	}
	return errs, snap
}

// checkMode reports a users file that users other than its owner may read
// or change. The file is the operator's; rampart does not change its mode
// (`rampart user` writes it 0600).
func checkMode(errs *field.Errors, path string, mode os.FileMode) {
	hint := "chmod 600 " + path + " and chown it to the user rampart runs as"
	switch m := mode.Perm(); {
	case m&0o022 != 0:
		errs.Errorf("Path", hint, "mode %#o lets other users change %s, and so make themselves an administrator", m, path)
	case m&0o004 != 0:
		errs.Errorf("Path", hint+"; consider the passwords in it exposed",
			"mode %#o lets every user of this machine read the password hashes in %s", m, path)
	case m&0o040 != 0:
		errs.Warnf("Path", hint+", unless the group exists to share it", "mode %#o lets the file's group read the password hashes in %s", m, path)
	}
}

// snapshot is one good version of the file.
type snapshot struct {
	users map[string]*record
	dummy string // the hash unknown users are verified against
	sum   [32]byte
	mode  os.FileMode
	stamp stamp
	warns []Problem
}

// stamp is what Reload compares to notice a change without reading.
type stamp struct {
	size  int64
	mod   time.Time
	mode  os.FileMode
	inode uint64
}

func stampOf(st os.FileInfo) stamp {
	return stamp{size: st.Size(), mod: st.ModTime(), mode: st.Mode(), inode: inodeOf(st)}
}

// load reads and parses path: the snapshot when the file has no error
// (nil otherwise), and its problems, warnings included. err is for a file
// that cannot be read.
func load(path string) (*snapshot, []Problem, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	recs, problems := parse(data)
	if hasErrors(problems) {
		return nil, problems, nil
	}
	s := newSnapshot(recs)
	s.sum, s.mode, s.stamp, s.warns = sha256.Sum256(data), st.Mode(), stampOf(st), problems
	return s, problems, nil
}

func newSnapshot(recs []record) *snapshot {
	s := &snapshot{users: make(map[string]*record, len(recs))}
	// Unknown users are verified against a hash with the parameters most
	// of the file's users have, so they cost what a known user costs.
	count := map[params]int{}
	best, bestN := defaultParams(), 0
	for i := range recs {
		r := &recs[i]
		s.users[r.Name] = r
		count[r.params]++
		if n := count[r.params]; n > bestN {
			best, bestN = r.params, n
		}
	}
	s.dummy = dummyFor(best)
	return s
}

// File is a users file in service: Lookup and Check read the version
// loaded last, Run reloads it when it changes. Safe for concurrent use.
type File struct {
	path     string
	interval time.Duration
	logger   *slog.Logger
	onChange func([]string)

	cur atomic.Pointer[snapshot]

	mu   sync.Mutex // serialises Reload
	seen stamp      // the file last tried, good or bad
}

// Open validates o and loads the users file. It fails if o or the file
// has any error: a gateway must not start with accounts it cannot read.
// Warnings (a hash weaker than the default, no users) do not stop it;
// Validate reports them.
func Open(o Options) (*File, error) {
	errs, snap := o.check()
	if err := errs.Err(); err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	interval := o.ReloadInterval
	if interval == 0 {
		interval = DefaultReloadInterval
	}
	f := &File{path: o.Path, interval: interval, logger: logger, onChange: o.OnChange, seen: snap.stamp}
	f.cur.Store(snap)
	return f, nil
}

// Lookup returns the user called name, compared exactly. The User is a
// copy: changing it changes nothing in the File.
func (f *File) Lookup(name string) (User, bool) {
	r, ok := f.cur.Load().users[name]
	if !ok {
		return User{}, false
	}
	return r.copy(), true
}

func (r *record) copy() User {
	u := r.User
	u.Roles = slices.Clone(r.Roles)
	return u
}

// Len is the number of users in the loaded version.
func (f *File) Len() int { return len(f.cur.Load().users) }

// ErrInvalidCredentials is what Check's failures are, whatever the
// reason: errors.Is(err, ErrInvalidCredentials).
var ErrInvalidCredentials = errors.New("users: invalid user name or password")

// Why a Check failed, for the server's log only.
const (
	ReasonUnknownUser     = "unknown_user"
	ReasonWrongPassword   = "wrong_password"
	ReasonDisabled        = "disabled"
	ReasonPasswordTooLong = "password_too_long"
	ReasonEmptyPassword   = "empty_password"
)

// CredentialsError is a failed Check. Its message is the same whatever
// happened, so that it can be shown; Reason says what happened, for the
// log.
type CredentialsError struct {
	Reason string
}

func (e *CredentialsError) Error() string        { return ErrInvalidCredentials.Error() }
func (e *CredentialsError) Is(target error) bool { return target == ErrInvalidCredentials }

// Check verifies name and password against the file and returns the
// user. Every failure costs the same hash and is a *CredentialsError
// with the same message: an unknown user is verified against a dummy
// hash with the parameters of most of the file's hashes, a disabled user's
// password is verified before the account is refused, so neither the
// answer nor its time tells whether an account exists or is disabled.
// (A user whose hash has other parameters than most costs a different
// time: `rampart user passwd` rehashes with the defaults.) A wait for the
// hashing budget that ends with ctx returns ctx's error.
func (f *File) Check(ctx context.Context, name, password string) (User, error) {
	s := f.cur.Load()
	r, known := s.users[name]
	phc := s.dummy
	if known {
		phc = r.hash
	}
	ok, err := VerifyContext(ctx, phc, password)
	switch {
	case errors.Is(err, ErrPasswordTooLong):
		return User{}, &CredentialsError{Reason: ReasonPasswordTooLong}
	case errors.Is(err, ErrEmptyPassword):
		return User{}, &CredentialsError{Reason: ReasonEmptyPassword}
	case err != nil:
		return User{}, err
	case !known:
		return User{}, &CredentialsError{Reason: ReasonUnknownUser}
	case !ok:
		return User{}, &CredentialsError{Reason: ReasonWrongPassword}
	case r.Disabled:
		return User{}, &CredentialsError{Reason: ReasonDisabled}
	}
	return r.copy(), nil
}

// Reload checks the file now and puts a new version in service if it
// changed (size, modification time, mode or inode, then the SHA-256 of
// the contents) and passes the same checks as Open. It reports whether a
// new version went into service. A changed file that fails them is logged
// at error level with every problem and returned as the error; the
// previous version stays in service (refusing every login, or admitting
// a half-written file, would be worse), and the same file is not tried
// again until it changes.
func (f *File) Reload() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		f.logger.Error("users: file unreadable; keeping the users loaded before", "file", f.path, "err", err)
		return false, err
	}
	if stampOf(st) == f.seen {
		return false, nil
	}
	errs, snap := Options{Path: f.path}.check()
	if errs.HasErrors() {
		f.seen = stampOf(st)
		err := errs.Err()
		f.logger.Error("users: file changed but refused; keeping the users loaded before", "file", f.path, "err", err)
		return false, err
	}
	// The stamp of what was read, which a write between the Stat and the
	// read may have changed again: the next Reload then reads it again.
	f.seen = snap.stamp
	old := f.cur.Load()
	if old.sum == snap.sum && old.mode == snap.mode {
		return false, nil
	}
	f.cur.Store(snap)
	f.logger.Info("users: file reloaded", "file", f.path, "users", len(snap.users))
	for _, w := range snap.warns {
		f.logger.Warn("users: "+w.String(), "file", f.path)
	}
	if changed := changedUsers(old, snap); len(changed) > 0 && f.onChange != nil {
		f.onChange(changed)
	}
	return true, nil
}

// changedUsers are the names of old whose account in next is gone,
// disabled, or has another hash, TOTP secret or roles, sorted.
func changedUsers(old, next *snapshot) []string {
	var out []string
	for name, o := range old.users {
		n, ok := next.users[name]
		if !ok || n.Disabled && !o.Disabled || n.hash != o.hash || n.TOTPSecret != o.TOTPSecret || !slices.Equal(n.Roles, o.Roles) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Run checks the file every ReloadInterval and reloads it when it
// changes, until ctx is done. Polling, not inotify: it works the same
// through editors' rename-into-place, symbolic link swaps (Kubernetes
// secrets) and network file systems, and a stat every few seconds costs
// nothing.
func (f *File) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Reload()
		}
	}
}
