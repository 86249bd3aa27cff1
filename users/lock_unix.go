//go:build unix

package users

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on the directory dir, held until
// unlock: two `rampart user` commands editing files there run one after
// the other. The lock is the kernel's (flock): it goes away with the
// process, so a crash leaves nothing to clean up.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// chownLike gives f the owner (and group) of old when the owner is not
// the process's user: a file edited with sudo stays the gateway user's.
// With mode 0600 the group grants nothing, so it alone is not copied.
func chownLike(f *os.File, old os.FileInfo) error {
	sys, ok := old.Sys().(*syscall.Stat_t)
	if !ok || int(sys.Uid) == os.Geteuid() {
		return nil
	}
	if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
		return fmt.Errorf("cannot give the new file the owner of the old one (uid %d, gid %d): %w", sys.Uid, sys.Gid, err)
	}
	return nil
}
