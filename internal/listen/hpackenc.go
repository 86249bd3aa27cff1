package listen

import (
	"math"
	"math/bits"
	"unsafe"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// hpackEncoder encodes the response header blocks of one HTTP/2
// connection (RFC 7541). It replaces hpack.Encoder, whose WriteField looks
// every field up by name and value in the static table and in the dynamic
// table, each a map keyed by both strings: with the security headers on
// every response (a Permissions-Policy of about 400 bytes among them),
// encoding the fields was 10% of the gateway's CPU over HTTP/2, half of it
// that search.
//
// What it indexes, and how it finds what it indexed, differ:
//   - A field goes into the dynamic table only once the same strings (the
//     same name and value, by address) come a second time: the fields a
//     program sets from constants, such as the security headers' policy,
//     which then cost one or two bytes and one small map lookup per
//     response. Values made for one response (a request id, an
//     application's fields parsed from its response) are sent as literals
//     without indexing, as nginx sends all of its fields, and do not push
//     the others out of the table.
//   - Once the table is full nothing else goes in: no entry is evicted
//     but when the client shrinks the table.
//   - Set-Cookie, Cookie and Authorization are sent never-indexed (RFC
//     7541, 7.1.3), so that nothing after them can be compressed against
//     them.
//
// An entry keeps its strings, and what they are part of, for the
// connection's life: at most 4 KiB of fields, of 32 bytes at least each.
// Its zero value is not usable; newHPACKEncoder makes one. Not safe for
// concurrent use: the connection's write lock guards it.
type hpackEncoder struct {
	// max is the table's maximum size, at most hpackMaxTable and the
	// client's SETTINGS_HEADER_TABLE_SIZE; size what its entries take.
	max, size uint32
	// ins counts the entries ever inserted: the newest has index 62,
	// entry e has 62 + ins-1-e.seq.
	ins     uint64
	entries []hpackEntry // oldest first
	byAddr  map[hpackKey]uint64
	seen    map[hpackKey]struct{}
	// minMax is the smallest maximum set since the last header block
	// (math.MaxUint32 if none); update says the next block must begin
	// with the table size update(s).
	minMax uint32
	update bool
	// date is the last Date literal, for the responses of the same
	// second: the value and what it encodes to.
	date    string
	dateEnc []byte
}

type hpackEntry struct {
	canon, lower, value string // the name as http.Header has it, and lowercase
	key                 hpackKey
	seq                 uint64
}

// hpackKey identifies a field by where its strings are: the strings of
// an entry, which the entry keeps, are at the addresses of its key. Two
// fields can share a key (it mixes the addresses and lengths into one
// word), so a hit is checked against the entry's own strings, a
// comparison that ends at once when the addresses match; a miss that
// shares a seen-once key is indexed a response early, which is harmless.
type hpackKey uint64

func keyOf(name, value string) hpackKey {
	n := uint64(uintptr(unsafe.Pointer(unsafe.StringData(name))))
	v := uint64(uintptr(unsafe.Pointer(unsafe.StringData(value))))
	return hpackKey(v ^ bits.RotateLeft64(n, 29) ^ uint64(len(value))<<48 ^ uint64(len(name))<<40)
}

const (
	// hpackMaxTable is the dynamic table's size at most: HTTP/2's
	// default, as Go's server uses.
	hpackMaxTable = 4096
	// hpackMaxSeen bounds the fields remembered as seen once; the set
	// starts again when it is full.
	hpackMaxSeen = 256
	// hpackMaxEntry is the largest field indexed.
	hpackMaxEntry = 1024
)

func newHPACKEncoder() *hpackEncoder {
	return &hpackEncoder{max: hpackMaxTable, minMax: math.MaxUint32}
}

// setMaxTableSize applies the client's SETTINGS_HEADER_TABLE_SIZE v: the
// table shrinks now, and the next header block begins by saying so.
func (e *hpackEncoder) setMaxTableSize(v uint32) {
	v = min(v, hpackMaxTable)
	if v == e.max {
		return
	}
	e.minMax = min(e.minMax, v)
	e.max, e.update = v, true
	e.evict()
}

// begin starts a header block in dst.
func (e *hpackEncoder) begin(dst []byte) []byte {
	if !e.update {
		return dst
	}
	if e.minMax < e.max {
		dst = appendInt(dst, 5, 0x20, uint64(e.minMax))
	}
	dst = appendInt(dst, 5, 0x20, uint64(e.max))
	e.update, e.minMax = false, math.MaxUint32
	return dst
}

// hpackStaticName is the index of each name in the static table (RFC 7541,
// appendix A), its first entry when it has several.
var hpackStaticName = func() map[string]uint64 {
	names := []string{":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme",
		":status", ":status", ":status", ":status", ":status", ":status", ":status",
		"accept-charset", "accept-encoding", "accept-language", "accept-ranges", "accept",
		"access-control-allow-origin", "age", "allow", "authorization", "cache-control",
		"content-disposition", "content-encoding", "content-language", "content-length",
		"content-location", "content-range", "content-type", "cookie", "date", "etag", "expect",
		"expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
		"if-unmodified-since", "last-modified", "link", "location", "max-forwards",
		"proxy-authenticate", "proxy-authorization", "range", "referer", "refresh", "retry-after",
		"server", "set-cookie", "strict-transport-security", "transfer-encoding", "user-agent",
		"vary", "via", "www-authenticate"}
	m := make(map[string]uint64, len(names))
	for i, n := range names {
		if _, ok := m[n]; !ok {
			m[n] = uint64(i + 1)
		}
	}
	return m
}()

// Static table indexes used directly.
const (
	hpackStatus        = 8 // :status, and 200 with its value
	hpackContentLength = 28
	hpackDate          = 33
)

// hpackStaticStatus are the :status values of the static table, at
// indexes 8 to 14.
var hpackStaticStatus = [...]string{"200", "204", "206", "304", "400", "404", "500"}

// status appends :status code.
func (e *hpackEncoder) status(dst []byte, code string) []byte {
	for i, s := range hpackStaticStatus {
		if code == s {
			return append(dst, 0x80|byte(hpackStatus+i))
		}
	}
	return appendLiteral(dst, 0x00, 4, hpackStatus, "", code)
}

// literal appends a field the server makes for each response (the
// content-length and date it adds) as a literal without indexing, its
// name from the static table.
func (e *hpackEncoder) literal(dst []byte, nameIndex uint64, value string) []byte {
	if nameIndex != hpackDate {
		return appendLiteral(dst, 0x00, 4, nameIndex, "", value)
	}
	if value != e.date {
		e.date, e.dateEnc = value, appendLiteral(e.dateEnc[:0], 0x00, 4, hpackDate, "", value)
	}
	return append(dst, e.dateEnc...)
}

// field appends the field whose canonical (http.Header) name is k and
// value v. Fields that are not valid HTTP are left out, as Go's server
// leaves them.
func (e *hpackEncoder) field(dst []byte, k, v string) []byte {
	key := keyOf(k, v)
	if seq, ok := e.byAddr[key]; ok && len(e.entries) > 0 && seq-e.entries[0].seq < uint64(len(e.entries)) {
		if en := &e.entries[seq-e.entries[0].seq]; en.canon == k && en.value == v {
			return appendInt(dst, 7, 0x80, 62+e.ins-1-seq)
		}
	}
	lower, common := h2CommonLower[k]
	if !common && !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
		return dst
	}
	var nameIndex uint64
	if common {
		nameIndex = hpackStaticName[lower]
	}
	switch k {
	case "Set-Cookie", "Cookie", "Authorization", "Proxy-Authorization":
		return appendLiteral(dst, 0x10, 4, nameIndex, k, v)
	case "Date":
		return appendLiteral(dst, 0x00, 4, nameIndex, k, v)
	}
	if _, ok := e.seen[key]; ok {
		if size := entrySize(k, v); size <= hpackMaxEntry && e.size+size <= e.max {
			delete(e.seen, key)
			if !common {
				lower = lowerASCII(k)
			}
			e.insert(hpackEntry{canon: k, lower: lower, value: v, key: key})
			return appendLiteral(dst, 0x40, 6, nameIndex, k, v)
		}
	} else {
		if e.seen == nil {
			e.seen = make(map[hpackKey]struct{})
		} else if len(e.seen) >= hpackMaxSeen {
			clear(e.seen)
		}
		e.seen[key] = struct{}{}
	}
	return appendLiteral(dst, 0x00, 4, nameIndex, k, v)
}

func entrySize(name, value string) uint32 {
	return uint32(len(name) + len(value) + 32)
}

func (e *hpackEncoder) insert(en hpackEntry) {
	en.seq = e.ins
	e.ins++
	e.entries = append(e.entries, en)
	if e.byAddr == nil {
		e.byAddr = make(map[hpackKey]uint64)
	}
	e.byAddr[en.key] = en.seq
	e.size += entrySize(en.lower, en.value)
}

// evict removes the oldest entries until the table is within its maximum.
func (e *hpackEncoder) evict() {
	n := 0
	for e.size > e.max && n < len(e.entries) {
		en := &e.entries[n]
		delete(e.byAddr, en.key)
		e.size -= entrySize(en.lower, en.value)
		n++
	}
	if n > 0 {
		e.entries = append(e.entries[:0], e.entries[n:]...)
	}
}

// appendLiteral appends a literal field: first is its representation's
// bits (0x40 with indexing, 0x00 without, 0x10 never indexed), n the
// bits its name index takes. Without a static name, the canonical name is
// written lowercase.
func appendLiteral(dst []byte, first byte, n uint8, nameIndex uint64, canon, value string) []byte {
	dst = appendInt(dst, n, first, nameIndex)
	if nameIndex == 0 {
		dst = appendInt(dst, 7, 0, uint64(len(canon)))
		for i := 0; i < len(canon); i++ {
			c := canon[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
	}
	return appendString(dst, value)
}

// appendString appends s as an HPACK string, Huffman-coded when that is
// shorter.
func appendString(dst []byte, s string) []byte {
	if n := hpack.HuffmanEncodeLength(s); n < uint64(len(s)) {
		dst = appendInt(dst, 7, 0x80, n)
		return hpack.AppendHuffmanString(dst, s)
	}
	dst = appendInt(dst, 7, 0, uint64(len(s)))
	return append(dst, s...)
}

// appendInt appends i as an HPACK integer with an n-bit prefix, the first
// byte's other bits being first's (RFC 7541, 5.1).
func appendInt(dst []byte, n uint8, first byte, i uint64) []byte {
	k := uint64(1)<<n - 1
	if i < k {
		return append(dst, first|byte(i))
	}
	dst = append(dst, first|byte(k))
	for i -= k; i >= 0x80; i >>= 7 {
		dst = append(dst, byte(i&0x7f|0x80))
	}
	return append(dst, byte(i))
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
