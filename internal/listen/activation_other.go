//go:build !linux

package listen

import "errors"

func setCloseOnExec(int) {}

// checkListening refuses every descriptor: socket activation is systemd's,
// on Linux.
func checkListening(int) error { return errors.New("socket activation is supported on Linux only") }
