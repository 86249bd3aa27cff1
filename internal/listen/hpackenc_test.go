package listen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// hpackPeer decodes what an hpackEncoder writes, as a client does, with
// x/net's decoder.
type hpackPeer struct {
	dec    *hpack.Decoder
	fields []hpack.HeaderField
}

func newHPACKPeer() *hpackPeer {
	p := &hpackPeer{}
	p.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) { p.fields = append(p.fields, f) })
	return p
}

func (p *hpackPeer) decode(t testing.TB, block []byte) []hpack.HeaderField {
	t.Helper()
	p.fields = nil
	if _, err := p.dec.Write(block); err != nil {
		t.Fatalf("decoding %x: %v", block, err)
	}
	if err := p.dec.Close(); err != nil {
		t.Fatalf("decoding %x: %v", block, err)
	}
	return p.fields
}

type hf struct{ k, v string }

// encodeBlock encodes one response's header block: :status 200, then
// fields.
func encodeBlock(e *hpackEncoder, fields []hf) []byte {
	b := e.status(e.begin(nil), "200")
	for _, f := range fields {
		b = e.field(b, f.k, f.v)
	}
	return b
}

func wantDecoded(t *testing.T, got []hpack.HeaderField, fields []hf) {
	t.Helper()
	want := []string{":status: 200"}
	for _, f := range fields {
		want = append(want, strings.ToLower(f.k)+": "+f.v)
	}
	var have []string
	for _, f := range got {
		have = append(have, f.Name+": "+f.Value)
	}
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Fatalf("decoded:\n%s\nwant:\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

// The security headers' fields, set from the same strings on every
// response, cost a byte or two each from the third response on; the
// request id, new in each, stays a literal and does not enter the table.
func TestHPACKEncoder_IndexesRepeatedStrings(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	policy := strings.Repeat("camera=(), ", 40)
	fixed := []hf{{"Permissions-Policy", policy}, {"X-Frame-Options", "SAMEORIGIN"},
		{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"}, {"X-Dns-Prefetch-Control", "off"}}
	var sizes []int
	for i := range 5 {
		fields := append(fixed[:len(fixed):len(fixed)], hf{"X-Request-Id", fmt.Sprintf("id%024d", i)})
		block := encodeBlock(e, fields)
		wantDecoded(t, peer.decode(t, block), fields)
		sizes = append(sizes, len(block))
	}
	if sizes[0] < len(policy)/2 || sizes[1] < len(policy)/2 {
		t.Errorf("first two blocks %d and %d bytes: the fields should be literals until seen twice", sizes[0], sizes[1])
	}
	// :status (1) + 4 indexed fields (1 or 2 each) + the request id
	// literal (about 25).
	if sizes[2] > 40 || sizes[4] != sizes[2] {
		t.Errorf("block sizes %v: from the third on, the fixed fields should be indexed", sizes)
	}
	if len(e.entries) != len(fixed) {
		t.Errorf("%d table entries, want the %d fixed fields only", len(e.entries), len(fixed))
	}
}

// Equal strings at other addresses are literals each time: the encoder
// indexes by address, so values parsed anew for each response never push
// the constant ones out.
func TestHPACKEncoder_FreshStringsStayLiterals(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	for range 10 {
		v := strings.Clone("text/html; charset=utf-8")
		fields := []hf{{"Content-Type", v}, {"Date", "Mon, 07 Dec 2026 15:00:00 GMT"}}
		wantDecoded(t, peer.decode(t, encodeBlock(e, fields)), fields)
	}
	if len(e.entries) != 0 {
		t.Errorf("%d entries; want none: fresh strings and Date are not indexed", len(e.entries))
	}
}

func TestHPACKEncoder_NeverIndexed(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	cookie := "session=secret; Secure; HttpOnly"
	for range 3 {
		for _, f := range peer.decode(t, encodeBlock(e, []hf{{"Set-Cookie", cookie}, {"Authorization", "Bearer x"}})) {
			if f.Name != ":status" && !f.Sensitive {
				t.Errorf("%s sent indexable; want never-indexed (RFC 7541 7.1.3)", f.Name)
			}
		}
	}
	if len(e.entries) != 0 {
		t.Errorf("%d entries; want none", len(e.entries))
	}
}

// Fields Go's server would not send are left out.
func TestHPACKEncoder_DropsInvalidFields(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	got := peer.decode(t, encodeBlock(e, []hf{{"Bad Name", "x"}, {"X-Ok", "a\r\nInjected: 1"},
		{"Trailer:X-T", "v"}, {"X-Good", "ok"}}))
	wantDecoded(t, got, []hf{{"X-Good", "ok"}})
}

// A client that shrinks the table to nothing is told at the start of the
// next block, and nothing is indexed after; one that shrinks it and grows
// it back between two blocks is told both sizes, the smaller first.
func TestHPACKEncoder_TableSize(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	fields := []hf{{"X-Frame-Options", "SAMEORIGIN"}, {"Referrer-Policy", "no-referrer"}}
	for range 3 {
		wantDecoded(t, peer.decode(t, encodeBlock(e, fields)), fields)
	}
	if len(e.entries) != 2 {
		t.Fatalf("%d entries, want 2", len(e.entries))
	}
	peer.dec.SetAllowedMaxDynamicTableSize(0)
	e.setMaxTableSize(0)
	if len(e.entries) != 0 || e.size != 0 {
		t.Fatalf("after a size of 0: %d entries, %d bytes", len(e.entries), e.size)
	}
	block := encodeBlock(e, fields)
	if block[0] != 0x20 {
		t.Errorf("block begins %#x, want a table size update to 0 (0x20)", block[0])
	}
	wantDecoded(t, peer.decode(t, block), fields)
	wantDecoded(t, peer.decode(t, encodeBlock(e, fields)), fields)
	if len(e.entries) != 0 {
		t.Errorf("%d entries in a table of size 0", len(e.entries))
	}

	peer.dec.SetAllowedMaxDynamicTableSize(4096)
	e.setMaxTableSize(100)
	e.setMaxTableSize(8192) // more than hpackMaxTable: 4096
	block = encodeBlock(e, fields)
	if !bytes.HasPrefix(block, []byte{0x3f, 0x45, 0x3f, 0xe1, 0x1f}) {
		t.Errorf("block begins %x, want updates to 100 (the smallest since the last block) then 4096", block[:5])
	}
	wantDecoded(t, peer.decode(t, block), fields)
}

// The table stops growing when full: no entry is evicted to make room.
func TestHPACKEncoder_FullTable(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	var fields []hf
	for i := range 40 {
		fields = append(fields, hf{fmt.Sprintf("X-F%d", i), strings.Repeat("v", 200)})
	}
	for range 4 {
		wantDecoded(t, peer.decode(t, encodeBlock(e, fields)), fields)
		if e.size > e.max {
			t.Fatalf("table holds %d bytes, more than its %d", e.size, e.max)
		}
	}
	first := e.entries[0].seq
	for range 3 {
		wantDecoded(t, peer.decode(t, encodeBlock(e, fields)), fields)
	}
	if e.entries[0].seq != first {
		t.Errorf("entries were evicted")
	}
}

func TestHPACKEncoder_Integers(t *testing.T) {
	for _, c := range []struct {
		n    uint8
		i    uint64
		want []byte
	}{
		{5, 10, []byte{0x0a}},               // RFC 7541 C.1.1
		{5, 1337, []byte{0x1f, 0x9a, 0x0a}}, // C.1.2
		{8, 42, []byte{0x2a}},               // C.1.3
		{7, 127, []byte{0x7f, 0x00}},
		{4, 1 << 40, []byte{0x0f, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x1f}},
	} {
		if got := appendInt(nil, c.n, 0, c.i); !bytes.Equal(got, c.want) {
			t.Errorf("appendInt(%d-bit, %d) = %x, want %x", c.n, c.i, got, c.want)
		}
	}
}

// hpackScript runs an encoder and a decoder side by side through the
// operations ops spells: blocks of fields drawn from constant strings and
// from fresh copies, and table size changes.
func hpackScript(t *testing.T, ops []byte) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	names := []string{"Content-Type", "X-Frame-Options", "Set-Cookie", "Date", "X-Custom-Header", "Permissions-Policy",
		"Cache-Control", "Etag", "Bad Name", "Vary"}
	values := []string{"", "a", "SAMEORIGIN", strings.Repeat("x", 300), strings.Repeat("y", 1100), "bad\nvalue",
		"text/html; charset=utf-8", "ümlaut"}
	sized := false
	for len(ops) > 0 {
		op := ops[0]
		ops = ops[1:]
		if op&0xc0 == 0xc0 {
			// One change between two blocks: x/net's decoder refuses a
			// second size update once its table holds something, which
			// RFC 7541 (4.2) allows; TestHPACKEncoder_TableSize checks the
			// two updates an encoder must send then.
			if sized {
				continue
			}
			sized = true
			sizes := []uint32{0, 1, 64, 100, 4096, 5000}
			v := sizes[int(op)%len(sizes)]
			e.setMaxTableSize(v)
			peer.dec.SetAllowedMaxDynamicTableSize(min(v, hpackMaxTable))
			continue
		}
		n := int(op) % 12
		var fields, want []hf
		for i := 0; i < n && len(ops) > 0; i++ {
			b := ops[0]
			ops = ops[1:]
			k, v := names[int(b)%len(names)], values[int(b>>4)%len(values)]
			if b&0x80 != 0 {
				v = strings.Clone(v)
			}
			fields = append(fields, hf{k, v})
			if k != "Bad Name" && !strings.Contains(v, "\n") {
				want = append(want, hf{k, v})
			}
		}
		sized = false
		wantDecoded(t, peer.decode(t, encodeBlock(e, fields)), want)
		if e.size > e.max {
			t.Fatalf("table holds %d bytes, more than its %d", e.size, e.max)
		}
	}
}

func TestHPACKEncoder_RandomScripts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		ops := make([]byte, r.IntN(400))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		hpackScript(t, ops)
	}
}

func FuzzHPACKEncoder(f *testing.F) {
	f.Add([]byte{3, 1, 2, 3, 3, 1, 2, 3, 3, 1, 2, 3})
	f.Add([]byte{0xc0, 5, 0x10, 0x21, 0x95, 0x05, 0x44, 0xc4, 5, 0x10, 0x21, 0x95, 0x05, 0x44})
	f.Fuzz(func(t *testing.T, ops []byte) { hpackScript(t, ops) })
}

// BenchmarkHPACKEncoder encodes the header block of a response with
// rampart's default security headers, as the gateway sends it, on a
// connection that sent many.
func BenchmarkHPACKEncoder(b *testing.B) {
	fields := []hf{
		{"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'; form-action 'self'"},
		{"Permissions-Policy", "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), fullscreen=(self), geolocation=(), gyroscope=(), hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(self), screen-wake-lock=(), serial=(), usb=(), web-share=(), xr-spatial-tracking=()"},
		{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
		{"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "SAMEORIGIN"}, {"X-Xss-Protection", "0"},
		{"Referrer-Policy", "strict-origin-when-cross-origin"}, {"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"}, {"X-Dns-Prefetch-Control", "off"},
		{"X-Permitted-Cross-Domain-Policies", "none"},
	}
	run := func(b *testing.B, encode func([]hf, string) int) {
		id := []byte("0123456789abcdefghijklmnop")
		for i := range 3 {
			encode(fields, fmt.Sprint(i))
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			id[i%len(id)]++
			ct := strings.Clone("text/html; charset=utf-8")
			encode(append(fields[:len(fields):len(fields)], hf{"Content-Type", ct}), string(id))
		}
	}
	b.Run("rampart", func(b *testing.B) {
		e := newHPACKEncoder()
		var buf []byte
		run(b, func(fields []hf, id string) int {
			buf = e.status(e.begin(buf[:0]), "200")
			for _, f := range fields {
				buf = e.field(buf, f.k, f.v)
			}
			buf = e.field(buf, "X-Request-Id", id)
			buf = e.literal(buf, hpackContentLength, "304")
			buf = e.literal(buf, hpackDate, "Mon, 07 Dec 2026 15:00:00 GMT")
			return len(buf)
		})
	})
	b.Run("x-net", func(b *testing.B) {
		var buf bytes.Buffer
		e := hpack.NewEncoder(&buf)
		run(b, func(fields []hf, id string) int {
			buf.Reset()
			e.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			for _, f := range fields {
				e.WriteField(hpack.HeaderField{Name: strings.ToLower(f.k), Value: f.v})
			}
			e.WriteField(hpack.HeaderField{Name: "x-request-id", Value: id})
			e.WriteField(hpack.HeaderField{Name: "content-length", Value: "304"})
			e.WriteField(hpack.HeaderField{Name: "date", Value: "Mon, 07 Dec 2026 15:00:00 GMT"})
			return buf.Len()
		})
	})
}

func TestHPACKEncoder_Status(t *testing.T) {
	e, peer := newHPACKEncoder(), newHPACKPeer()
	for _, code := range []string{"200", "204", "206", "304", "400", "404", "500", "100", "302", "431", "503"} {
		block := e.status(nil, code)
		if static := strings.Contains("200 204 206 304 400 404 500", code); static != (len(block) == 1) {
			t.Errorf(":status %s encoded in %d bytes (static table entry: %v)", code, len(block), static)
		}
		if got := peer.decode(t, block); len(got) != 1 || got[0].Name != ":status" || got[0].Value != code {
			t.Errorf(":status %s decoded as %v", code, got)
		}
	}
}
