package listen

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// The environment of systemd socket activation (sd_listen_fds(3)).
const (
	envListenPID     = "LISTEN_PID"
	envListenFDs     = "LISTEN_FDS"
	envListenFDNames = "LISTEN_FDNAMES"
	// listenFDsStart is the first passed descriptor (SD_LISTEN_FDS_START).
	listenFDsStart = 3
	// maxListenFDs bounds LISTEN_FDS: rampart serves two listeners, and a
	// larger count is a broken environment, not sockets to adopt.
	maxListenFDs = 64
)

// Activated returns the listening sockets systemd passed to this process
// (socket activation), by name: the FileDescriptorName= of each socket in
// the .socket unit, "https" and "http" for rampart's two listeners (a
// socket without a name is called "unknown", as systemd calls it).
//
// It follows sd_listen_fds(3): the descriptors are those from 3 on that
// LISTEN_FDS counts, and they are meant for this process only when
// LISTEN_PID is its process id; otherwise (the variables were inherited
// from a parent that was activated) there is nothing to adopt and
// Activated returns nil, nil, as it does when LISTEN_FDS is not set. In
// every case it unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, so that
// no child process believes the sockets are its own, and the descriptors
// it adopts are closed on exec.
//
// It returns an error, and closes what it had adopted, when the
// variables are malformed, when LISTEN_FDNAMES does not name every
// descriptor, when two descriptors share a name (rampart serves one
// listener per name: a socket bound to [::]:443 accepts IPv4 too), or
// when a descriptor is not a listening stream socket (Accept=yes in the
// .socket unit, or a file): the unit is wrong, and serving would fail
// later in a less clear way.
//
// Call it once, early: the descriptors are taken over by the returned
// listeners.
func Activated() (map[string]net.Listener, error) {
	pidStr, hasPID := os.LookupEnv(envListenPID)
	fdsStr, hasFDs := os.LookupEnv(envListenFDs)
	namesStr, hasNames := os.LookupEnv(envListenFDNames)
	os.Unsetenv(envListenPID)
	os.Unsetenv(envListenFDs)
	os.Unsetenv(envListenFDNames)
	if !hasFDs && !hasPID {
		return nil, nil
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("socket activation: %s=%q is not a process id", envListenPID, pidStr)
	}
	if pid != os.Getpid() {
		// Meant for another process (an ancestor): not ours.
		return nil, nil
	}
	n, err := strconv.Atoi(fdsStr)
	if err != nil || n < 0 || n > maxListenFDs {
		return nil, fmt.Errorf("socket activation: %s=%q is not a count of descriptors (0 to %d)", envListenFDs, fdsStr, maxListenFDs)
	}
	if n == 0 {
		return nil, nil
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "unknown"
	}
	if hasNames {
		given := strings.Split(namesStr, ":")
		if len(given) != n {
			return nil, fmt.Errorf("socket activation: %s names %d descriptors, %s counts %d", envListenFDNames, len(given), envListenFDs, n)
		}
		copy(names, given)
	}
	// Every descriptor is made close-on-exec first, so that none leaks to
	// a child even when a later one is refused.
	for i := range n {
		setCloseOnExec(listenFDsStart + i)
	}
	out := make(map[string]net.Listener, n)
	fail := func(err error) (map[string]net.Listener, error) {
		for _, ln := range out {
			ln.Close()
		}
		return nil, err
	}
	for i, name := range names {
		fd := listenFDsStart + i
		if _, dup := out[name]; dup {
			return fail(fmt.Errorf("socket activation: two sockets are named %q: give each ListenStream= its own FileDescriptorName= (https, http); a socket on [::]:443 accepts IPv4 too", name))
		}
		if err := checkListening(fd); err != nil {
			return fail(fmt.Errorf("socket activation: descriptor %d (%s): %w", fd, name, err))
		}
		f := os.NewFile(uintptr(fd), "systemd:"+name)
		ln, err := net.FileListener(f)
		// FileListener duplicates the descriptor (close-on-exec); the
		// original is closed either way.
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("socket activation: descriptor %d (%s): %w", fd, name, err))
		}
		out[name] = ln
	}
	return out, nil
}
