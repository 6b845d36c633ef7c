package deflate

import (
	"fmt"
	"io"
)

// Compression levels, as in compress/flate.
const (
	NoCompression      = 0  // stored blocks only
	BestSpeed          = 1  // greedy matching, one hash table, skips incompressible data
	BestCompression    = 9  // lazy matching, long hash chains
	DefaultCompression = -1 // level 6
	HuffmanOnly        = -2 // Huffman-coded literals, no matches
)

// Window sizes allowed by RFC 7692, as the base-2 logarithm of the
// largest match distance.
const (
	MinWindowBits = 8
	MaxWindowBits = 15
)

const (
	// minBuf is the least size of buf, the window and the input after it:
	// windows of 8 KiB and less take the same buffer. It bounds the input
	// of a block (at 16 KiB less the window); doubling it gains about 1%
	// on small windows for 16 KiB more.
	minBuf = 16 << 10
	// rebaseAt is where stream positions, kept as int32, are brought back
	// to zero.
	rebaseAt = 1 << 30
)

// A Writer compresses to raw DEFLATE (RFC 1951) with match distances of at
// most 1<<windowBits, for permessage-deflate (RFC 7692). Its output never
// ends the stream: Flush leaves it byte-aligned after a sync marker.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	bw    bitWriter
	enc   blockEncoder
	level int

	// buf holds history, the window before pos that matches may refer to,
	// and input not yet turned into tokens, buf[pos:end]. The tokens of the
	// current block cover buf[blockStart:pos]. When buf is full, the block
	// is written and buf slides so that only history and pending input
	// stay.
	buf        []byte
	pos, end   int
	blockStart int
	tokens     []token
	maxTokens  int   // a block ends when it has this many tokens
	litRun     int   // literals at the end of the block not yet in tokens
	lastDist   int32 // distance of level 1's last match, 0 if none

	wsize int   // 1<<windowBits: the largest match distance
	keep  int   // history kept when buf slides: wsize, or 0 without matching
	base  int32 // stream position of buf[0]
	hist  int32 // stream position of the oldest byte matches may refer to

	// Hash tables of stream positions. Level 1 uses table alone, the most
	// recent position per hash; levels 2..9 use it as the head of hash
	// chains linked by prev, the distance from each position to the one
	// before it with the same hash (0 ends the chain).
	table  []int32
	shift  uint // hash4 shift for len(table)
	prev   []uint16
	params chainParams
}

// NewWriter returns a Writer that writes to dst at the given level (one of
// the constants above or 1..9) using a window of 1<<windowBits bytes,
// windowBits in MinWindowBits..MaxWindowBits.
func NewWriter(dst io.Writer, level, windowBits int) (*Writer, error) {
	if level == DefaultCompression {
		level = 6
	}
	if level < HuffmanOnly || level > BestCompression {
		return nil, fmt.Errorf("deflate: invalid compression level %d", level)
	}
	if windowBits < MinWindowBits || windowBits > MaxWindowBits {
		return nil, fmt.Errorf("deflate: invalid window bits %d", windowBits)
	}
	w := &Writer{level: level, wsize: 1 << windowBits}
	w.bw.reset(dst)
	var tableBits int
	switch {
	case level == BestSpeed:
		tableBits = min(windowBits+1, 14)
	case level > BestSpeed:
		tableBits = min(windowBits+1, 15)
		w.prev = make([]uint16, w.wsize)
		w.params = chainLevels[level]
	}
	if level > NoCompression {
		w.keep = w.wsize
		w.table = make([]int32, 1<<tableBits)
		w.shift = uint(32 - tableBits)
	}
	w.buf = make([]byte, max(2*w.keep, minBuf))
	if level != NoCompression {
		// A quarter of the input a block may cover: JSON and text take 5
		// to 12 bytes per token; denser input ends blocks early.
		w.maxTokens = (len(w.buf) - w.keep) / 4
		w.tokens = make([]token, 0, w.maxTokens+1)
	}
	return w, nil
}

// Write adds p to the stream. It buffers: compressed output appears each
// time the buffer fills (every 16 KiB or so of input, 32 KiB with the
// largest window), and all of it at Flush. How input is split into Writes
// does not change the output.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if w.bw.err != nil {
			return n, w.bw.err
		}
		if w.end == len(w.buf) {
			w.compress(false)
			w.slide()
		}
		c := copy(w.buf[w.end:], p)
		w.end += c
		n += c
		p = p[c:]
	}
	return n, w.bw.err
}

// Flush compresses and writes all pending input, then a sync marker (an
// empty stored block, the bytes 00 00 ff ff), which leaves the output
// byte-aligned without ending the stream. Later input may refer to what
// was written before.
func (w *Writer) Flush() error {
	if w.bw.err != nil {
		return w.bw.err
	}
	w.compress(true)
	writeStored(&w.bw, nil)
	w.bw.flush()
	return w.bw.err
}

// Reset discards pending input and output, clears any error and makes w
// write to dst as if new: the next input refers to nothing written before
// (what "no context takeover" asks for).
func (w *Writer) Reset(dst io.Writer) {
	w.bw.reset(dst)
	w.tokens, w.litRun, w.lastDist = w.tokens[:0], 0, 0
	w.enc.clearFreqs()
	// Forgetting is moving past the old positions: hash table entries
	// before hist no longer match, so the tables need no clearing.
	w.base += int32(w.end)
	w.hist = w.base
	w.pos, w.end, w.blockStart = 0, 0, 0
	if w.base >= rebaseAt {
		w.rebase()
	}
}

// ResetOutput makes w write to dst from now on and keeps its history
// (context takeover across messages that are written to different
// places). Call it after Flush: output of earlier input not yet flushed
// would go to dst. It keeps an earlier write error.
func (w *Writer) ResetOutput(dst io.Writer) {
	w.bw.w = dst
}

// compress turns pending input into tokens, writing a block each time
// maxTokens collect, and writes the last block. Unless flush is set, it
// leaves maxMatch bytes of input for later, so that no match is cut short
// by the end of what has arrived.
func (w *Writer) compress(flush bool) {
	stop := w.end
	if !flush {
		stop -= maxMatch
	}
	if w.level == NoCompression {
		w.pos = max(w.pos, stop)
	}
	for w.pos < stop {
		// A segment of n bytes starts fewer than n/4+1 matches, each with
		// at most one literal run before it: n/2+2 tokens.
		budget := w.maxTokens - len(w.tokens)
		if budget < 3 {
			w.writeBlock()
			continue
		}
		w.pos = w.tokenize(w.pos, min(stop, w.pos+2*(budget-2)))
	}
	w.writeBlock()
}

// tokenize turns buf[s:stop], and perhaps a match beyond it, into tokens,
// and returns the position after the last.
func (w *Writer) tokenize(s, stop int) int {
	switch {
	case w.level == BestSpeed:
		return w.tokenizeFast(s, stop)
	case w.level == HuffmanOnly:
		w.addLiterals(w.buf[s:stop])
		return stop
	case w.params.lazy:
		return w.tokenizeLazy(s, stop)
	default:
		return w.tokenizeGreedy(s, stop)
	}
}

func (w *Writer) addLiterals(p []byte) {
	freq := &w.enc.litFreq
	for _, b := range p {
		freq[b]++
	}
	w.litRun += len(p)
}

func (w *Writer) addLiteral(b byte) {
	w.enc.litFreq[b]++
	w.litRun++
}

func (w *Writer) addMatch(length int, dist int32) {
	if w.litRun > 0 {
		w.tokens = append(w.tokens, token(w.litRun))
		w.litRun = 0
	}
	w.tokens = append(w.tokens, matchToken(length, dist))
	w.enc.litFreq[firstLength+int(lengthCode[length-3])]++
	w.enc.distFreq[distCode(uint32(dist-1))]++
}

// writeBlock writes the tokens of buf[blockStart:pos], if any, as a block.
func (w *Writer) writeBlock() {
	raw := w.buf[w.blockStart:w.pos]
	w.blockStart = w.pos
	if len(raw) == 0 {
		return
	}
	if w.level == NoCompression {
		writeStored(&w.bw, raw)
		return
	}
	if w.litRun > 0 {
		w.tokens = append(w.tokens, token(w.litRun))
		w.litRun = 0
	}
	w.enc.writeBlock(&w.bw, w.tokens, raw)
	w.tokens = w.tokens[:0]
}

// slide writes the current block and moves the window and pending input
// to the front of buf.
func (w *Writer) slide() {
	w.writeBlock()
	shift := w.pos - w.keep
	if shift <= 0 {
		return
	}
	copy(w.buf, w.buf[shift:w.end])
	w.pos -= shift
	w.end -= shift
	w.blockStart = w.pos
	w.base += int32(shift)
	if w.base >= rebaseAt {
		w.rebase()
	}
}

// rebase brings stream positions back to zero before they overflow
// int32. Entries that fall below zero can no longer match. hist is never
// above base: Reset sets both, and only base moves on.
func (w *Writer) rebase() {
	d := w.base
	for i, p := range w.table {
		if p < d {
			w.table[i] = -1
		} else {
			w.table[i] = p - d
		}
	}
	w.base, w.hist = 0, 0
}
