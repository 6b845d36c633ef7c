package inflate

import "math/bits"

// Decoding tables.
//
// DEFLATE sends a Huffman code's bits starting with its most significant
// bit (RFC 1951 section 3.1.1), into a stream read from the least
// significant bit of each byte up. A code of length n is therefore the
// low n bits of the bit buffer, reversed. A table is indexed by the low
// root bits of the bit buffer: every index whose low n bits are a code's
// reversed bits holds that code's entry. Codes longer than root bits go
// through a link entry to a subtable indexed by the bits after the first
// root, sized for the longest code under that prefix.
//
// An entry is a uint32:
//
//	bits  0-3   code length in bits (for an invalid entry: the bits that
//	            show it is invalid; 0 for an empty code)
//	bits  4-7   extra bits after the code (lengths and distances), or a
//	            link's subtable index bits
//	bits  8-11  kind: flagLit, flagLen, flagEnd, flagLink; none is invalid
//	bits 16-31  value: literal byte, length or distance base, code length
//	            symbol, or a link's subtable offset
const (
	flagLit  = 1 << 8  // a literal byte, or a code length code's symbol
	flagLen  = 1 << 9  // a length (literal/length table) or distance (distance table)
	flagEnd  = 1 << 10 // end of block
	flagLink = 1 << 11 // link to a subtable

	flagValid = flagLit | flagLen | flagEnd
)

const (
	maxCodeLen = 15

	litRoot  = 10
	litMask  = 1<<litRoot - 1
	distRoot = 8
	distMask = 1<<distRoot - 1
	clRoot   = 7 // code length codes are at most 7 bits: no subtables
	clMask   = 1<<clRoot - 1

	// Subtable space. A subtable of 2^m entries (m bits past the root) is
	// only made for a prefix under which the code has a leaf at depth m
	// and so, being complete, at least m+1 leaves: at most 2^m/(m+1)
	// entries per symbol. With 288 literal/length symbols and m <= 5 that
	// is at most 288*32/6 = 1536 entries; with 32 distance symbols and
	// m <= 7, 32*128/8 = 512.
	litTabSize  = 1<<litRoot + 1536
	distTabSize = 1<<distRoot + 512
	clTabSize   = 1 << clRoot

	numLitLen = 288 // symbols in the fixed literal/length code
	numDist   = 32  // symbols in the fixed distance code
	numCL     = 19  // code length code symbols

	maxLit  = 286 // most literal/length code lengths in a dynamic header
	maxDist = 30  // most distance code lengths in a dynamic header
)

// Entries without their code lengths, by symbol.
var (
	litBase  [numLitLen]uint32
	distBase [numDist]uint32
	clBase   [numCL]uint32
)

// The fixed Huffman codes (RFC 1951 section 3.2.6).
var (
	fixedLit  [litTabSize]uint32
	fixedDist [distTabSize]uint32
)

func init() {
	for s := range 256 {
		litBase[s] = uint32(s)<<16 | flagLit
	}
	litBase[256] = flagEnd
	// Lengths (section 3.2.5): codes 257-264 are 3-10; then groups of four
	// codes with 1 to 5 extra bits; 285 is 258. 286 and 287 stay invalid.
	for i := range 28 {
		base, extra := i+3, 0
		if i >= 8 {
			extra = (i - 4) / 4
			base = (4|i&3)<<extra + 3
		}
		litBase[257+i] = uint32(base)<<16 | uint32(extra)<<4 | flagLen
	}
	litBase[285] = 258<<16 | flagLen
	// Distances: codes 0-3 are 1-4; then pairs with 1 to 13 extra bits.
	// 30 and 31 stay invalid.
	for c := range 30 {
		base, extra := c+1, 0
		if c >= 4 {
			extra = (c - 2) / 2
			base = (2|c&1)<<extra + 1
		}
		distBase[c] = uint32(base)<<16 | uint32(extra)<<4 | flagLen
	}
	for s := range numCL {
		clBase[s] = uint32(s)<<16 | flagLit
	}

	var lens [numLitLen]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	if !buildTable(fixedLit[:], litRoot, lens[:], litBase[:]) {
		panic("inflate: fixed literal/length code")
	}
	for s := range numDist {
		lens[s] = 5
	}
	if !buildTable(fixedDist[:], distRoot, lens[:numDist], distBase[:]) {
		panic("inflate: fixed distance code")
	}
}

// buildTable fills t, of 1<<root entries and room for subtables, for the
// canonical Huffman code with the given code lengths (section 3.2.2), each
// symbol's entry being base[symbol] with its code length. It reports
// whether the lengths make a valid code: complete, or (as zlib and
// compress/flate accept) a single code of one bit, or no code at all,
// the last two leaving invalid entries for the bit patterns without a
// symbol.
func buildTable(t []uint32, root uint, lengths []uint8, base []uint32) bool {
	var count [maxCodeLen + 1]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	left, total := 1, 0
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false // over-subscribed
		}
		total += count[l]
	}
	rootSize := 1 << root
	if left > 0 {
		switch {
		case total == 0:
			clear(t[:rootSize])
			return true
		case total == 1 && count[1] == 1:
			// The pattern 1 is invalid after one bit.
			for i := range t[:rootSize] {
				t[i] = 1
			}
		default:
			return false // incomplete
		}
	}

	var next [maxCodeLen + 1]int
	code := 0
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}

	var rev [numLitLen]uint16
	var subMax [1 << litRoot]uint8
	long := false
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		r := int(bits.Reverse16(uint16(c)) >> (16 - l))
		rev[s] = uint16(r)
		if uint(l) <= root {
			e := base[s] | uint32(l)
			for i := r; i < rootSize; i += 1 << l {
				t[i] = e
			}
			continue
		}
		long = true
		p := r & (rootSize - 1)
		subMax[p] = max(subMax[p], l)
	}
	if !long {
		return true
	}
	off := rootSize
	for p := range rootSize {
		if subMax[p] == 0 {
			continue
		}
		m := uint(subMax[p]) - root
		if off+1<<m > len(t) {
			return false // cannot happen, by the bound on subtable space
		}
		t[p] = uint32(off)<<16 | uint32(m)<<4 | flagLink
		off += 1 << m
	}
	for s, l := range lengths {
		if uint(l) <= root {
			continue
		}
		r := int(rev[s])
		link := t[r&(rootSize-1)]
		o, m := int(link>>16), uint(link>>4&15)
		e := base[s] | uint32(l)
		step := 1 << (uint(l) - root)
		for i := r >> root; i < 1<<m; i += step {
			t[o+i] = e
		}
	}
	return true
}
