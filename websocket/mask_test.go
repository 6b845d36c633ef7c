package websocket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// maskRef is mask as RFC 6455 section 5.3 states it, a byte at a time:
// byte i is XORed with byte (pos+i) mod 4 of the key, whose bytes are in
// wire order.
func maskRef(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
	return (pos + len(b)) % 4
}

// maskTestKeys are keys with distinct bytes, so a byte taken from the
// wrong position shows.
var maskTestKeys = [][4]byte{rawKey, {0x01, 0x02, 0x04, 0x08}, {0xff, 0x00, 0xaa, 0x55}}

func keyWord(k [4]byte) uint32 { return binary.LittleEndian.Uint32(k[:]) }

func maskInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	return b
}

func TestMaskMatchesReference(t *testing.T) {
	t.Parallel()
	for _, key := range maskTestKeys {
		t.Run(fmt.Sprintf("key=%x", key), func(t *testing.T) {
			for n := 0; n <= 300; n++ {
				for pos := range 4 {
					want := maskInput(n)
					wantPos := maskRef(key, pos, want)
					// Mask a slice that does not start at the beginning of
					// its array, so alignment is not assumed either.
					buf := maskInput(n + 3)
					got := buf[3:]
					copy(got, maskInput(n))
					gotPos := mask(keyWord(key), pos, got)
					if !bytes.Equal(got, want) || gotPos != wantPos {
						t.Fatalf("len %d pos %d: mask = % x, %d; want % x, %d", n, pos, got, gotPos, want, wantPos)
					}
				}
			}
		})
	}
}

func TestMaskInPieces(t *testing.T) {
	t.Parallel()
	const n = 1000
	key := keyWord(maskTestKeys[0])
	want := maskInput(n)
	mask(key, 0, want)
	pieceSizes := [][]int{
		{1}, {3}, {7}, {8}, {63}, {64}, {65}, {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233},
		{0, 5, 0, 128}, {n},
	}
	for _, sizes := range pieceSizes {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			got := maskInput(n)
			pos := 0
			for i, off := 0, 0; off < n; i++ {
				k := min(sizes[i%len(sizes)], n-off)
				pos = mask(key, pos, got[off:off+k])
				off += k
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("masking in pieces of %v differs from masking whole", sizes)
			}
			if pos != n%4 {
				t.Fatalf("final position %d, want %d", pos, n%4)
			}
		})
	}
}

func TestMaskTwiceIsIdentity(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 7, 8, 9, 64, 65, 4096 + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := maskInput(n)
			key := keyWord(maskTestKeys[2])
			mask(key, 1, b)
			if n >= 4 && bytes.Equal(b, maskInput(n)) {
				t.Fatal("mask left the bytes as they were")
			}
			mask(key, 1, b)
			if !bytes.Equal(b, maskInput(n)) {
				t.Fatal("masking twice did not restore the bytes")
			}
		})
	}
}

var maskBenchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}}

func BenchmarkMask(b *testing.B) {
	key := keyWord(maskTestKeys[0])
	for _, s := range maskBenchSizes {
		b.Run(s.name, func(b *testing.B) {
			buf := maskInput(s.n)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				mask(key, 0, buf)
			}
		})
	}
}

// BenchmarkCopy is the memory bandwidth mask is measured against.
func BenchmarkCopy(b *testing.B) {
	for _, s := range maskBenchSizes {
		b.Run(s.name, func(b *testing.B) {
			src := maskInput(s.n)
			dst := make([]byte, s.n)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}
