package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

// Request buffering, the way nginx does it with proxy_request_buffering on
// (its default): the whole request body is read before the upstream is
// contacted, in memory up to BodyMemoryBytes and in a temporary file
// beyond, and then sent upstream with a Content-Length.
//
// Why: a streamed body holds an upstream connection, and therefore one of
// the application's workers, for as long as the client takes to send it.
// A pre-forking application server (gunicorn's sync workers, the usual
// Flask and Django deployment) has a handful of them; a handful of clients
// trickling bodies within the listener's read timeout take the application
// down (slow POST, R.U.D.Y.), which is why gunicorn's documentation
// insists on a buffering proxy in front. While rampart buffers, a slow
// client costs rampart one goroutine and a share of two global budgets,
// memory (BodyMemoryBudget) and temporary files (BodyTempBudget, past which
// bodies are refused 503), never an upstream connection;
// the listener's read timeout still bounds the wait, and a client that
// gives up mid-body causes no upstream request at all.
//
// The temporary file is created with mode 0600 and unlinked at once (where
// the system allows removing an open file), so it never appears to other
// users by name and is freed by the kernel whatever happens: a panic, a
// client abort, even the process being killed. Where unlinking an open file
// fails (Windows), it is removed when the request ends.

// budget is the memory, or the disk space, that all requests of one Proxy
// may hold in buffered bodies at once.
type budget struct {
	used atomic.Int64
	max  int64
}

// reserve takes n bytes from the budget, or reports false when that would
// exceed it.
func (b *budget) reserve(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *budget) release(n int64) { b.used.Add(-n) }

// spoolError is a local failure to buffer a body (temporary file not
// created or not written: directory removed, disk full). Neither the
// client's fault nor the upstream's: answered 500, like nginx.
type spoolError struct{ err error }

// errTempBudget: the bodies already in temporary files use all of
// BodyTempBudget. Answered 503: the gateway is full, not broken.
var errTempBudget = errors.New("the temporary files of request bodies use all of the budget")

func (e *spoolError) Error() string { return "buffering the request body: " + e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

// spooledBody is a request body read completely, in memory or in an
// unlinked temporary file. Its Close, which the transport calls, does
// nothing: ServeHTTP, which created it, calls free when it returns,
// whether normally or by a panic, so the memory and the file are kept
// exactly as long as the request is served (as nginx keeps its temporary
// file until the request is finalized), and the transport reading the
// body late finds a closed file, not someone else's.
type spooledBody struct {
	mem      bytes.Reader
	f        *os.File
	name     string // set only when the file could not be unlinked
	size     int64
	reserved int64 // from sp.mem
	onDisk   int64 // reserved from sp.disk
	sp       *spooler
	closed   atomic.Bool
}

func (s *spooledBody) Read(p []byte) (int, error) {
	if s.f != nil {
		return s.f.Read(p)
	}
	return s.mem.Read(p)
}

// Close does nothing; see free.
func (s *spooledBody) Close() error { return nil }

// free releases s's memory reservation and closes its file. It is
// idempotent.
func (s *spooledBody) free() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.sp.mem.release(s.reserved)
	s.sp.disk.release(s.onDisk)
	s.reserved, s.onDisk = 0, 0
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.name != "" {
		os.Remove(s.name)
	}
	return err
}

// spooler reads request bodies to their end for one Proxy.
type spooler struct {
	memMax  int64 // per request
	maxBody int64
	dir     string
	mem     budget // BodyMemoryBudget
	disk    budget // BodyTempBudget
}

// spool reads body (of declared length n, -1 if unknown) to its end and
// returns it. The caller must free the result. Errors: the client's
// (*clientBodyError, from body), *http.MaxBytesError past maxBody, or
// *spoolError.
func (sp *spooler) spool(body io.Reader, n int64) (*spooledBody, error) {
	s := &spooledBody{sp: sp}
	if n >= 0 && n <= sp.memMax && sp.mem.reserve(n) {
		// The common case: a form or JSON body of known length, read
		// into a buffer of exactly its size.
		s.reserved = n
		buf := make([]byte, n)
		if err := readExactly(body, buf); err != nil {
			s.free()
			return nil, err
		}
		s.mem.Reset(buf)
		s.size = n
		return s, nil
	}
	// A known length that does not fit in memory (too large, or the
	// budget is spent) goes to the file from its first byte, and takes
	// its disk space before a byte is read.
	if n >= 0 {
		if !sp.disk.reserve(n) {
			return nil, &spoolError{errTempBudget}
		}
		s.onDisk = n
	}
	if err := sp.copyIn(s, body, n >= 0); err != nil {
		s.free()
		return nil, err
	}
	return s, nil
}

// readExactly fills buf from body and checks that body ends there. Reading
// to the end, not just len(buf) bytes, lets the listener lift its body
// read deadline.
func readExactly(body io.Reader, buf []byte) error {
	if _, err := io.ReadFull(body, buf); err != nil {
		return asClientBodyError(err)
	}
	var one [1]byte
	if m, err := body.Read(one[:]); m != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF // longer than declared: net/http does not allow it
		}
		return asClientBodyError(err)
	}
	return nil
}

// asClientBodyError marks err as the client's unless it already is.
func asClientBodyError(err error) error {
	var cbe *clientBodyError
	if errors.As(err, &cbe) {
		return err
	}
	return &clientBodyError{err}
}

// readBufSize is the buffer a request being buffered reads its body
// through. It is held for as long as the client takes to send, outside the
// memory budget, so it is small: the same order as net/http's own 4 KiB
// per connection, so that N slow clients cost rampart N × 8 KiB besides
// the budget, not N × BodyMemoryBytes.
const readBufSize = 8 << 10

var readBuffers = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// copyIn reads body into s: into memory while it fits in memMax and the
// budget, then (or from the start, when toFile) into a temporary file.
func (sp *spooler) copyIn(s *spooledBody, body io.Reader, toFile bool) error {
	chunk := readBuffers.Get().(*[readBufSize]byte)
	defer readBuffers.Put(chunk)
	var mem []byte
	for {
		m, rerr := body.Read(chunk[:])
		if m > 0 {
			if s.size+int64(m) > sp.maxBody {
				return &http.MaxBytesError{Limit: sp.maxBody}
			}
			s.size += int64(m)
			if s.f == nil && !toFile {
				if grown, ok := sp.grow(s, mem, m); ok {
					mem = append(grown, chunk[:m]...)
					m = 0
				} else {
					toFile = true
				}
			}
			if m > 0 {
				if s.f == nil {
					if err := sp.reserveDisk(s); err != nil {
						return err
					}
					if err := sp.createFile(s); err != nil {
						return err
					}
					// What was kept in memory goes first, then
					// the memory returns to the budget.
					if _, err := s.f.Write(mem); err != nil {
						return &spoolError{err}
					}
					sp.mem.release(s.reserved)
					s.reserved, mem = 0, nil
				}
				if err := sp.reserveDisk(s); err != nil {
					return err
				}
				if _, err := s.f.Write(chunk[:m]); err != nil {
					return &spoolError{err}
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return asClientBodyError(rerr)
		}
	}
	if s.f != nil {
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return &spoolError{err}
		}
		return nil
	}
	s.mem.Reset(mem)
	return nil
}

// grow returns mem with room for m more bytes, reserving the added
// capacity from the budget, or false when memMax or the budget does not
// allow it.
func (sp *spooler) grow(s *spooledBody, mem []byte, m int) ([]byte, bool) {
	need := int64(len(mem) + m)
	if need <= int64(cap(mem)) {
		return mem, true
	}
	if need > sp.memMax {
		return nil, false
	}
	newCap := max(2*int64(cap(mem)), need, 4<<10)
	newCap = min(newCap, sp.memMax)
	if !sp.mem.reserve(newCap - int64(cap(mem))) {
		return nil, false
	}
	s.reserved += newCap - int64(cap(mem))
	grown := make([]byte, len(mem), newCap)
	copy(grown, mem)
	return grown, true
}

// reserveDisk takes from the disk budget the bytes s has read (s.size)
// that it holds no disk space for yet, before they are written.
func (sp *spooler) reserveDisk(s *spooledBody) error {
	if more := s.size - s.onDisk; more > 0 {
		if !sp.disk.reserve(more) {
			return &spoolError{errTempBudget}
		}
		s.onDisk += more
	}
	return nil
}

// createFile creates s's temporary file and unlinks it at once.
func (sp *spooler) createFile(s *spooledBody) error {
	f, err := os.CreateTemp(sp.dir, "rampart-body-*")
	if err != nil {
		return &spoolError{err}
	}
	s.f = f
	if err := os.Remove(f.Name()); err != nil {
		s.name = f.Name() // removed by Close
	}
	return nil
}
