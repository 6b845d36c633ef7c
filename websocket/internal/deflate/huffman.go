package deflate

import (
	"math/bits"
	"slices"
)

// An hcode is one Huffman code, its bits reversed so that they can be
// written LSB first.
type hcode struct {
	code uint16
	len  uint8
}

// huffScratch is the working memory of buildLengths, kept in the Writer
// so that building a code does not allocate.
type huffScratch struct {
	keys [numLitSyms]uint32 // frequency<<9 | symbol, sorted
	a    [numLitSyms]int32
}

// buildLengths sets lens[i] to the length of symbol i's code in a Huffman
// code for freq, no code longer than maxBits. An unused symbol gets 0.
// The code is always complete: with one symbol used (or none), two
// symbols get a 1-bit code each, which every decoder accepts.
func (s *huffScratch) buildLengths(freq []uint32, lens []uint8, maxBits int) {
	keys := s.keys[:0]
	for sym, f := range freq {
		lens[sym] = 0
		if f > 0 {
			keys = append(keys, min(f, 1<<23-1)<<9|uint32(sym))
		}
	}
	if len(keys) < 2 {
		lens[0], lens[1] = 1, 1
		if len(keys) == 1 && keys[0]&511 > 1 {
			lens[1], lens[keys[0]&511] = 0, 1
		}
		return
	}
	slices.Sort(keys)
	a := s.a[:len(keys)]
	for i, k := range keys {
		a[i] = int32(k >> 9)
	}
	minimumRedundancy(a)

	// a now holds lengths, longest first. Clamp them to maxBits and
	// restore the Kraft sum by lengthening the deepest codes shorter than
	// maxBits (as miniz does), then hand the lengths back out in order:
	// the least frequent symbols get the longest codes.
	var count [maxCodeBits + 1]int
	for _, l := range a {
		count[min(int(l), maxBits)]++
	}
	kraft := 0
	for l := 1; l <= maxBits; l++ {
		kraft += count[l] << (maxBits - l)
	}
	for ; kraft > 1<<maxBits; kraft-- {
		count[maxBits]--
		for l := maxBits - 1; l > 0; l-- {
			if count[l] > 0 {
				count[l]--
				count[l+1] += 2
				break
			}
		}
	}
	i := 0
	for l := maxBits; l > 0; l-- {
		for range count[l] {
			lens[keys[i]&511] = uint8(l)
			i++
		}
	}
}

// minimumRedundancy replaces the weights in a, sorted ascending, by the
// lengths of an optimal prefix code for them, in place and in linear time
// (Moffat and Katajainen, "In-Place Calculation of Minimum-Redundancy
// Codes", 1995). len(a) must be at least 2.
func minimumRedundancy(a []int32) {
	n := len(a)
	// Pass 1, left to right: combine the two lightest of the unused leaves
	// and internal nodes, leaving parent pointers behind.
	a[0] += a[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || a[root] < a[leaf] {
			a[next] = a[root]
			a[root] = int32(next)
			root++
		} else {
			a[next] = a[leaf]
			leaf++
		}
		if leaf >= n || (root < next && a[root] < a[leaf]) {
			a[next] += a[root]
			a[root] = int32(next)
			root++
		} else {
			a[next] += a[leaf]
			leaf++
		}
	}
	// Pass 2, right to left: internal node depths from parent pointers.
	a[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		a[next] = a[a[next]] + 1
	}
	// Pass 3, right to left: leaf depths.
	avail, used, depth := 1, 0, int32(0)
	root, next := n-2, n-1
	for avail > 0 {
		for root >= 0 && a[root] == depth {
			used++
			root--
		}
		for avail > used {
			a[next] = depth
			next--
			avail--
		}
		avail, used, depth = 2*used, 0, depth+1
	}
}

// canonicalCodes assigns the canonical codes of RFC 1951 section 3.2.2 to
// the lengths in lens. It leaves the codes of unused symbols as they were.
func canonicalCodes(lens []uint8, codes []hcode) {
	var count, next [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	code := uint16(0)
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	codes = codes[:len(lens)]
	for sym, l := range lens {
		if l != 0 {
			codes[sym] = hcode{code: bits.Reverse16(next[l]) >> (16 - l), len: l}
			next[l]++
		}
	}
}

// The fixed codes of RFC 1951 section 3.2.6.
var (
	fixedLitLens = func() (lens [numLitSyms]uint8) {
		for i := range lens {
			switch {
			case i < 144:
				lens[i] = 8
			case i < 256:
				lens[i] = 9
			case i < 280:
				lens[i] = 7
			default:
				lens[i] = 8
			}
		}
		return lens
	}()
	fixedLitCodes = func() (codes [numLitSyms]hcode) {
		// Symbols 286 and 287 take part in the fixed code but never occur.
		var lens [288]uint8
		copy(lens[:], fixedLitLens[:])
		lens[286], lens[287] = 8, 8
		var all [288]hcode
		canonicalCodes(lens[:], all[:])
		copy(codes[:], all[:])
		return codes
	}()
	fixedDistCodes = func() (codes [numDistSyms]hcode) {
		for i := range codes {
			codes[i] = hcode{code: bits.Reverse16(uint16(i)) >> 11, len: 5}
		}
		return codes
	}()
)
