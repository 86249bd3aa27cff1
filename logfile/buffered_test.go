package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is the stream beneath a Buffered: every Write it receives,
// whole.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
	fail   error
	closed bool
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recorder) all() (writes int, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes), string(bytes.Join(r.writes, nil))
}

func TestBuffered_LinesGoOutTogether(t *testing.T) {
	r := &recorder{}
	b := NewBuffered(r, 64, time.Hour)
	for i := range 3 {
		fmt.Fprintf(b, "line %d\n", i) // 7 bytes each
	}
	if n, _ := r.all(); n != 0 {
		t.Fatalf("%d writes before the buffer is full or flushed", n)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, text := r.all(); n != 1 || text != "line 0\nline 1\nline 2\n" {
		t.Fatalf("%d writes: %q", n, text)
	}
}

// A line that would not fit sends what is buffered first, whole lines
// only; a line larger than the buffer goes out on its own, in order.
func TestBuffered_FullBufferAndLongLines(t *testing.T) {
	r := &recorder{}
	b := NewBuffered(r, 16, time.Hour)
	b.Write([]byte("aaaaaaaaa\n")) // 10
	b.Write([]byte("bbbbbbbbb\n")) // would make 20: the first goes out
	long := strings.Repeat("c", 40) + "\n"
	b.Write([]byte(long)) // the second goes out, then this one alone
	b.Write([]byte("d\n"))
	b.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := []string{"aaaaaaaaa\n", "bbbbbbbbb\n", long, "d\n"}
	got := make([]string, len(r.writes))
	for i, w := range r.writes {
		got[i] = string(w)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("writes %q, want %q", got, want)
	}
	if !r.closed {
		t.Fatal("Close did not close the stream beneath")
	}
}

// The timer writes a line out within the flush interval, with no other
// line to push it.
func TestBuffered_FlushInterval(t *testing.T) {
	r := &recorder{}
	b := NewBuffered(r, 1<<16, 10*time.Millisecond)
	defer b.Close()
	b.Write([]byte("alone\n"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, text := r.all(); text == "alone\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was never written out")
		}
	}
	// The timer is armed again by the next line.
	b.Write([]byte("again\n"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, text := r.all(); text == "alone\nagain\n" && n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second line was never written out")
		}
	}
}

// Many writers at once: every line arrives once, whole, and each writer's
// lines in its own order.
func TestBuffered_ConcurrentWritersKeepLinesWhole(t *testing.T) {
	r := &recorder{}
	b := NewBuffered(r, 256, time.Millisecond)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(b, "writer %d line %03d %s\n", w, i, strings.Repeat("x", w*7))
			}
		})
	}
	wg.Wait()
	b.Close()
	_, text := r.all()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	next := make([]int, 8)
	for _, l := range lines {
		f := strings.Split(l, " ")
		if len(f) != 5 || f[0] != "writer" || f[2] != "line" {
			t.Fatalf("torn line %q", l)
		}
		w, _ := strconv.Atoi(f[1])
		i, _ := strconv.Atoi(f[3])
		if i != next[w] || len(f[4]) != w*7 {
			t.Fatalf("line %q out of order or cut (want line %d)", l, next[w])
		}
		next[w]++
	}
}

func TestBuffered_CloseFlushesAndLaterWritesFail(t *testing.T) {
	r := &recorder{}
	b := NewBuffered(r, 1024, time.Hour)
	b.Write([]byte("last words\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, text := r.all(); text != "last words\n" {
		t.Fatalf("after Close: %q", text)
	}
	if _, err := b.Write([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A failed write out is reported, once, by the next call that can.
func TestBuffered_WriteErrorReported(t *testing.T) {
	r := &recorder{fail: errors.New("disk full")}
	b := NewBuffered(r, 8, time.Hour)
	b.Write([]byte("12345\n"))
	if _, err := b.Write([]byte("67890\n")); err == nil || err.Error() != "disk full" {
		t.Fatalf("err = %v, want the failed write's", err)
	}
	r.mu.Lock()
	r.fail = nil
	r.mu.Unlock()
	if err := b.Flush(); err != nil {
		t.Fatalf("error reported twice: %v", err)
	}
}

// Rotation flushes into the file being rotated: no line of before the
// rotation lands in the new file.
func TestBuffered_RotateFlushesIntoTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w, err := Open(Options{Path: path, BufferSize: 4096, FlushInterval: MaxFlushInterval, NoCompress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := w.(*Buffered); !ok {
		t.Fatalf("Open with BufferSize gave %T", w)
	}
	w.Write([]byte("before\n"))
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Fatalf("the line reached the file before a flush: %d bytes", st.Size())
	}
	if err := w.(interface{ Rotate() error }).Rotate(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	w.Close()
	backups, _ := filepath.Glob(filepath.Join(dir, "access-*.log"))
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	old, _ := os.ReadFile(backups[0])
	cur, _ := os.ReadFile(path)
	if string(old) != "before\n" || string(cur) != "after\n" {
		t.Fatalf("rotated %q, current %q", old, cur)
	}
}

func TestBuffered_Validation(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{BufferSize: -1}, "BufferSize: must not be negative"},
		{Options{BufferSize: MaxBufferSize + 1}, "BufferSize: must be at most 1048576 bytes"},
		{Options{BufferSize: 1024, FlushInterval: -time.Second}, "FlushInterval: must not be negative"},
		{Options{BufferSize: 1024, FlushInterval: time.Minute}, "FlushInterval: 1m0s is over the limit of 10s"},
	} {
		if err := c.o.Validate().Err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if w := (Options{FlushInterval: time.Second}).Validate(); len(w) != 1 || w.HasErrors() || !strings.Contains(w[0].Message, "no effect") {
		t.Errorf("flush without a buffer: %q", w)
	}
	if w := (Options{BufferSize: MaxBufferSize, FlushInterval: MaxFlushInterval}).Validate(); len(w) != 0 {
		t.Errorf("the bounds themselves: %q", w)
	}
}

// The cost of one access-log line through the buffer, the stream beneath
// a discarding writer: what a request pays instead of a write(2).
func BenchmarkBuffered_Write(b *testing.B) {
	line := []byte(strings.Repeat("x", 299) + "\n")
	w := NewBuffered(io.Discard, 64<<10, time.Second)
	defer w.Close()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}
