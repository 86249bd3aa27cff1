// Package rawio gives a TCP connection reads and writes that skip the Go
// scheduler's system-call bookkeeping.
//
// A read or a write on a *net.TCPConn is a system call on a non-blocking
// socket: it never sleeps in the kernel, it returns EAGAIN instead and the
// goroutine waits for the poller. Go still makes it through syscall.Syscall,
// which marks the thread as in a system call around it: that releases the
// thread's P, wakes the runtime's monitor thread when it sleeps, and, when
// the call takes longer than the monitor's tick (a write on loopback runs
// the receiver's TCP work and takes that long), hands the P to another
// thread, which a later call must take back. On the two-CPU machine of
// bench/README.md that bookkeeping cost about a quarter of the gateway's
// CPU time per request at a fixed 2 000 requests a second.
//
// Wrap's connection makes the same calls through syscall.RawConn, with
// syscall.RawSyscall: same poller, same deadlines, same errors, no
// bookkeeping. The P stays with the goroutine for the call, which is what a
// call that cannot sleep should do. Each call moves at most maxRaw bytes, so
// that a large write on a large socket buffer does not hold the P, and a
// stop-the-world pause, for long.
//
// Only Linux gets the raw calls; elsewhere Wrap returns its argument. A
// build with the race detector makes the calls through syscall.Read and
// syscall.Write, whose annotations the detector needs to see the kernel
// fill a buffer and a socket order the goroutines at its two ends.
package rawio

// maxRaw caps the bytes one raw system call reads or writes: 64 KiB on
// loopback is about 10 µs of copying.
const maxRaw = 64 << 10
