package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/rampart-dev/rampart/clientip"
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
// client costs rampart one goroutine and the bytes it has actually sent,
// never an upstream connection; the listener's read timeout still bounds
// the wait, and a client that gives up mid-body causes no upstream
// request at all.
//
// The bytes are held within two budgets shared by every request of a
// Proxy, memory (BodyMemoryBudget) and temporary files (BodyTempBudget,
// past which bodies are refused 503), and within each client's share of
// both (see ClientBudgetShare). A budget is charged only for bytes that
// have arrived: memory as the buffer grows to hold them, disk as they are
// written. A declared Content-Length chooses memory or file and is checked
// against MaxBodyBytes at once, but takes nothing from a budget: otherwise
// a client declaring large bodies on many connections and sending nothing
// would hold the budgets for the whole read timeout at no cost to itself,
// and every other client's body would be refused.
//
// The temporary file is created with mode 0600 and unlinked at once (where
// the system allows removing an open file), so it never appears to other
// users by name and is freed by the kernel whatever happens: a panic, a
// client abort, even the process being killed. Where unlinking an open file
// fails (Windows), it is removed when the request ends.

// ClientBudgetShare divides BodyMemoryBudget and BodyTempBudget into the
// most one client may hold: each client (clientip.Key of the resolved
// client address: an IPv4 address or an IPv6 /64, the client behind a
// trusted proxy rather than the proxy) may hold at most 1/16 of each in
// the bodies it is sending, and never less than one body of the largest
// size (BodyMemoryBytes in memory, MaxBodyBytes on disk), so that a client
// can always send one body of any allowed size while the gateway has room.
//
// Why 1/16: with the defaults a client may hold 2 MiB of memory (32 full
// in-memory buffers, far more than the 6 requests a browser sends at once
// over HTTP/1.1) and 64 MiB of temporary files (six 10 MiB uploads at
// once, from one person or an office behind one NAT address); past its
// memory share its bodies go to disk, past its disk share they are
// refused 503. Taking the whole of a budget then needs 16 clients, each
// sending its share in real bytes and keeping it up within the read
// timeout, instead of one client with a few hundred connections. A larger
// fraction would let fewer addresses starve everyone; a smaller one would
// refuse uploads that an office sends in parallel. It is not
// configurable: the share grows with the budgets, which are.
const ClientBudgetShare = 16

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

// held is what one client's bodies hold of the two budgets.
type held struct{ mem, disk int64 }

// spoolError is a local failure to buffer a body (temporary file not
// created or not written: directory removed, disk full). Neither the
// client's fault nor the upstream's: answered 500, like nginx.
type spoolError struct{ err error }

func (e *spoolError) Error() string { return "buffering the request body: " + e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

// buffersFullError: a body's next bytes would take the temporary files
// over BodyTempBudget, or its client's files over the client's share.
// Answered 503: the gateway is full (for this client), not broken.
type buffersFullError struct {
	client netip.Addr // the client key when its share is spent, else zero
	held   int64      // bytes held: by the client, or by all requests
	limit  int64      // the client's share, or BodyTempBudget
}

func (e *buffersFullError) Error() string {
	if e.client.IsValid() {
		return fmt.Sprintf("the client's request bodies hold %d bytes of temporary files, its share of the budget is %d", e.held, e.limit)
	}
	return fmt.Sprintf("the temporary files of request bodies hold %d bytes of the %d budget", e.held, e.limit)
}

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
	declared int64      // Content-Length, -1 if unknown
	key      netip.Addr // clientip.Key of the client; zero: not counted per client
	reserved int64      // memory, from sp.mem and the client's share
	onDisk   int64      // disk, from sp.disk and the client's share
	sp       *spooler
	closed   atomic.Bool
}

func (s *spooledBody) Read(p []byte) (int, error) {
	if s.f != nil {
		return s.f.Read(p)
	}
	return s.mem.Read(p)
}

// rewind makes s readable from its start again, for a request sent a
// second time. A nil s (no body) has nothing to rewind.
func (s *spooledBody) rewind() error {
	if s == nil {
		return nil
	}
	if s.f != nil {
		_, err := s.f.Seek(0, io.SeekStart)
		return err
	}
	_, err := s.mem.Seek(0, io.SeekStart)
	return err
}

// WriteTo writes s to w: a body in memory in one Write, a file through
// w's ReadFrom where it has one (sendfile for a TCP connection).
func (s *spooledBody) WriteTo(w io.Writer) (int64, error) {
	if s.f != nil {
		return io.Copy(w, s.f)
	}
	return s.mem.WriteTo(w)
}

// Close does nothing; see free.
func (s *spooledBody) Close() error { return nil }

// free releases s's memory and disk reservations and closes its file. It
// is idempotent.
func (s *spooledBody) free() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.sp.give(s.key, false, s.reserved)
	s.sp.give(s.key, true, s.onDisk)
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
	memMax    int64 // per request
	maxBody   int64
	dir       string
	mem       budget // BodyMemoryBudget
	disk      budget // BodyTempBudget
	memShare  int64  // per client, of mem
	diskShare int64  // per client, of disk

	mu      sync.Mutex
	clients map[netip.Addr]held // only clients holding bytes; never a zero value
}

// newSpooler returns a spooler with the given per-request and global
// limits and the client shares derived from them (see ClientBudgetShare).
func newSpooler(memMax, maxBody, memBudget, diskBudget int64, dir string) *spooler {
	return &spooler{
		memMax: memMax, maxBody: maxBody, dir: dir,
		mem:       budget{max: memBudget},
		disk:      budget{max: diskBudget},
		memShare:  max(memBudget/ClientBudgetShare, memMax),
		diskShare: max(diskBudget/ClientBudgetShare, maxBody),
	}
}

// take reserves n more bytes of memory (disk false) or of temporary files
// for s: from the global budget and from its client's share. For memory,
// false only means "not in memory" (the body goes to a file); for disk the
// error is a *buffersFullError.
func (sp *spooler) take(s *spooledBody, disk bool, n int64) error {
	g, share := &sp.mem, sp.memShare
	if disk {
		g, share = &sp.disk, sp.diskShare
	}
	if !s.key.IsValid() {
		// No client address (a Unix socket): only the global budget
		// applies, as the connection cap does not count such peers.
		if !g.reserve(n) {
			return &buffersFullError{held: g.used.Load(), limit: g.max}
		}
		return nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	h := sp.clients[s.key]
	mine := &h.mem
	if disk {
		mine = &h.disk
	}
	if *mine+n > share {
		return &buffersFullError{client: s.key, held: *mine, limit: share}
	}
	if !g.reserve(n) {
		return &buffersFullError{held: g.used.Load(), limit: g.max}
	}
	*mine += n
	if sp.clients == nil {
		sp.clients = make(map[netip.Addr]held)
	}
	sp.clients[s.key] = h
	return nil
}

// give returns n bytes taken for key's client. A client holding nothing
// any more is forgotten, so the table holds only clients with bytes
// buffered: at most one entry per request in progress.
func (sp *spooler) give(key netip.Addr, disk bool, n int64) {
	if n == 0 {
		return
	}
	if key.IsValid() {
		sp.mu.Lock()
		h := sp.clients[key]
		if disk {
			h.disk -= n
		} else {
			h.mem -= n
		}
		if h == (held{}) {
			delete(sp.clients, key)
		} else {
			sp.clients[key] = h
		}
		sp.mu.Unlock()
	}
	if disk {
		sp.disk.release(n)
	} else {
		sp.mem.release(n)
	}
}

// heldBy is what client's bodies hold (for tests).
func (sp *spooler) heldBy(client netip.Addr) held {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.clients[clientip.Key(client)]
}

// spool reads body (of declared length n, -1 if unknown), sent by client
// (the resolved client address; zero if none), to its end and returns it.
// The caller must free the result. Errors: the client's
// (*clientBodyError, from body), *http.MaxBytesError past maxBody,
// *buffersFullError, or *spoolError.
//
// A declared length larger than memMax sends the body to a file from its
// first byte; any other goes to memory while the client's share and the
// budget allow. Neither reserves anything before the bytes arrive.
func (sp *spooler) spool(body io.Reader, n int64, client netip.Addr) (*spooledBody, error) {
	s := &spooledBody{sp: sp, declared: n, key: clientip.Key(client)}
	if err := sp.copyIn(s, body, n > sp.memMax); err != nil {
		s.free()
		return nil, err
	}
	return s, nil
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
// budgets, so it is small: the same order as net/http's own 4 KiB per
// connection, so that N slow clients cost rampart N × 8 KiB besides the
// bytes they have sent, not N × BodyMemoryBytes.
const readBufSize = 8 << 10

var readBuffers = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// copyIn reads body into s: into memory while it fits in memMax, the
// client's share and the budget, then (or from the start, when toFile)
// into a temporary file. Each byte is charged to a budget once it has
// been read, before it is kept. It reads to the end, not just the
// declared length, which lets the listener lift its body read deadline.
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
			if s.declared >= 0 && s.size+int64(m) > s.declared {
				// Longer than declared: net/http does not allow it.
				return asClientBodyError(io.ErrUnexpectedEOF)
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
					sp.give(s.key, false, s.reserved)
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
	if s.declared >= 0 && s.size != s.declared {
		return asClientBodyError(io.ErrUnexpectedEOF)
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

// grow returns mem with room for m more bytes, which have arrived,
// reserving the added capacity from the budget and the client's share, or
// false when memMax, the share or the budget does not allow it. The
// capacity at most doubles, and never exceeds a declared length, so what
// is reserved stays within twice what has arrived (4 KiB at least).
func (sp *spooler) grow(s *spooledBody, mem []byte, m int) ([]byte, bool) {
	need := int64(len(mem) + m)
	if need <= int64(cap(mem)) {
		return mem, true
	}
	if need > sp.memMax {
		return nil, false
	}
	newCap := min(max(2*int64(cap(mem)), need, 4<<10), sp.memMax)
	if s.declared >= 0 {
		newCap = min(newCap, s.declared)
	}
	if sp.take(s, false, newCap-int64(cap(mem))) != nil {
		return nil, false
	}
	s.reserved += newCap - int64(cap(mem))
	grown := make([]byte, len(mem), newCap)
	copy(grown, mem)
	return grown, true
}

// reserveDisk takes from the disk budget and the client's share the bytes
// s has read (s.size) that it holds no disk space for yet, before they are
// written.
func (sp *spooler) reserveDisk(s *spooledBody) error {
	if more := s.size - s.onDisk; more > 0 {
		if err := sp.take(s, true, more); err != nil {
			return err
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
