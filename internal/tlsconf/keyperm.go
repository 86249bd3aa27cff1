package tlsconf

import (
	"log/slog"
	"os"
	"path/filepath"
)

// KeyExposure says who besides the owner can read a private key file.
type KeyExposure struct {
	// Mode is the file's permission bits.
	Mode os.FileMode
	// Group names the file's group when its mode lets the group read it.
	Group string
	// Others is set when the mode lets every other user read it.
	Others bool
	// Blocker is the first directory on the way to the file (through any
	// symbolic link) that other users cannot pass (no x bit for others),
	// or "" when they can reach the file. Others with Blocker == "" means
	// every user of the machine can read the key.
	Blocker string
}

// Readable reports whether anyone but the owner may read the key.
func (e KeyExposure) Readable() bool { return e.Others || e.Group != "" }

// tightenDir applies tightenKeyFile to every file directly in dir (the
// ACME cache: account key and certificates with their keys, one file
// each).
func tightenDir(dir string, logger *slog.Logger, renew string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		tightenKeyFile(filepath.Join(dir, e.Name()), logger, renew)
	}
}
