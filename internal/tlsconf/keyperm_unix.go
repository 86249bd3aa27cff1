//go:build unix

package tlsconf

import (
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// CheckKeyFile reports who besides the owner can read the private key at
// path. The mode of the directories is taken into account for other users
// only: a group's access through the directories depends on memberships
// this process cannot see.
func CheckKeyFile(path string) (KeyExposure, error) {
	var e KeyExposure
	st, err := os.Stat(path)
	if err != nil {
		return e, err
	}
	e.Mode = st.Mode().Perm()
	e.Others = e.Mode&0o004 != 0
	if e.Mode&0o040 != 0 {
		e.Group = groupName(st)
	}
	if !e.Others {
		return e, nil
	}
	// Other users need x on every directory of the link's path and of
	// the file's real path.
	paths := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		paths = append(paths, real)
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
			if ds, err := os.Stat(dir); err == nil && ds.Mode().Perm()&0o001 == 0 {
				e.Blocker = dir
				return e, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return e, nil
}

func groupName(st os.FileInfo) string {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "(unknown)"
	}
	gid := strconv.FormatUint(uint64(sys.Gid), 10)
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return gid
}

// tightenKeyFile removes the group and other permission bits of a private
// key rampart keeps in its state directory, and logs it: a key others could
// read for a while may have been copied, so the log says how to get a new
// one. Symbolic links are left alone (rampart never creates them there).
func tightenKeyFile(path string, logger *slog.Logger, renew string) {
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o077 == 0 {
		return
	}
	old := st.Mode().Perm()
	if err := os.Chmod(path, old&0o700); err != nil {
		logger.Error("a private key is readable by other users and could not be made private", "file", path,
			"mode", fmt.Sprintf("%#o", old), "error", err, "hint", "chmod 600 "+path)
		return
	}
	logger.Warn("a private key was readable by other users; made it private", "file", path,
		"mode", fmt.Sprintf("%#o", old), "now", fmt.Sprintf("%#o", old&0o700), "hint", renew)
}
