package websocket_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
)

// This file watches WebSocket connections on the wire, for the interop
// tests with permessage-deflate (interop_deflate_test.go): which messages
// traveled compressed, in how many bytes and frames, and what their
// compressed data refers back to.

// wireTap is a net.Conn that watches the bytes passing through it in each
// direction: the HTTP handshake, then the frames of a WebSocket connection.
type wireTap struct {
	net.Conn
	read    wireLog // what came from the peer
	written wireLog // what went to the peer
}

// newWireTap wraps nc. A client's tap watches from the start, its request
// and the response; a server's waits for startServer, as the connection
// may carry plain HTTP first.
func newWireTap(nc net.Conn, client bool) *wireTap {
	t := &wireTap{Conn: nc}
	if client {
		t.read.state = tapHead
		t.written.state = tapHead
	}
	return t
}

// startServer starts watching a server's connection once net/http has read
// the handshake request: what is read next is frames; what is written, the
// response and then frames.
func (t *wireTap) startServer() {
	t.read.start(tapFrames)
	t.written.start(tapHead)
}

func (t *wireTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.read.feed(p[:n])
	return n, err
}

func (t *wireTap) Write(p []byte) (int, error) {
	n, err := t.Conn.Write(p)
	t.written.feed(p[:n])
	return n, err
}

// CloseWrite passes on the half-close that a Conn failing the connection
// uses, where the connection has one.
func (t *wireTap) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// wireMsg is one data message as it traveled.
type wireMsg struct {
	text       bool
	compressed bool   // RSV1 on its first frame
	frames     int    // data frames
	wireSize   int64  // payload bytes on the wire, of all its frames
	data       []byte // the payload of a compressed message, unmasked
}

// wireRecord is what a wireLog saw.
type wireRecord struct {
	head     []byte    // the HTTP request or response
	msgs     []wireMsg // data messages, in order
	problems []string  // frames that broke RFC 6455 or RFC 7692
}

const (
	tapOff    = iota // not watching
	tapHead          // reading the HTTP head
	tapFrames        // reading frames
	tapDone          // after a close frame, or lost
)

// wireLog parses one direction of a connection as it passes.
type wireLog struct {
	mu    sync.Mutex
	state int // guarded by mu, as is everything below

	hdr     []byte // the frame header so far
	inFrame bool   // the header is complete; left payload bytes follow
	left    int64
	control bool // the frame is a control frame
	closing bool // the frame is a close frame
	fin     bool
	masked  bool
	key     [4]byte
	kpos    int
	cur     *wireMsg // the message whose frames are arriving

	rec wireRecord
}

func (l *wireLog) start(state int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = state
}

// record returns what l saw.
func (l *wireLog) record() wireRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rec
	r.msgs = append([]wireMsg(nil), r.msgs...)
	r.problems = append([]string(nil), r.problems...)
	return r
}

func (l *wireLog) problem(format string, args ...any) {
	l.rec.problems = append(l.rec.problems, fmt.Sprintf(format, args...))
}

func (l *wireLog) feed(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(p) > 0 {
		switch {
		case l.state == tapHead:
			l.rec.head = append(l.rec.head, p...)
			i := bytes.Index(l.rec.head, []byte("\r\n\r\n"))
			if i < 0 {
				if len(l.rec.head) > 64<<10 {
					l.problem("no end to the HTTP head in %d bytes", len(l.rec.head))
					l.state = tapDone
				}
				return
			}
			p = l.rec.head[i+4:]
			l.rec.head = l.rec.head[: i+4 : i+4]
			l.state = tapFrames
		case l.state != tapFrames:
			return
		case l.inFrame:
			p = l.payload(p)
		default:
			p = l.header(p)
		}
	}
}

// header reads a frame header from p and returns the rest of p.
func (l *wireLog) header(p []byte) []byte {
	for {
		need := 2
		if len(l.hdr) >= 2 {
			switch l.hdr[1] & 0x7f {
			case 126:
				need += 2
			case 127:
				need += 8
			}
			if l.hdr[1]&0x80 != 0 {
				need += 4
			}
		}
		if len(l.hdr) == need {
			break
		}
		if len(p) == 0 {
			return p
		}
		k := min(need-len(l.hdr), len(p))
		l.hdr = append(l.hdr, p[:k]...)
		p = p[k:]
	}
	h := l.hdr
	l.hdr = l.hdr[:0]
	l.fin = h[0]&0x80 != 0
	rsv1 := h[0]&0x40 != 0
	op := h[0] & 0x0f
	n, i := int64(h[1]&0x7f), 2
	switch n {
	case 126:
		n, i = int64(binary.BigEndian.Uint16(h[2:])), 4
	case 127:
		n, i = int64(binary.BigEndian.Uint64(h[2:])), 10
	}
	l.masked = h[1]&0x80 != 0
	if l.masked {
		copy(l.key[:], h[i:])
	}
	if h[0]&0x30 != 0 {
		l.problem("RSV2 or RSV3 set: %#x", h[0])
	}
	if n < 0 || n > 64<<20 {
		l.problem("a frame of %d bytes: lost track of the frames", n)
		l.state = tapDone
		return nil
	}
	l.control = op >= 8
	l.closing = op == 8
	switch {
	case l.control:
		if rsv1 {
			l.problem("RSV1 on a control frame, opcode %d", op)
		}
	case op == 1 || op == 2:
		if l.cur != nil {
			l.problem("a new message before the last one's final frame")
		}
		l.cur = &wireMsg{text: op == 1, compressed: rsv1}
	case op == 0:
		if l.cur == nil {
			l.problem("a continuation frame outside a message")
			l.cur = &wireMsg{}
		}
		if rsv1 {
			l.problem("RSV1 on a continuation frame")
		}
	default:
		l.problem("reserved opcode %d", op)
		l.state = tapDone
		return nil
	}
	if !l.control {
		l.cur.frames++
		l.cur.wireSize += n
	}
	l.left, l.kpos, l.inFrame = n, 0, true
	if n == 0 {
		l.endFrame()
	}
	return p
}

// payload reads frame payload from p and returns the rest of p.
func (l *wireLog) payload(p []byte) []byte {
	k := int(min(l.left, int64(len(p))))
	if !l.control && l.cur.compressed {
		for _, b := range p[:k] {
			if l.masked {
				b ^= l.key[l.kpos&3]
				l.kpos++
			}
			l.cur.data = append(l.cur.data, b)
		}
	}
	l.left -= int64(k)
	if l.left == 0 {
		l.endFrame()
	}
	return p[k:]
}

func (l *wireLog) endFrame() {
	l.inFrame = false
	switch {
	case l.closing:
		l.state = tapDone
	case l.control:
	case l.fin:
		l.rec.msgs = append(l.rec.msgs, *l.cur)
		l.cur = nil
	}
}

// deflateRefs is what scanDeflate found in a compressed message.
type deflateRefs struct {
	size    int64 // bytes it decompresses to
	maxDist int   // the longest distance of its back-references
	// reach is how far before the message's start its farthest
	// back-reference went: 0 if none left the message.
	reach int64
}

// scanDeflate walks the DEFLATE data (RFC 1951) of one compressed message,
// with the 4 bytes that the sender removed put back (RFC 7692 section 7.2.2),
// without decompressing it: it decodes the Huffman codes, counts the bytes
// they stand for, and measures back-references. hist is the size of what
// the earlier compressed messages decompressed to, within which references
// may reach with context takeover.
func scanDeflate(data []byte, hist int64) (deflateRefs, error) {
	br := &bitReader{in: append(data[:len(data):len(data)], 0, 0, 0xff, 0xff)}
	var r deflateRefs
	var lit, dist huffman
	for br.pos < len(br.in) {
		final := br.bits(1)
		switch br.bits(2) {
		case 0:
			br.n, br.b = 0, 0 // to the byte boundary
			n, nn := br.bits(16), br.bits(16)
			if n != ^nn&0xffff {
				return r, fmt.Errorf("stored block: LEN %#x, NLEN %#x", n, nn)
			}
			if br.pos+int(n) > len(br.in) {
				return r, errors.New("stored block: data cut short")
			}
			br.pos += int(n)
			r.size += int64(n)
		case 1:
			if err := r.codes(br, &fixedLit, &fixedDist, hist); err != nil {
				return r, err
			}
		case 2:
			if err := br.dynamicTables(&lit, &dist); err != nil {
				return r, err
			}
			if err := r.codes(br, &lit, &dist, hist); err != nil {
				return r, err
			}
		default:
			return r, errors.New("block type 3")
		}
		if br.err != nil {
			return r, br.err
		}
		if final == 1 {
			break
		}
	}
	return r, br.err
}

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	fixedLit, fixedDist = fixedCodes()
)

// fixedCodes returns the codes of fixed Huffman blocks.
func fixedCodes() (lit, dist huffman) {
	var lengths [288]uint8
	for i := range lengths {
		switch {
		case i < 144:
			lengths[i] = 8
		case i < 256:
			lengths[i] = 9
		case i < 280:
			lengths[i] = 7
		default:
			lengths[i] = 8
		}
	}
	lit.init(lengths[:])
	for i := range 30 {
		lengths[i] = 5
	}
	dist.init(lengths[:30])
	return lit, dist
}

// codes reads the codes of a Huffman block, up to its end of block.
func (r *deflateRefs) codes(br *bitReader, lit, dist *huffman, hist int64) error {
	for br.err == nil {
		sym := br.decode(lit)
		switch {
		case sym < 256:
			r.size++
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return fmt.Errorf("length symbol %d", sym)
		}
		sym -= 257
		length := lengthBase[sym] + int(br.bits(lengthExtra[sym]))
		dsym := br.decode(dist)
		if dsym >= 30 {
			return fmt.Errorf("distance symbol %d", dsym)
		}
		d := distBase[dsym] + int(br.bits(distExtra[dsym]))
		if int64(d) > r.size+hist {
			return fmt.Errorf("distance %d at %d, with %d bytes before the message", d, r.size, hist)
		}
		r.maxDist = max(r.maxDist, d)
		r.reach = max(r.reach, int64(d)-r.size)
		r.size += int64(length)
	}
	return br.err
}

// dynamicTables reads the code tables of a dynamic Huffman block.
func (br *bitReader) dynamicTables(lit, dist *huffman) error {
	nlen := int(br.bits(5)) + 257
	ndist := int(br.bits(5)) + 1
	ncode := int(br.bits(4)) + 4
	if nlen > 286 || ndist > 30 {
		return fmt.Errorf("dynamic block with %d length and %d distance codes", nlen, ndist)
	}
	var lengths [286 + 30]uint8
	for i, sym := range [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15} {
		if i < ncode {
			lengths[sym] = uint8(br.bits(3))
		}
	}
	var lencode huffman
	lencode.init(lengths[:19])
	for i := 0; i < nlen+ndist; {
		if br.err != nil {
			return br.err
		}
		sym := br.decode(&lencode)
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var l uint8
		var rep int
		switch sym {
		case 16:
			if i == 0 {
				return errors.New("code length repeat with no previous length")
			}
			l, rep = lengths[i-1], 3+int(br.bits(2))
		case 17:
			rep = 3 + int(br.bits(3))
		case 18:
			rep = 11 + int(br.bits(7))
		default:
			return fmt.Errorf("code length symbol %d", sym)
		}
		if i+rep > nlen+ndist {
			return errors.New("code lengths overflow")
		}
		for ; rep > 0; rep-- {
			lengths[i] = l
			i++
		}
	}
	lit.init(lengths[:nlen])
	dist.init(lengths[nlen : nlen+ndist])
	return br.err
}

// huffman is a canonical Huffman code, decoded a bit at a time as Mark
// Adler's puff does: count[n] codes of n bits, and their symbols in order.
type huffman struct {
	count  [16]int
	symbol [288]uint16
}

func (h *huffman) init(lengths []uint8) {
	h.count = [16]int{}
	for _, l := range lengths {
		h.count[l]++
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
}

// bitReader reads DEFLATE's bit stream, least significant bit first. Past
// the end of its input it returns zeros and sets err.
type bitReader struct {
	in  []byte
	pos int    // of the next byte
	b   uint32 // bits read from in and not yet used
	n   uint   // how many
	err error
}

func (br *bitReader) bits(n uint) uint32 {
	for br.n < n {
		if br.pos == len(br.in) {
			if br.err == nil {
				br.err = errors.New("compressed data cut short")
			}
			return 0
		}
		br.b |= uint32(br.in[br.pos]) << br.n
		br.pos++
		br.n += 8
	}
	v := br.b & (1<<n - 1)
	br.b >>= n
	br.n -= n
	return v
}

func (br *bitReader) decode(h *huffman) int {
	code, first, index := 0, 0, 0
	for l := 1; l <= 15; l++ {
		code |= int(br.bits(1))
		count := h.count[l]
		if code-first < count {
			return int(h.symbol[index+code-first])
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	if br.err == nil {
		br.err = errors.New("invalid Huffman code")
	}
	return 0
}

// TestScanDeflate checks scanDeflate against compress/flate: messages
// compressed one after another with context takeover, each ended with a
// sync flush whose last 4 bytes are removed, as permessage-deflate sends
// them, at levels that make stored, fixed and dynamic Huffman blocks.
func TestScanDeflate(t *testing.T) {
	t.Parallel()
	msgs := [][]byte{
		nil,
		[]byte("a"),
		jsonLike(200),
		jsonLike(200), // the same again: refers to the one before
		payload("binary", 5000),
		jsonLike(70000),
	}
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		t.Run(strconv.Itoa(level), func(t *testing.T) {
			var buf bytes.Buffer
			fw, err := flate.NewWriter(&buf, level)
			if err != nil {
				t.Fatal(err)
			}
			var hist int64
			for i, m := range msgs {
				buf.Reset()
				fw.Write(m)
				fw.Flush()
				data := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
				refs, err := scanDeflate(data, hist)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if refs.size != int64(len(m)) || refs.maxDist > 1<<15 {
					t.Errorf("message %d: %d bytes, distances up to %d; want %d bytes", i, refs.size, refs.maxDist, len(m))
				}
				// A repeat refers to the message before; nothing
				// refers anywhere without matches.
				matches := level != flate.NoCompression && level != flate.HuffmanOnly
				if i == 3 && matches && refs.reach <= 0 || !matches && refs.maxDist > 0 {
					t.Errorf("message %d: distances up to %d, reaching %d bytes before its start", i, refs.maxDist, refs.reach)
				}
				hist += refs.size
			}
		})
	}
	// A reference further back than anything sent: a fixed Huffman block
	// with "a" and then a match of length 3 at distance 2.
	var bw bitWriter
	bw.bits(0, 1) // not final
	bw.bits(1, 2) // fixed Huffman
	bw.code(0x30+'a', 8)
	bw.code(1, 7) // length symbol 257: 3
	bw.code(1, 5) // distance symbol 1: 2
	bw.code(0, 7) // end of block
	bw.bits(0, 3) // the sync flush's empty stored block
	if _, err := scanDeflate(bw.bytes(), 0); err == nil {
		t.Errorf("a distance of 2 after 1 byte: no error")
	}
	if refs, err := scanDeflate(bw.bytes(), 1); err != nil || refs.size != 4 || refs.reach != 1 {
		t.Errorf("with 1 byte of history: %+v, %v; want 4 bytes reaching 1 back", refs, err)
	}
}

// bitWriter writes DEFLATE's bit stream, for TestScanDeflate.
type bitWriter struct {
	out []byte
	n   uint // bits used in the last byte
}

func (w *bitWriter) bits(v uint32, n uint) {
	for i := range n {
		if w.n%8 == 0 {
			w.out = append(w.out, 0)
		}
		w.out[len(w.out)-1] |= byte(v>>i&1) << (w.n % 8)
		w.n++
	}
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c uint32, n uint) {
	for i := n; i > 0; i-- {
		w.bits(c>>(i-1)&1, 1)
	}
}

func (w *bitWriter) bytes() []byte { return w.out }
