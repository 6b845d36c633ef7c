package deflate

import "encoding/binary"

// clOrder is the order in which a dynamic header lists the lengths of the
// code-length code.
var clOrder = [numCLSyms]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// Block types, as the 3-bit block header writes them (BFINAL is never set:
// permessage-deflate streams do not end).
const (
	blockStored  = 0 << 1
	blockFixed   = 1 << 1
	blockDynamic = 2 << 1
)

const maxStoredLen = 65535

// A blockEncoder turns the tokens of one block into whichever of a
// stored, fixed-Huffman or dynamic-Huffman block is smallest.
type blockEncoder struct {
	litFreq  [numLitSyms]uint32
	distFreq [numDistSyms]uint32

	litLens   [numLitSyms]uint8
	distLens  [numDistSyms]uint8
	litCodes  [numLitSyms]hcode
	distCodes [numDistSyms]hcode

	// The dynamic header: code lengths run-length coded into rle
	// (symbol | extra bits<<8), and the code-length code.
	rle     [numLitSyms + numDistSyms]uint16
	nrle    int
	clFreq  [numCLSyms]uint32
	clLens  [numCLSyms]uint8
	clCodes [numCLSyms]hcode
	hlit    int
	hdist   int
	hclen   int

	scratch huffScratch
}

func (e *blockEncoder) clearFreqs() {
	e.litFreq = [numLitSyms]uint32{}
	e.distFreq = [numDistSyms]uint32{}
}

// writeBlock writes tokens, which encode raw, as one block (or several
// stored ones) to b, and clears the frequencies the tokens were counted
// in.
func (e *blockEncoder) writeBlock(b *bitWriter, tokens []token, raw []byte) {
	defer e.clearFreqs()
	e.litFreq[endOfBlock] = 1

	extra := 0
	for c, f := range e.litFreq[firstLength:] {
		extra += int(f) * int(lengthExtra[c])
	}
	for c, f := range e.distFreq {
		extra += int(f) * int(distExtra[c])
	}
	fixed := 3 + extra
	for sym, f := range e.litFreq {
		fixed += int(f) * int(fixedLitLens[sym])
	}
	nmatch := 0
	for _, f := range e.distFreq {
		nmatch += int(f)
	}
	fixed += 5 * nmatch

	dynamic := 3 + extra + e.buildDynamic()
	for sym, f := range e.litFreq {
		dynamic += int(f) * int(e.litLens[sym])
	}
	for sym, f := range e.distFreq {
		dynamic += int(f) * int(e.distLens[sym])
	}

	if stored := storedSize(b.nbits, len(raw)); stored <= min(fixed, dynamic) {
		writeStored(b, raw)
		return
	}
	if fixed <= dynamic {
		b.writeBits(blockFixed, 3)
		writeTokens(b, tokens, raw, &fixedLitCodes, &fixedDistCodes)
		return
	}
	b.writeBits(blockDynamic, 3)
	e.writeDynamicHeader(b)
	writeTokens(b, tokens, raw, &e.litCodes, &e.distCodes)
}

// storedSize is the size in bits of n bytes as stored blocks, written
// after nbits pending bits.
func storedSize(nbits uint, n int) int {
	blocks := max(1, (n+maxStoredLen-1)/maxStoredLen)
	pad := (8 - (int(nbits)+3)%8) % 8
	return 3 + pad + 32 + 40*(blocks-1) + 8*n
}

// writeStored writes raw as stored blocks of at most 64 KiB each (at least
// one, so an empty raw is a sync marker).
func writeStored(b *bitWriter, raw []byte) {
	for {
		n := min(len(raw), maxStoredLen)
		b.writeBits(blockStored, 3)
		b.align()
		b.writeBits(uint64(n)|uint64(^uint16(n))<<16, 32)
		b.writeBytes(raw[:n])
		raw = raw[n:]
		if len(raw) == 0 {
			return
		}
	}
}

// buildDynamic builds the dynamic codes for the counted frequencies and
// the header that describes them, and returns the header's size in bits
// (after the 3-bit block header).
func (e *blockEncoder) buildDynamic() int {
	e.scratch.buildLengths(e.litFreq[:], e.litLens[:], maxCodeBits)
	e.scratch.buildLengths(e.distFreq[:], e.distLens[:], maxCodeBits)
	e.hlit = numLitSyms
	for e.hlit > firstLength && e.litLens[e.hlit-1] == 0 {
		e.hlit--
	}
	e.hdist = numDistSyms
	for e.hdist > 1 && e.distLens[e.hdist-1] == 0 {
		e.hdist--
	}
	canonicalCodes(e.litLens[:e.hlit], e.litCodes[:])
	canonicalCodes(e.distLens[:e.hdist], e.distCodes[:])

	// Run-length code the two sets of lengths as one sequence, which RFC
	// 1951 allows runs to cross: 16 repeats the previous length 3..6
	// times, 17 and 18 repeat zero 3..10 and 11..138 times.
	var all [numLitSyms + numDistSyms]uint8
	n := copy(all[:], e.litLens[:e.hlit])
	n += copy(all[n:], e.distLens[:e.hdist])
	lens := all[:n]
	e.clFreq = [numCLSyms]uint32{}
	e.nrle = 0
	emit := func(sym, extra int) {
		e.rle[e.nrle] = uint16(sym | extra<<8)
		e.nrle++
		e.clFreq[sym]++
	}
	for i := 0; i < len(lens); {
		v := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, r-11)
				run -= r
			}
			if run >= 3 {
				emit(17, run-3)
				run = 0
			}
		} else {
			emit(int(v), 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, r-3)
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(int(v), 0)
		}
	}
	e.scratch.buildLengths(e.clFreq[:], e.clLens[:], maxCLCodeBits)
	canonicalCodes(e.clLens[:], e.clCodes[:])
	e.hclen = numCLSyms
	for e.hclen > 4 && e.clLens[clOrder[e.hclen-1]] == 0 {
		e.hclen--
	}

	size := 5 + 5 + 4 + 3*e.hclen
	for sym, f := range e.clFreq {
		size += int(f) * int(e.clLens[sym])
	}
	size += 2*int(e.clFreq[16]) + 3*int(e.clFreq[17]) + 7*int(e.clFreq[18])
	return size
}

func (e *blockEncoder) writeDynamicHeader(b *bitWriter) {
	b.writeBits(uint64(e.hlit-firstLength)|uint64(e.hdist-1)<<5|uint64(e.hclen-4)<<10, 14)
	for _, sym := range clOrder[:e.hclen] {
		b.writeBits(uint64(e.clLens[sym]), 3)
	}
	for _, r := range e.rle[:e.nrle] {
		sym := r & 255
		b.writeCode(e.clCodes[sym])
		switch sym {
		case 16:
			b.writeBits(uint64(r>>8), 2)
		case 17:
			b.writeBits(uint64(r>>8), 3)
		case 18:
			b.writeBits(uint64(r>>8), 7)
		}
	}
}

// writeTokens writes tokens, which encode raw, and an end of block with
// the given codes. It keeps the bit buffer in locals: this loop is where
// output time goes.
func writeTokens(b *bitWriter, tokens []token, raw []byte, lit *[numLitSyms]hcode, dist *[numDistSyms]hcode) {
	bits, nbits, n := b.bits, b.nbits, b.n
	i := 0 // raw[i:] is what the rest of tokens encodes
	for _, t := range tokens {
		if t < matchFlag {
			run := raw[i : i+int(t)]
			i += int(t)
			// Two literals of at most 15 bits each fit after nbits < 32.
			for len(run) >= 2 {
				c1, c2 := lit[run[0]], lit[run[1]]
				bits |= uint64(c1.code) << nbits
				nbits += uint(c1.len)
				bits |= uint64(c2.code) << nbits
				nbits += uint(c2.len)
				run = run[2:]
				if nbits >= 32 {
					binary.LittleEndian.PutUint32(b.out[n:], uint32(bits))
					n += 4
					bits >>= 32
					nbits -= 32
					if n >= outBufSize {
						b.n = n
						b.flush()
						n = 0
					}
				}
			}
			if len(run) == 0 {
				continue
			}
			c := lit[run[0]]
			bits |= uint64(c.code) << nbits
			nbits += uint(c.len)
		} else {
			l := uint8(t >> lenShift)
			i += int(l) + 3
			lc := lengthCode[l]
			c := lit[firstLength+int(lc)]
			bits |= uint64(c.code) << nbits
			nbits += uint(c.len)
			bits |= uint64(l-lengthBase[lc]) << nbits
			nbits += uint(lengthExtra[lc])
			if nbits >= 32 {
				binary.LittleEndian.PutUint32(b.out[n:], uint32(bits))
				n += 4
				bits >>= 32
				nbits -= 32
			}
			d := uint32(t & distMask)
			dc := distCode(d)
			c = dist[dc]
			bits |= uint64(c.code) << nbits
			nbits += uint(c.len)
			bits |= uint64(d-uint32(distBase[dc])) << nbits
			nbits += uint(distExtra[dc])
		}
		if nbits >= 32 {
			binary.LittleEndian.PutUint32(b.out[n:], uint32(bits))
			n += 4
			bits >>= 32
			nbits -= 32
		}
		if n >= outBufSize {
			b.n = n
			b.flush()
			n = 0
		}
	}
	b.bits, b.nbits, b.n = bits, nbits, n
	b.writeCode(lit[endOfBlock])
}
