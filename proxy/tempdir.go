package proxy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// checkTempDir reports why dir cannot hold buffered request bodies.
func checkTempDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%q does not exist", dir)
	case err != nil:
		return fmt.Errorf("%q: %v", dir, errors.Unwrap(err))
	case !st.IsDir():
		return fmt.Errorf("%q is not a directory", dir)
	}
	return nil
}

// tempDirShared reports whether other users may write to dir without the
// sticky bit, which would let them rename or replace rampart's files. The
// files are unlinked as soon as they are created, so what such a user can
// still do is fill the directory or swap it for one they own. /tmp, which
// is world-writable but sticky, is not reported.
func tempDirShared(dir string) bool {
	st, err := os.Stat(dir)
	if err != nil {
		return false
	}
	m := st.Mode()
	return m.Perm()&0o022 != 0 && m&fs.ModeSticky == 0
}
