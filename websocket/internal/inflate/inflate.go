// Package inflate decodes raw DEFLATE data (RFC 1951) from a source that
// gives its input in pieces, as permessage-deflate (RFC 7692) receives it.
//
// The decoder keeps a 64-bit bit buffer, refilled eight bytes at a time
// straight from the current piece of input, and decodes most symbols with
// one table lookup; it turns to a careful byte at a time path only near
// the end of a piece, of the window, or of the input.
package inflate

import (
	"encoding/binary"
	"errors"
	"io"
)

// Source gives the compressed input.
//
// Next returns the next piece of input. At the end of the input it returns
// io.EOF; any other error stops the decoding and is returned by Read. A
// non-empty piece returned with an error is decoded before the error is
// taken. The Reader does not keep a piece past its next call to Next, nor
// past Reset: the source may reuse its buffer then.
type Source interface {
	Next() ([]byte, error)
}

// ErrCorrupt is matched (errors.Is) by the errors for invalid input.
var ErrCorrupt = errors.New("inflate: invalid data")

type corruptError string

func (e corruptError) Error() string        { return "inflate: invalid data: " + string(e) }
func (e corruptError) Is(target error) bool { return target == ErrCorrupt }

var (
	errBlockType  = corruptError("invalid block type")
	errStoredLen  = corruptError("stored block length mismatch")
	errHeader     = corruptError("too many length or distance codes")
	errCLCode     = corruptError("invalid code lengths code")
	errRepeat     = corruptError("code length repeat out of range")
	errLitCode    = corruptError("invalid literal/length code lengths")
	errDistCode   = corruptError("invalid distance code lengths")
	errSymbol     = corruptError("invalid symbol")
	errDistance   = corruptError("distance too far back")
	errNoProgress = errors.New("inflate: source returned no data repeatedly")
	errNoSource   = errors.New("inflate: Read before Reset")
)

const (
	winSize  = 1 << 15 // the LZ77 window: the farthest distance
	maxMatch = 258

	// ringSize is the output ring's size: a little more than the window,
	// so that the fastSlack bytes after the write position are farther
	// back than any distance reaches, and the fast loop may overwrite
	// them (it writes up to 13 bytes past a match's end).
	fastSlack = 16
	ringSize  = winSize + 64
)

// Decoder states.
const (
	stHeader = iota // next: a block header
	stStored        // in a stored block
	stHuff          // in a Huffman block
	stDone          // after the final block
)

// Reader decompresses raw DEFLATE data. The zero value is usable after
// Reset, and a Reader is fine to pool: Reset(nil, nil) drops its
// references to the source and its last piece of input.
//
// When the input at hand is used up and decoded output has not been read,
// Read returns that output before calling Next, which may wait for the
// network (except inside a dynamic block's header).
type Reader struct {
	src Source

	// Input: the current piece, and the bit buffer. Bits are taken from
	// the bottom of bits; nbits of them are input, and the bits above
	// are either zero or copies of the input at in[pos:], which a refill
	// puts in the same places again.
	in      []byte
	pos     int
	bits    uint64
	nbits   uint
	eof     bool  // the source said io.EOF
	pendErr error // came with the current piece, for when it is used up
	nodata  int   // empty pieces in a row

	state      uint8
	final      bool // the current block is the last
	storedLeft int  // bytes left in a stored block
	copyLen    int  // bytes of a match not yet copied, for want of room
	copyDist   int
	lit        *[litTabSize]uint32
	distT      *[distTabSize]uint32
	err        error // sticky; io.EOF at the end

	// Output: a ring of the last ringSize bytes. win[rpos:wpos] is
	// decoded and not yet read. Before the first wrap (full false), the
	// ring holds the dictionary and the output at win[:wpos].
	wpos, rpos int
	full       bool

	litTab  [litTabSize]uint32
	distTab [distTabSize]uint32
	clTab   [clTabSize]uint32
	lens    [maxLit + maxDist]uint8
	win     [ringSize]byte
}

// NewReader returns a Reader decompressing from src, with dict, if not
// nil, as the data before (a preset dictionary: the window's history).
func NewReader(src Source, dict []byte) *Reader {
	r := new(Reader)
	r.Reset(src, dict)
	return r
}

// Reset discards the Reader's state and makes it decompress from src, with
// dict as the preset history (its last 32 KiB count).
func (r *Reader) Reset(src Source, dict []byte) {
	r.resetInput(src)
	if len(dict) > winSize {
		dict = dict[len(dict)-winSize:]
	}
	n := copy(r.win[:], dict)
	r.wpos, r.rpos, r.full = n, n, false
}

// ResetKeepHistory makes the Reader decompress a new stream from src,
// with the data it has decoded so far (and its dictionary) as the preset
// history: Reset with the last 32 KiB of output as dict, without the copy.
// It is meant for permessage-deflate's context takeover. Output not yet
// read is dropped, though it stays in the history.
func (r *Reader) ResetKeepHistory(src Source) {
	r.resetInput(src)
	if r.wpos == ringSize {
		r.wpos, r.full = 0, true
	}
	r.rpos = r.wpos
}

func (r *Reader) resetInput(src Source) {
	r.src = src
	r.in, r.pos, r.bits, r.nbits = nil, 0, 0, 0
	r.eof, r.pendErr, r.nodata = false, nil, 0
	r.state, r.final, r.storedLeft, r.copyLen, r.copyDist = stHeader, false, 0, 0, 0
	r.lit, r.distT = nil, nil
	r.err = nil
	if src == nil {
		r.err = errNoSource
	}
}

// Read reads decompressed data. It returns io.EOF after the final block,
// possibly with the last bytes; io.ErrUnexpectedEOF if the input ends
// before; an error matching ErrCorrupt for invalid input; and the
// source's error if it fails. After an error the Reader stays failed until
// Reset.
func (r *Reader) Read(p []byte) (int, error) {
	for {
		if r.rpos < r.wpos {
			n := copy(p, r.win[r.rpos:r.wpos])
			r.rpos += n
			if r.rpos == r.wpos && r.err == io.EOF {
				return n, io.EOF
			}
			return n, nil
		}
		if r.err != nil {
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		if r.wpos == ringSize {
			r.wpos, r.rpos, r.full = 0, 0, true
		}
		r.decode()
	}
}

// Buffered returns how many bytes the Reader took from the source and has
// not decoded. After io.EOF, they are the input after the final block
// (input the source has not given yet aside).
func (r *Reader) Buffered() int {
	return int(r.nbits/8) + len(r.in) - r.pos
}

// decode decodes until there is output to give (a full window, or more
// input to wait for) or an error.
func (r *Reader) decode() {
	for r.err == nil && r.wpos < ringSize {
		switch r.state {
		case stHeader:
			if r.starved(64) {
				return
			}
			r.header()
		case stStored:
			if !r.stored() {
				return
			}
		case stHuff:
			if !r.huff() {
				return
			}
		default:
			r.err = io.EOF
		}
	}
}

// starved reports whether the decoder should give the output it has
// before asking the source for input, which may wait: it has output, and
// fewer than bits bits of input at hand.
func (r *Reader) starved(bits uint) bool {
	return r.rpos < r.wpos && !r.eof && r.nbits+8*uint(len(r.in)-r.pos) < bits
}

// next takes the next piece of input. It returns false at the end of the
// input (r.eof) or on the source's error (r.err).
func (r *Reader) next() bool {
	if r.eof || r.err != nil {
		return false
	}
	if r.src == nil {
		r.err = errNoSource
		return false
	}
	if r.pendErr != nil {
		r.in, r.pos = nil, 0
		r.takeErr(r.pendErr)
		return false
	}
	for {
		b, err := r.src.Next()
		if len(b) > 0 {
			r.in, r.pos, r.pendErr, r.nodata = b, 0, err, 0
			return true
		}
		r.in, r.pos = nil, 0
		if err != nil {
			r.takeErr(err)
			return false
		}
		r.nodata++
		if r.nodata >= 100 {
			r.err = errNoProgress
			return false
		}
	}
}

func (r *Reader) takeErr(err error) {
	if err == io.EOF {
		r.eof = true
	} else {
		r.err = err
	}
}

// fill adds input to the bit buffer until it holds want bits (at most 56)
// or the input ends.
func (r *Reader) fill(want uint) {
	for r.nbits < want {
		if r.pos < len(r.in) {
			r.bits |= uint64(r.in[r.pos]) << r.nbits
			r.pos++
			r.nbits += 8
		} else if !r.next() {
			return
		}
	}
}

// need fills the bit buffer with n bits, or fails with
// io.ErrUnexpectedEOF (or the source's error).
func (r *Reader) need(n uint) bool {
	r.fill(n)
	if r.nbits >= n {
		return true
	}
	if r.err == nil {
		r.err = io.ErrUnexpectedEOF
	}
	return false
}

func (r *Reader) consume(n uint) {
	r.bits >>= n
	r.nbits -= n
}

// badEntry fails on an invalid table entry looked up with the bit buffer:
// invalid data if the buffer holds the bits that make it invalid, else
// (the input ended) io.ErrUnexpectedEOF.
func (r *Reader) badEntry(e uint32) {
	if r.err != nil {
		return
	}
	if uint(e&15) <= r.nbits {
		r.err = errSymbol
	} else {
		r.err = io.ErrUnexpectedEOF
	}
}

// header reads a block header.
func (r *Reader) header() {
	if !r.need(3) {
		return
	}
	r.final = r.bits&1 != 0
	typ := r.bits >> 1 & 3
	r.consume(3)
	switch typ {
	case 0:
		r.consume(r.nbits & 7) // to a byte boundary
		if !r.need(32) {
			return
		}
		n, nn := uint16(r.bits), uint16(r.bits>>16)
		r.consume(32)
		if n != ^nn {
			r.err = errStoredLen
			return
		}
		r.storedLeft = int(n)
		r.state = stStored
	case 1:
		r.lit, r.distT = &fixedLit, &fixedDist
		r.state = stHuff
	case 2:
		if r.dynamic() {
			r.lit, r.distT = &r.litTab, &r.distTab
			r.state = stHuff
		}
	default:
		r.err = errBlockType
	}
}

// clOrder is the order of the code length code's lengths (section 3.2.7).
var clOrder = [numCL]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the header of a block with dynamic Huffman codes (section
// 3.2.7) and builds their tables.
func (r *Reader) dynamic() bool {
	if !r.need(14) {
		return false
	}
	nlit := int(r.bits&31) + 257
	ndist := int(r.bits>>5&31) + 1
	nclen := int(r.bits>>10&15) + 4
	r.consume(14)
	if nlit > maxLit || ndist > maxDist {
		r.err = errHeader
		return false
	}
	var cl [numCL]uint8
	for i := range nclen {
		if !r.need(3) {
			return false
		}
		cl[clOrder[i]] = uint8(r.bits & 7)
		r.consume(3)
	}
	if !buildTable(r.clTab[:], clRoot, cl[:], clBase[:]) {
		r.err = errCLCode
		return false
	}
	lens := r.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if r.nbits < clRoot+7 {
			r.fill(56)
			if r.err != nil {
				return false
			}
		}
		e := r.clTab[r.bits&clMask]
		n := uint(e & 15)
		if e&flagValid == 0 {
			r.badEntry(e)
			return false
		}
		if n > r.nbits {
			r.err = io.ErrUnexpectedEOF
			return false
		}
		r.consume(n)
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				r.err = errRepeat
				return false
			}
			val = lens[i-1]
			if !r.need(2) {
				return false
			}
			rep = 3 + int(r.bits&3)
			r.consume(2)
		case 17:
			if !r.need(3) {
				return false
			}
			rep = 3 + int(r.bits&7)
			r.consume(3)
		default:
			if !r.need(7) {
				return false
			}
			rep = 11 + int(r.bits&127)
			r.consume(7)
		}
		if rep > len(lens)-i {
			r.err = errRepeat
			return false
		}
		for range rep {
			lens[i] = val
			i++
		}
	}
	if !buildTable(r.litTab[:], litRoot, lens[:nlit], litBase[:]) {
		r.err = errLitCode
		return false
	}
	if !buildTable(r.distTab[:], distRoot, lens[nlit:], distBase[:]) {
		r.err = errDistCode
		return false
	}
	return true
}

// endBlock moves on after a block.
func (r *Reader) endBlock() {
	if r.final {
		r.state = stDone
		r.err = io.EOF
	} else {
		r.state = stHeader
	}
}

// stored copies a stored block's data. It returns false to give output
// first.
func (r *Reader) stored() bool {
	for r.storedLeft > 0 {
		if r.wpos == ringSize {
			return false
		}
		if r.nbits >= 8 {
			// Bytes already in the bit buffer (nbits is a multiple of 8).
			r.win[r.wpos] = byte(r.bits)
			r.consume(8)
			r.wpos++
			r.storedLeft--
			continue
		}
		// The bit buffer is empty; what it may hold above are copies of
		// in[pos:], which are taken here directly.
		r.bits = 0
		if r.pos < len(r.in) {
			end := min(ringSize, r.wpos+r.storedLeft)
			n := copy(r.win[r.wpos:end], r.in[r.pos:])
			r.pos += n
			r.wpos += n
			r.storedLeft -= n
			continue
		}
		if r.starved(8) {
			return false
		}
		if !r.next() {
			if r.err == nil {
				r.err = io.ErrUnexpectedEOF
			}
			return false
		}
	}
	r.endBlock()
	return true
}

// copyMatch copies up to length bytes from dist back to the window at
// wpos, as far as the window's end, and returns how many it copied. The
// distance must be within the history.
func (r *Reader) copyMatch(dist, length int) int {
	win := r.win[:]
	w := r.wpos
	end := min(w+length, ringSize)
	src := w - dist
	if src < 0 {
		// From the ring's tail, then from its start.
		src += ringSize
		w += copy(win[w:end], win[src:])
		src = 0
	}
	for w < end {
		// win[src:w] repeats with period dist, and w-src is a multiple
		// of it: copying it on makes the overlapping copy.
		w += copy(win[w:end], win[src:w])
	}
	n := w - r.wpos
	r.wpos = w
	return n
}

// huff decodes a Huffman block. It returns false to give output first
// (or on an error), true at the block's end.
func (r *Reader) huff() bool {
	if r.copyLen > 0 {
		r.copyLen -= r.copyMatch(r.copyDist, r.copyLen)
		if r.copyLen > 0 {
			return false
		}
	}
	for {
		if r.pos+8 <= len(r.in) && r.wpos <= fastLimit {
			switch r.huffFast() {
			case fastEnd:
				return true
			case fastStop:
				return false
			}
		}
		// One symbol, carefully: near the end of the input's piece or
		// of the window.
		if r.wpos == ringSize || r.starved(48) {
			return false
		}
		if r.nbits < 48 {
			r.fill(48)
			if r.err != nil {
				return false
			}
		}
		e := r.lit[r.bits&litMask]
		if e&flagLink != 0 {
			e = r.lit[e>>16+uint32(r.bits>>litRoot)&(1<<(e>>4&15)-1)]
		}
		n := uint(e & 15)
		if e&flagValid == 0 {
			r.badEntry(e)
			return false
		}
		if e&flagLen == 0 {
			if n > r.nbits {
				r.err = io.ErrUnexpectedEOF
				return false
			}
			r.consume(n)
			if e&flagLit != 0 {
				r.win[r.wpos] = byte(e >> 16)
				r.wpos++
				continue
			}
			r.endBlock()
			return true
		}
		x := uint(e >> 4 & 15)
		if n+x > r.nbits {
			r.err = io.ErrUnexpectedEOF
			return false
		}
		r.consume(n)
		length := int(e>>16) + int(r.bits&(1<<x-1))
		r.consume(x)
		e = r.distT[r.bits&distMask]
		if e&flagLink != 0 {
			e = r.distT[e>>16+uint32(r.bits>>distRoot)&(1<<(e>>4&15)-1)]
		}
		n = uint(e & 15)
		if e&flagValid == 0 {
			r.badEntry(e)
			return false
		}
		x = uint(e >> 4 & 15)
		if n+x > r.nbits {
			r.err = io.ErrUnexpectedEOF
			return false
		}
		r.consume(n)
		dist := int(e>>16) + int(r.bits&(1<<x-1))
		r.consume(x)
		if !r.full && dist > r.wpos {
			r.err = errDistance
			return false
		}
		r.copyDist, r.copyLen = dist, length-r.copyMatch(dist, length)
		if r.copyLen > 0 {
			return false
		}
	}
}

// fastLimit is the last write position at which the fast loop starts a
// round: a match and its overshoot fit.
const fastLimit = ringSize - maxMatch - fastSlack

const (
	fastMore = iota // the fast loop cannot go on: try the careful path
	fastEnd         // the block ended
	fastStop        // an error
)

// huffFast decodes a Huffman block while at least 8 bytes of the current
// piece of input are left and a match fits in the window. Each round
// refills the bit buffer to at least 56 bits, enough for a length and a
// distance with their extra bits (15+5+15+13).
func (r *Reader) huffFast() int {
	bits, nbits := r.bits, r.nbits
	in, pos := r.in, r.pos
	wpos := r.wpos
	win := &r.win
	lit, distT := r.lit, r.distT
	full := r.full
	status := fastMore
	for pos+8 <= len(in) && wpos <= fastLimit {
		bits |= binary.LittleEndian.Uint64(in[pos:]) << (nbits & 63)
		pos += int((63 - nbits) >> 3)
		nbits |= 56

		e := lit[bits&litMask]
		if e&flagLink != 0 {
			e = lit[e>>16+uint32(bits>>litRoot)&(1<<(e>>4&15)-1)]
		}
		if e&flagLit != 0 {
			n := e & 15
			bits >>= n
			nbits -= uint(n)
			win[wpos] = byte(e >> 16)
			wpos++
			// A second literal without a refill: 41 bits are left,
			// and the fast loop's limit leaves room.
			e = lit[bits&litMask]
			if e&flagLink != 0 {
				e = lit[e>>16+uint32(bits>>litRoot)&(1<<(e>>4&15)-1)]
			}
			if e&flagLit == 0 {
				continue // decoded after the next refill
			}
			n = e & 15
			bits >>= n
			nbits -= uint(n)
			win[wpos] = byte(e >> 16)
			wpos++
			// And a third: 26 bits are left.
			e = lit[bits&litMask]
			if e&flagLink != 0 {
				e = lit[e>>16+uint32(bits>>litRoot)&(1<<(e>>4&15)-1)]
			}
			if e&flagLit == 0 {
				continue
			}
			n = e & 15
			bits >>= n
			nbits -= uint(n)
			win[wpos] = byte(e >> 16)
			wpos++
			continue
		}
		if e&flagLen == 0 {
			if e&flagEnd != 0 {
				n := e & 15
				bits >>= n
				nbits -= uint(n)
				status = fastEnd
			} else {
				r.err = errSymbol
				status = fastStop
			}
			break
		}
		n := e & 15
		bits >>= n
		x := e >> 4 & 15
		length := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nbits -= uint(n + x)

		e = distT[bits&distMask]
		if e&flagLink != 0 {
			e = distT[e>>16+uint32(bits>>distRoot)&(1<<(e>>4&15)-1)]
		}
		if e&flagLen == 0 {
			r.err = errSymbol
			status = fastStop
			break
		}
		n = e & 15
		bits >>= n
		x = e >> 4 & 15
		dist := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nbits -= uint(n + x)

		src := wpos - dist
		if src < 0 {
			if !full {
				r.err = errDistance
				status = fastStop
				break
			}
			r.wpos = wpos
			wpos += r.copyMatch(dist, length)
			continue
		}
		if dist >= 16 && length <= 16 {
			// Sixteen bytes, all from before the destination, up to 13
			// past the end (see fastSlack).
			a := binary.LittleEndian.Uint64(win[src:])
			b := binary.LittleEndian.Uint64(win[src+8:])
			binary.LittleEndian.PutUint64(win[wpos:], a)
			binary.LittleEndian.PutUint64(win[wpos+8:], b)
		} else if dist >= 8 && length <= 32 {
			// Eight bytes at a time, each from before its destination,
			// up to 7 past the end (see fastSlack).
			for k := 0; k < length; k += 8 {
				binary.LittleEndian.PutUint64(win[wpos+k:], binary.LittleEndian.Uint64(win[src+k:]))
			}
		} else if dist >= length {
			copy(win[wpos:wpos+length], win[src:src+length])
		} else {
			end := wpos + length
			w := wpos + copy(win[wpos:end], win[src:wpos])
			for w < end {
				w += copy(win[w:end], win[src:w])
			}
		}
		wpos += length
	}
	r.bits, r.nbits = bits, nbits
	r.pos = pos
	r.wpos = wpos
	if status == fastEnd {
		r.endBlock()
	}
	return status
}

// ReaderSource adapts an io.Reader to a Source: each piece is one Read
// into Buf (4 KiB, allocated on first use, if nil).
type ReaderSource struct {
	R   io.Reader
	Buf []byte
}

// Next reads the next piece.
func (s *ReaderSource) Next() ([]byte, error) {
	if s.Buf == nil {
		s.Buf = make([]byte, 4096)
	}
	n, err := s.R.Read(s.Buf)
	return s.Buf[:n], err
}
