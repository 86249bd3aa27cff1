package listen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The child half of the activation tests: run in a re-executed test binary
// whose descriptors 3 and up and LISTEN_* variables the parent set up, as
// systemd does. It reports on stdout and serves one connection per
// listener, writing the listener's name.
const activationChildEnv = "RAMPART_TEST_ACTIVATION_CHILD"

func TestActivationChild(t *testing.T) {
	if os.Getenv(activationChildEnv) != "1" {
		t.Skip("run by TestActivated* in a child process")
	}
	lns, err := Activated()
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(v); ok {
			fmt.Printf("still set: %s\n", v)
		}
	}
	fmt.Printf("count: %d\n", len(lns))
	for name, ln := range lns {
		cloexec := false
		if sc, ok := ln.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) {
					flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
					cloexec = errno == 0 && flags&syscall.FD_CLOEXEC != 0
				})
			}
		}
		fmt.Printf("listener: %s %s cloexec=%v\n", name, ln.Addr(), cloexec)
	}
	fmt.Println("ready")
	os.Stdout.Sync()
	// Concurrently: the parent dials in its own order.
	var wg sync.WaitGroup
	for name, ln := range lns {
		wg.Go(func() {
			defer ln.Close()
			c, err := ln.Accept()
			if err != nil {
				fmt.Printf("accept %s: %v\n", name, err)
				return
			}
			io.WriteString(c, name)
			c.Close()
		})
	}
	wg.Wait()
}

// runActivated starts the test binary as an activated child: files become
// descriptors 3, 4, ..., LISTEN_PID is the child's own pid (set by the
// shell that execs it, as systemd sets it after fork), and env is added.
// It returns the child's report lines up to "ready" (or its end), and a
// function that waits for it.
func runActivated(t *testing.T, files []*os.File, pid string, env ...string) ([]string, func() string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if pid == "" {
		pid = "$$"
	}
	// exec keeps the shell's pid, so $$ is the test binary's pid.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=`+pid+` exec "$0" -test.run='^TestActivationChild$' -test.v=false`, self)
	cmd.Env = append(os.Environ(), activationChildEnv+"=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = files
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		f.Close()
	}
	r := bufio.NewReader(out)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimSpace(line)
		if line == "ready" || err != nil {
			break
		}
		lines = append(lines, line)
		if strings.HasPrefix(line, "error:") {
			break
		}
	}
	return lines, func() string {
		rest, _ := io.ReadAll(r)
		cmd.Wait()
		return string(rest)
	}
}

func loopbackFile(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, ln.Addr().String()
}

func TestActivated_AdoptsNamedSockets(t *testing.T) {
	httpsF, httpsAddr := loopbackFile(t)
	httpF, httpAddr := loopbackFile(t)
	lines, wait := runActivated(t, []*os.File{httpsF, httpF}, "", "LISTEN_FDS=2", "LISTEN_FDNAMES=https:http")
	report := strings.Join(lines, "\n")
	for _, want := range []string{"count: 2", "listener: https " + httpsAddr + " cloexec=true", "listener: http " + httpAddr + " cloexec=true"} {
		if !strings.Contains(report, want) {
			t.Errorf("child report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "still set") {
		t.Errorf("LISTEN_* left in the environment:\n%s", report)
	}
	for name, addr := range map[string]string{"https": httpsAddr, "http": httpAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", name, err)
		}
		// A bound against a hang, not a timing assertion.
		c.SetDeadline(time.Now().Add(time.Minute))
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != name {
			t.Errorf("%s: the child's listener answered %q", addr, b)
		}
	}
	if rest := wait(); strings.Contains(rest, "accept") {
		t.Errorf("child: %s", rest)
	}
}

func TestActivated_UnnamedIsUnknown(t *testing.T) {
	f, addr := loopbackFile(t)
	lines, wait := runActivated(t, []*os.File{f}, "", "LISTEN_FDS=1")
	if report := strings.Join(lines, "\n"); !strings.Contains(report, "listener: unknown "+addr) {
		t.Errorf("report:\n%s", report)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		io.ReadAll(c)
		c.Close()
	}
	wait()
}

// Attack: variables inherited from an activated ancestor must not make a
// child adopt descriptors that are not sockets passed to it.
func TestActivated_OtherPIDIsNotOurs(t *testing.T) {
	f, _ := loopbackFile(t)
	lines, wait := runActivated(t, []*os.File{f}, "1", "LISTEN_FDS=1", "LISTEN_FDNAMES=https")
	defer wait()
	report := strings.Join(lines, "\n")
	if !strings.Contains(report, "count: 0") || strings.Contains(report, "still set") {
		t.Errorf("a LISTEN_PID of another process was honoured or left set:\n%s", report)
	}
}

// Attack on the unit: a connection socket (Accept=yes) or a file at a
// passed descriptor is refused, not served.
func TestActivated_RefusesWhatIsNotAListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	connF, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.CreateTemp(t.TempDir(), "notasocket")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		f    *os.File
		want string
	}{
		"connection": {connF, "not a listening socket"},
		"file":       {plain, "not a socket"},
	} {
		t.Run(name, func(t *testing.T) {
			lines, wait := runActivated(t, []*os.File{tc.f}, "", "LISTEN_FDS=1", "LISTEN_FDNAMES=https")
			defer wait()
			if report := strings.Join(lines, "\n"); !strings.Contains(report, "error: ") || !strings.Contains(report, tc.want) {
				t.Errorf("want an error %q, got:\n%s", tc.want, report)
			}
		})
	}
}

func TestActivated_DuplicateNamesRefused(t *testing.T) {
	a, _ := loopbackFile(t)
	b, _ := loopbackFile(t)
	lines, wait := runActivated(t, []*os.File{a, b}, "", "LISTEN_FDS=2", "LISTEN_FDNAMES=https:https")
	defer wait()
	if report := strings.Join(lines, "\n"); !strings.Contains(report, `two sockets are named "https"`) {
		t.Errorf("report:\n%s", report)
	}
}

// Malformed variables for this process are errors, reported before any
// descriptor is touched (these run in the test process itself).
func TestActivated_MalformedEnvironment(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for name, env := range map[string]map[string]string{
		"fds not a number":  {"LISTEN_PID": pid, "LISTEN_FDS": "two"},
		"fds negative":      {"LISTEN_PID": pid, "LISTEN_FDS": "-1"},
		"fds huge":          {"LISTEN_PID": pid, "LISTEN_FDS": "100000"},
		"pid not a number":  {"LISTEN_PID": "me", "LISTEN_FDS": "1"},
		"names count wrong": {"LISTEN_PID": pid, "LISTEN_FDS": "2", "LISTEN_FDNAMES": "https"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			lns, err := Activated()
			if err == nil || lns != nil {
				t.Fatalf("want an error, got %v, %v", lns, err)
			}
			for k := range env {
				if _, ok := os.LookupEnv(k); ok {
					t.Errorf("%s left set", k)
				}
			}
		})
	}
}

func TestActivated_NotActivated(t *testing.T) {
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	lns, err := Activated()
	if lns != nil || err != nil {
		t.Fatalf("got %v, %v", lns, err)
	}
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", "0")
	if lns, err := Activated(); lns != nil || err != nil {
		t.Fatalf("LISTEN_FDS=0: got %v, %v", lns, err)
	}
}
