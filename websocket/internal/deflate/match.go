package deflate

import (
	"encoding/binary"
	"math/bits"
)

const hashMul = 0x1e35a7bd // Snappy's multiplier; spreads 4 bytes well

// hash4 hashes the 4 bytes in u to a value below 1<<(32-shift).
func hash4(u uint32, shift uint) uint32 {
	return (u * hashMul) >> shift
}

func load32(b []byte, i int) uint32 {
	return binary.LittleEndian.Uint32(b[i : i+4])
}

// matchLen returns the length of the common prefix of a and b, at most
// len(b); a must be at least as long as b.
func matchLen(a, b []byte) int {
	a = a[:len(b)]
	n := 0
	for len(b) >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		a, b, n = a[8:], b[8:], n+8
	}
	for i := range b {
		if a[i] != b[i] {
			break
		}
		n++
	}
	return n
}
