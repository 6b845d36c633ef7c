package websocket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
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

// maskImpl is an implementation of mask.
type maskImpl struct {
	name string
	fn   func(key uint32, pos int, b []byte) int
}

// maskImpls are mask, maskGeneric and the implementations of the target
// that this CPU can run (archMaskImpls).
func maskImpls() []maskImpl {
	return append([]maskImpl{{"mask", mask}, {"generic", maskGeneric}}, archMaskImpls()...)
}

func TestMaskMatchesReference(t *testing.T) {
	t.Parallel()
	for _, impl := range maskImpls() {
		for _, key := range maskTestKeys {
			t.Run(fmt.Sprintf("%s/key=%x", impl.name, key), func(t *testing.T) {
				t.Parallel()
				for n := 0; n <= 300; n++ {
					for pos := range 4 {
						// Mask slices at every offset from a 64-byte
						// boundary, so that every way of aligning is
						// done, between guard bytes that must not change.
						for off := range 64 {
							want := maskInput(n)
							wantPos := maskRef(key, pos, want)
							got, g := maskAligned(off, n)
							gotPos := impl.fn(keyWord(key), pos, got)
							if !bytes.Equal(got, want) || gotPos != wantPos {
								t.Fatalf("len %d pos %d offset %d: mask = % x, %d; want % x, %d", n, pos, off, got, gotPos, want, wantPos)
							}
							g.check(t)
						}
					}
				}
			})
		}
	}
}

const maskGuard = 0xa5

// guarded is a slice with maskGuard bytes on either side.
type guarded struct {
	buf        []byte
	start, end int
}

// maskAligned returns maskInput(n) in a slice that starts off bytes past a
// 64-byte boundary, with 64 or more maskGuard bytes on either side.
func maskAligned(off, n int) ([]byte, guarded) {
	buf := make([]byte, n+off+256)
	for i := range buf {
		buf[i] = maskGuard
	}
	start := 128 - int(uintptr(unsafe.Pointer(&buf[0]))&63) + off
	b := buf[start : start+n : start+n]
	copy(b, maskInput(n))
	return b, guarded{buf, start, start + n}
}

// check checks that the guard bytes did not change.
func (g guarded) check(t *testing.T) {
	t.Helper()
	for i, c := range g.buf {
		if (i < g.start || i >= g.end) && c != maskGuard {
			t.Fatalf("byte %d outside the slice [%d:%d] changed to %#x", i, g.start, g.end, c)
		}
	}
}

// TestMaskRandom masks random slices of up to 70 KiB at random offsets,
// with random keys, in random pieces, against the reference.
func TestMaskRandom(t *testing.T) {
	t.Parallel()
	for _, impl := range maskImpls() {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(7, uint64(len(impl.name))))
			iters := 300
			if testing.Short() {
				iters = 50
			}
			for range iters {
				var key [4]byte
				binary.LittleEndian.PutUint32(key[:], r.Uint32())
				n := r.IntN(70 << 10)
				if r.IntN(2) == 0 {
					n = r.IntN(1 << 10)
				}
				off := r.IntN(64)
				pos := r.IntN(4)
				want := maskInput(n)
				for i := range want {
					want[i] ^= byte(r.Uint32())
				}
				got, g := maskAligned(off, n)
				copy(got, want)
				wantPos := maskRef(key, pos, want)
				gotPos := pos
				for done := 0; done < n; {
					k := n - done
					if r.IntN(3) == 0 {
						k = min(k, r.IntN(300))
					}
					gotPos = impl.fn(keyWord(key), gotPos, got[done:done+k])
					done += k
				}
				if n == 0 {
					gotPos = impl.fn(keyWord(key), gotPos, got)
				}
				if gotPos != wantPos || !bytes.Equal(got, want) {
					t.Fatalf("len %d offset %d pos %d key % x: wrong result", n, off, pos, key)
				}
				g.check(t)
			}
		})
	}
}

func TestMaskInPieces(t *testing.T) {
	t.Parallel()
	const n = 1000
	key := keyWord(maskTestKeys[0])
	want := maskInput(n)
	maskRef(maskTestKeys[0], 0, want)
	pieceSizes := [][]int{
		{1}, {3}, {7}, {8}, {63}, {64}, {65}, {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233},
		{0, 5, 0, 128}, {n},
	}
	for _, impl := range maskImpls() {
		for _, sizes := range pieceSizes {
			t.Run(fmt.Sprint(impl.name, sizes), func(t *testing.T) {
				got := maskInput(n)
				pos := 0
				for i, off := 0, 0; off < n; i++ {
					k := min(sizes[i%len(sizes)], n-off)
					pos = impl.fn(key, pos, got[off:off+k])
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

// BenchmarkMaskImpl runs each implementation on slices aligned to 64 bytes
// and 3 bytes off, as a payload after a frame header in a buffer is.
func BenchmarkMaskImpl(b *testing.B) {
	key := keyWord(maskTestKeys[0])
	for _, impl := range maskImpls()[1:] {
		for _, s := range maskBenchSizes {
			for _, off := range []int{0, 3} {
				b.Run(fmt.Sprintf("%s/%s/off=%d", impl.name, s.name, off), func(b *testing.B) {
					buf, _ := maskAligned(off, s.n)
					b.SetBytes(int64(s.n))
					for b.Loop() {
						impl.fn(key, 0, buf)
					}
				})
			}
		}
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
