//go:build !unix

package tlsconf

import (
	"log/slog"
	"os"
)

// CheckKeyFile reports the key's mode only: outside Unix, permission bits
// do not say who can read a file (Windows decides it by access control
// lists, which rampart does not read), so no exposure is reported.
func CheckKeyFile(path string) (KeyExposure, error) {
	st, err := os.Stat(path)
	if err != nil {
		return KeyExposure{}, err
	}
	return KeyExposure{Mode: st.Mode().Perm()}, nil
}

// tightenKeyFile does nothing outside Unix, where changing the mode of a
// file does not change who can read it.
func tightenKeyFile(string, *slog.Logger, string) {}
