//go:build unix

package users

import (
	"os"
	"syscall"
)

// inodeOf is the file's inode: a file replaced by rename (as editors and
// `rampart user` do) is noticed even with the same size and time.
func inodeOf(st os.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino)
	}
	return 0
}
