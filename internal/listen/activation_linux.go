package listen

import (
	"errors"
	"syscall"
)

func setCloseOnExec(fd int) { syscall.CloseOnExec(fd) }

// checkListening refuses a descriptor that is not a listening stream
// socket.
func checkListening(fd int) error {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil {
		return errors.New("not a socket (check the .socket unit: ListenStream=)")
	}
	if typ != syscall.SOCK_STREAM {
		return errors.New("not a stream socket (use ListenStream=, not ListenDatagram=)")
	}
	if on, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || on == 0 {
		return errors.New("not a listening socket (the .socket unit must not set Accept=yes)")
	}
	return nil
}
