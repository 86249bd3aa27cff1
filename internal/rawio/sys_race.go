//go:build linux && race

package rawio

import "syscall"

// Under the race detector the calls go through syscall.Read and
// syscall.Write, as (*net.TCPConn)'s do: the detector then sees the
// kernel write into the read buffer, and sees a write to a socket happen
// before the read that returns its bytes, in this process or its tests.
// RawSyscall carries none of those annotations.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errno(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
