package websocket

import (
	"encoding/binary"
	"unicode/utf8"
)

// utf8Validator checks that a stream of bytes, fed in pieces of any size, is
// valid UTF-8, and reports an invalid sequence as soon as its first wrong
// byte arrives (RFC 6455 section 8.1: fail fast on invalid text).
//
// The bulk of each piece goes to utf8.Valid; only a rune split across two
// pieces is handled here, carried in buf.
type utf8Validator struct {
	buf [utf8.UTFMax]byte
	n   int // bytes of an incomplete rune carried in buf
}

// runeLen returns the length of the UTF-8 sequence that lead starts, for a
// lead byte that utf8.FullRune found incomplete (0xC2..0xF4).
func runeLen(lead byte) int {
	switch {
	case lead < 0xE0:
		return 2
	case lead < 0xF0:
		return 3
	}
	return 4
}

// write validates p as the continuation of the stream. It returns false at
// the first byte that cannot be part of valid UTF-8.
func (v *utf8Validator) write(p []byte) bool {
	if v.n > 0 {
		total := runeLen(v.buf[0])
		take := min(total-v.n, len(p))
		copy(v.buf[v.n:], p[:take])
		v.n += take
		p = p[take:]
		if v.n < total {
			// Still incomplete: FullRune is true only if the bytes so
			// far are already invalid.
			return !utf8.FullRune(v.buf[:v.n])
		}
		if !utf8.Valid(v.buf[:v.n]) {
			return false
		}
		v.n = 0
	}
	// Find a rune cut short at the end of p: its lead byte is within the
	// last three bytes.
	end := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if p[i]&0xC0 != 0x80 { // not a continuation byte
			if !utf8.FullRune(p[i:]) {
				end = i
			}
			break
		}
	}
	if !utf8.Valid(p[asciiPrefix(p[:end]):end]) {
		return false
	}
	v.n = copy(v.buf[:], p[end:])
	return true
}

// done reports whether the stream ended on a rune boundary, and resets v.
func (v *utf8Validator) done() bool {
	ok := v.n == 0
	v.n = 0
	return ok
}

// asciiPrefix returns the length of p's leading run of ASCII, in whole
// blocks of 128 bytes: sixteen words tested with one branch, where
// utf8.Valid tests each word. What follows is left to utf8.Valid.
func asciiPrefix(p []byte) int {
	const hi = 0x8080808080808080
	i := 0
	for ; len(p)-i >= 128; i += 128 {
		w := p[i : i+128 : i+128]
		x := binary.LittleEndian.Uint64(w[0:]) | binary.LittleEndian.Uint64(w[8:]) |
			binary.LittleEndian.Uint64(w[16:]) | binary.LittleEndian.Uint64(w[24:]) |
			binary.LittleEndian.Uint64(w[32:]) | binary.LittleEndian.Uint64(w[40:]) |
			binary.LittleEndian.Uint64(w[48:]) | binary.LittleEndian.Uint64(w[56:])
		y := binary.LittleEndian.Uint64(w[64:]) | binary.LittleEndian.Uint64(w[72:]) |
			binary.LittleEndian.Uint64(w[80:]) | binary.LittleEndian.Uint64(w[88:]) |
			binary.LittleEndian.Uint64(w[96:]) | binary.LittleEndian.Uint64(w[104:]) |
			binary.LittleEndian.Uint64(w[112:]) | binary.LittleEndian.Uint64(w[120:])
		if (x|y)&hi != 0 {
			break
		}
	}
	return i
}
