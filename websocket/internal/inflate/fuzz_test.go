package inflate

import (
	"bytes"
	"compress/flate"
	"math/rand/v2"
	"testing"
)

// fuzzDict is the dictionary the fuzz target may use, in part.
var fuzzDict = func() []byte {
	rng := rand.New(rand.NewPCG(21, 22))
	return append(text(rng, 20000), randBytes(rng, 20000)...)
}()

// FuzzInflate decodes arbitrary input with compress/flate and with
// Reader, given in pieces of random sizes, and wants the same outcome:
// the same output when both succeed, both failing otherwise (with the
// output of each a prefix of the other's).
func FuzzInflate(f *testing.F) {
	rng := rand.New(rand.NewPCG(23, 24))
	inputs := [][]byte{
		{}, []byte("a"), text(rng, 300), jsonText(rng, 5000), randBytes(rng, 500),
		repetitive(rng, 3000), longMatches(rng, 40000),
	}
	for i, in := range inputs {
		for level := -2; level <= 9; level++ {
			f.Add(compress(in, nil, level), uint64(i), uint16(0))
			if level == 1 || level == 9 {
				f.Add(compress(in, fuzzDict[20000-len(in)%20000:], level), uint64(i), uint16(len(in)%20000))
			}
		}
	}
	// Hand-made blocks: stored, fixed, and dynamic with odd codes.
	var w bitWriter
	w.bits(0, 1)
	w.bits(0, 2)
	w.align()
	w.bits(5, 16)
	w.bits(^uint64(5)&0xffff, 16)
	for _, c := range []byte("hello") {
		w.bits(uint64(c), 8)
	}
	w.bits(1, 1)
	w.bits(1, 2)
	fixedLitCode(&w, 'x')
	fixedLitCode(&w, 258)
	w.code(2, 5)
	fixedLitCode(&w, 256)
	f.Add(w.bytes(), uint64(1), uint16(0))
	w = bitWriter{}
	good := make([]uint8, 258)
	for i := range 256 {
		good[i] = 9
	}
	good[256], good[257] = 2, 2
	dynamicHeader(&w, true, clFlat, good, []uint8{1})
	w.code(1, 2)
	w.code(0, 1)
	w.code(0, 2)
	f.Add(w.bytes(), uint64(2), uint16(3))
	f.Add([]byte{0x07}, uint64(3), uint16(0))
	// Data after the final block, as after a permessage-deflate message
	// that sets BFINAL.
	f.Add(append(compress(inputs[3], nil, 1), "\x00\x00\xff\xff"...), uint64(4), uint16(0))
	f.Add(append(compress(inputs[2], nil, 0), "\x00\x00\xff\xff"...), uint64(5), uint16(0))

	f.Fuzz(func(t *testing.T, in []byte, seed uint64, dictLen uint16) {
		var dict []byte
		if dictLen > 0 {
			dict = fuzzDict[:int(dictLen)%len(fuzzDict)]
		}
		const limit = 4 << 20
		br := bytes.NewReader(in)
		want, wantErr := readAll(flate.NewReaderDict(br, dict), nil, limit)
		chunk := []int{0, 1, 3, 16, 4096}[seed%5]
		src := newChunkSource(in, chunk, seed)
		r := NewReader(src, dict)
		got, err := readAll(r, rand.New(rand.NewPCG(seed, 7)), limit)
		if len(want) == limit || len(got) == limit {
			n := min(len(want), len(got))
			if !bytes.Equal(want[:n], got[:n]) {
				t.Fatalf("outputs differ within the limit")
			}
			return
		}
		if (wantErr == nil) != (err == nil) {
			t.Fatalf("compress/flate: %d bytes, %v; Reader: %d bytes, %v", len(want), wantErr, len(got), err)
		}
		if wantErr == nil {
			if !bytes.Equal(want, got) {
				t.Fatalf("outputs differ: %d and %d bytes", len(want), len(got))
			}
			// compress/flate reads no byte past the final block.
			if left := br.Len(); r.Buffered()+len(src.data) != left {
				t.Fatalf("%d bytes left after the final block, Buffered() %d + %d not given", left, r.Buffered(), len(src.data))
			}
			return
		}
		n := min(len(want), len(got))
		if !bytes.Equal(want[:n], got[:n]) {
			t.Fatalf("outputs before the error differ (%v; %v)", wantErr, err)
		}
	})
}
