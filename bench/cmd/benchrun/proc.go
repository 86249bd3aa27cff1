package main

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procStats is the memory and CPU use of a process tree, read from /proc.
type procStats struct {
	RSSKiB  int64         // sum of VmRSS (shared pages counted once per process)
	PeakKiB int64         // sum of VmHWM, each process's peak RSS
	CPU     time.Duration // user + system time consumed so far
	SysCPU  time.Duration // of CPU, the system (kernel) time
	Procs   int
}

// treePids returns pid and its direct children (nginx's master and
// workers; rampart is a single process).
func treePids(pid int) []int {
	pids := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid(child) == pid {
			pids = append(pids, child)
		}
	}
	return pids
}

// treeStats sums procStats over pid and its direct children.
func treeStats(pid int) procStats {
	var s procStats
	for _, p := range treePids(pid) {
		status := readStatus(p)
		if status == nil {
			continue
		}
		s.Procs++
		s.RSSKiB += status["VmRSS"]
		s.PeakKiB += status["VmHWM"]
		u, sys := cpuTime(p)
		s.CPU += u + sys
		s.SysCPU += sys
	}
	return s
}

// readStatus returns the kB fields of /proc/pid/status.
func readStatus(pid int) map[string]int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil
	}
	defer f.Close()
	m := make(map[string]int64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 2 && fields[1] == "kB" {
			n, _ := strconv.ParseInt(fields[0], 10, 64)
			m[k] = n
		}
	}
	return m
}

// statFields returns the fields of /proc/pid/stat after the command name
// (which may itself contain spaces and parentheses).
func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// cpuTime is utime and stime: the time in user space and in the kernel
// (system calls, and the network stack's work charged to them). /proc
// reports them in USER_HZ ticks, which Linux fixes at 100 per second for
// user space.
func cpuTime(pid int) (user, sys time.Duration) {
	f := statFields(pid)
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u) * (time.Second / 100), time.Duration(s) * (time.Second / 100)
}

// resetPeak sets VmHWM of pid and its direct children back to their current
// RSS (Linux 4.0 and later: "5" in /proc/pid/clear_refs), so that the next
// reading is the peak of what happened since. It needs the right to write
// the processes' clear_refs (the same user, or root).
func resetPeak(pid int) error {
	for _, p := range treePids(pid) {
		err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(p), "clear_refs"), []byte("5"), 0)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // a worker that just exited
			return err
		}
	}
	return nil
}
