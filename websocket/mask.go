package websocket

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b with the masking key (RFC 6455 section 5.3), starting pos bytes
// into the key, and returns the position after b, so a payload can be
// masked in pieces.
//
// The key is the four key bytes as a little-endian word: byte i of b is
// XORed with byte (pos+i)%4 of the key.
//
// mask is maskGeneric (mask_generic.go), or on amd64 vector code in
// assembly (mask_amd64.go, mask_amd64.s) unless built with the purego tag.

// maskGeneric is mask in Go, for every target. The bulk is done 64 bytes at
// a time with 8-byte loads and stores, which the compiler keeps in
// registers.
func maskGeneric(key uint32, pos int, b []byte) int {
	// Rotate the key so that its first byte lines up with b[0].
	key = bits.RotateLeft32(key, -8*(pos&3))
	n := len(b)
	// Bytes up to the first 8-byte boundary of the slice are done one by one
	// only when the slice is short; unaligned 8-byte access is cheap on the
	// targets we care about, so the word loop starts at b[0].
	if n >= 8 {
		k := uint64(key) | uint64(key)<<32
		i := 0
		for ; n-i >= 64; i += 64 {
			w := b[i : i+64 : i+64]
			binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k)
			binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k)
			binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k)
			binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k)
			binary.LittleEndian.PutUint64(w[32:], binary.LittleEndian.Uint64(w[32:])^k)
			binary.LittleEndian.PutUint64(w[40:], binary.LittleEndian.Uint64(w[40:])^k)
			binary.LittleEndian.PutUint64(w[48:], binary.LittleEndian.Uint64(w[48:])^k)
			binary.LittleEndian.PutUint64(w[56:], binary.LittleEndian.Uint64(w[56:])^k)
		}
		for ; n-i >= 8; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
		}
		b = b[i:]
	}
	for i := range b {
		b[i] ^= byte(key >> (8 * (i & 3)))
	}
	return (pos + n) & 3
}
