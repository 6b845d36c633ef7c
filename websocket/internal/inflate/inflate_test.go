package inflate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// bitWriter writes a DEFLATE bit stream, for hand-made inputs.
type bitWriter struct {
	b     []byte
	acc   uint64
	nbits uint
}

// bits writes the low n bits of v, least significant first.
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nbits
	w.nbits += n
	for w.nbits >= 8 {
		w.b = append(w.b, byte(w.acc))
		w.acc >>= 8
		w.nbits -= 8
	}
}

// code writes a Huffman code of n bits, most significant first.
func (w *bitWriter) code(c uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.bits(c>>uint(i)&1, 1)
	}
}

func (w *bitWriter) align() {
	if w.nbits > 0 {
		w.bits(0, 8-w.nbits)
	}
}

func (w *bitWriter) bytes() []byte {
	w.align()
	return w.b
}

// canonical returns the canonical codes for lengths (RFC 1951 3.2.2).
func canonical(lengths []uint8) []uint64 {
	var count [16]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [16]uint64
	code := uint64(0)
	for l := 1; l < 16; l++ {
		code = (code + uint64(count[l-1])) << 1
		next[l] = code
	}
	codes := make([]uint64, len(lengths))
	for s, l := range lengths {
		if l != 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// Fixed code symbols.
func fixedLitCode(w *bitWriter, s int) {
	switch {
	case s < 144:
		w.code(uint64(0x30+s), 8)
	case s < 256:
		w.code(uint64(0x190+s-144), 9)
	case s < 280:
		w.code(uint64(s-256), 7)
	default:
		w.code(uint64(0xc0+s-280), 8)
	}
}

// dynamicHeader writes a dynamic block header with the given code length
// code lengths (19, in symbol order) and literal/length and distance code
// lengths, sent as plain lengths with no repeats.
func dynamicHeader(w *bitWriter, final bool, cl []uint8, lit, dist []uint8) {
	w.bits(b2u(final), 1)
	w.bits(2, 2)
	w.bits(uint64(len(lit)-257), 5)
	w.bits(uint64(len(dist)-1), 5)
	w.bits(19-4, 4)
	for _, s := range clOrder {
		w.bits(uint64(cl[s]), 3)
	}
	codes := canonical(cl)
	for _, l := range append(append([]uint8{}, lit...), dist...) {
		w.code(codes[l], uint(cl[l]))
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// clFlat is a code length code giving 0-15 four bits each.
var clFlat = func() []uint8 {
	cl := make([]uint8, 19)
	for i := range 16 {
		cl[i] = 4
	}
	return cl
}()

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 7, 100, 257, 1000, 4095, 4096, 16 << 10, 32767, 32768, 32769, 65536 + 13, 200000, 1 << 20}
	if testing.Short() {
		sizes = sizes[:12]
	}
	gens := map[string]func(*rand.Rand, int) []byte{
		"random": randBytes, "text": text, "json": jsonText, "repetitive": repetitive, "long": longMatches,
	}
	levels := []int{-2, 0, 1, 6, 9}
	dict := text(rng, 40000)
	for name, gen := range gens {
		for _, size := range sizes {
			data := gen(rng, size)
			for _, level := range levels {
				if size >= 1<<20 && level != 1 && level != 9 {
					continue
				}
				for _, d := range [][]byte{nil, dict[:100], dict} {
					comp := compress(data, d, level)
					for _, chunk := range []int{0, 1, 7, 4096} {
						if size >= 200000 && chunk == 1 {
							continue
						}
						seed := rng.Uint64()
						got, err := ourInflate(comp, d, chunk, seed, 1<<30)
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%s size %d level %d dict %d chunk %d seed %d: err %v, got %d bytes, equal %v",
								name, size, level, len(d), chunk, seed, err, len(got), bytes.Equal(got, data))
						}
					}
				}
			}
		}
	}
}

// TestDictionaryDistances has matches reaching 32768 back into the
// dictionary.
func TestDictionaryDistances(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dict := randBytes(rng, 32768)
	for _, off := range []int{0, 1, 2, 100, 32768 - 258, 32768 - 3} {
		data := append([]byte{}, dict[off:]...)
		data = append(data, dict[:1000]...)
		data = append(data, randBytes(rng, 10)...)
		for _, level := range []int{1, 5, 9} {
			comp := compress(data, dict, level)
			for _, chunk := range []int{0, 3, 4096} {
				got, err := ourInflate(comp, dict, chunk, uint64(off), 1<<30)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("off %d level %d chunk %d: err %v, equal %v", off, level, chunk, err, bytes.Equal(got, data))
				}
			}
		}
	}

	// By hand: a match of 258 at distance 32768, the whole dictionary
	// then the output, with a longer dictionary, whose start is dropped.
	long := append(randBytes(rng, 5000), dict...)
	var w bitWriter
	w.bits(1, 1)
	w.bits(1, 2)
	for range 200 { // 200*258 bytes: the ring wraps
		fixedLitCode(&w, 285)
		w.code(29, 5)
		w.bits(8191, 13) // distance 24577+8191 = 32768
	}
	fixedLitCode(&w, 256)
	comp := w.bytes()
	var want []byte
	hist := append([]byte{}, dict...)
	for range 200 * 258 {
		c := hist[len(hist)-32768]
		want = append(want, c)
		hist = append(hist, c)
	}
	for _, chunk := range []int{0, 1, 5, 64} {
		got, err := ourInflate(comp, long, chunk, 9, 1<<30)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: err %v, equal %v", chunk, err, bytes.Equal(got, want))
		}
		std, err := stdInflate(comp, long, 1<<30)
		if err != nil || !bytes.Equal(std, want) {
			t.Fatalf("compress/flate disagrees: %v", err)
		}
	}
}

func TestStored(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// Stored blocks after Huffman blocks, not on byte boundaries.
	var w bitWriter
	var want []byte
	w.bits(0, 1)
	w.bits(1, 2)
	for i := range 20 {
		n := rng.IntN(3000)
		if i%5 == 0 {
			n = 65535
		}
		data := randBytes(rng, n)
		fixedLitCode(&w, int(data[0]))
		fixedLitCode(&w, 256)
		want = append(want, data[0])
		w.bits(b2u(i == 19), 1)
		w.bits(0, 2)
		w.align()
		w.bits(uint64(n), 16)
		w.bits(uint64(^uint16(n)), 16)
		for _, c := range data {
			w.bits(uint64(c), 8)
		}
		want = append(want, data...)
		w.bits(0, 1)
		w.bits(1, 2)
	}
	comp := w.bytes()
	for _, chunk := range []int{0, 1, 9, 4096} {
		got, err := ourInflate(comp, nil, chunk, 1, 1<<30)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: err %v, equal %v", chunk, err, bytes.Equal(got, want))
		}
	}
}

// TestSyncFlush decodes as permessage-deflate does: data flushed with
// sync flushes and a final empty stored block, and checks what is left.
func TestSyncFlush(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := jsonText(rng, 5000)
	comp := compress(data, nil, 1)
	comp = append(comp, "\x00\x00\xff\xff"...)
	r := NewReader(&sliceSource{comp, 4096}, nil)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v", err)
	}
	if n := r.Buffered(); n != 4 {
		t.Errorf("Buffered() = %d after the final block, want 4", n)
	}
}

func TestResetKeepHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var msgs [][]byte
	for i := range 30 {
		msgs = append(msgs, jsonText(rng, 1+rng.IntN(1<<(i%17))))
	}
	var hist []byte
	r := new(Reader)
	for i, m := range msgs {
		comp := compress(m, hist, 6)
		src := newChunkSource(comp, 100, uint64(i))
		if i == 0 {
			r.Reset(src, nil)
		} else {
			r.ResetKeepHistory(src)
		}
		got, err := readAll(r, rng, 1<<30)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("message %d: err %v, equal %v", i, err, bytes.Equal(got, m))
		}
		hist = append(hist, m...)
		if len(hist) > 32768 {
			hist = hist[len(hist)-32768:]
		}
	}
}

func TestTruncated(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	dict := text(rng, 1000)
	for _, data := range [][]byte{jsonText(rng, 3000), randBytes(rng, 300), repetitive(rng, 2000), {}} {
		for _, level := range []int{0, 1, 9, -2} {
			comp := compress(data, dict, level)
			for n := range len(comp) {
				for _, chunk := range []int{0, 2} {
					_, err := ourInflate(comp[:n], dict, chunk, uint64(n), 1<<30)
					if err != io.ErrUnexpectedEOF {
						t.Fatalf("level %d: %d of %d bytes, chunk %d: err %v, want io.ErrUnexpectedEOF", level, n, len(comp), chunk, err)
					}
				}
			}
		}
	}
}

func TestCorrupt(t *testing.T) {
	type test struct {
		name string
		in   []byte
		dict []byte
		ok   bool // valid after all
	}
	var tests []test
	add := func(name string, dict []byte, ok bool, f func(w *bitWriter)) {
		var w bitWriter
		f(&w)
		tests = append(tests, test{name, w.bytes(), dict, ok})
	}
	add("block type 3", nil, false, func(w *bitWriter) { w.bits(1, 1); w.bits(3, 2) })
	add("stored length", nil, false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(0, 2)
		w.align()
		w.bits(5, 16)
		w.bits(5, 16)
	})
	add("literal 286", nil, false, func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); fixedLitCode(w, 286); fixedLitCode(w, 256) })
	add("distance code 30", nil, false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(1, 2)
		fixedLitCode(w, 'a')
		fixedLitCode(w, 257)
		w.code(30, 5)
		fixedLitCode(w, 256)
	})
	tooFar := func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(1, 2)
		fixedLitCode(w, 'a')
		fixedLitCode(w, 257)
		w.code(1, 5) // distance 2
		fixedLitCode(w, 256)
	}
	add("distance too far", nil, false, tooFar)
	add("distance into dictionary", []byte("x"), true, tooFar)
	add("distance 32768 with 32767 before", make([]byte, 32767), false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(1, 2)
		fixedLitCode(w, 257)
		w.code(29, 5)
		w.bits(8191, 13)
		fixedLitCode(w, 256)
	})
	add("too many literal codes", nil, false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(30, 5)
		w.bits(0, 5)
		w.bits(15, 4)
		for range 19 {
			w.bits(4, 3)
		}
	})
	add("too many distance codes", nil, false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5)
		w.bits(30, 5)
		w.bits(15, 4)
	})
	add("over-subscribed code length code", nil, false, func(w *bitWriter) {
		cl := make([]uint8, 19)
		for i := range cl {
			cl[i] = 1
		}
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5)
		w.bits(0, 5)
		w.bits(15, 4)
		for range 19 {
			w.bits(1, 3)
		}
		w.bits(0, 32)
	})
	add("incomplete code length code", nil, false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5)
		w.bits(0, 5)
		w.bits(0, 4)
		w.bits(0, 3) // 16
		w.bits(0, 3) // 17
		w.bits(2, 3) // 18
		w.bits(2, 3) // 0
		w.bits(0, 32)
	})
	lit := make([]uint8, 257)
	for i := range lit {
		lit[i] = 9 // 257 of 512: incomplete
	}
	add("incomplete literal code", nil, false, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, lit, []uint8{1})
		w.bits(0, 32)
	})
	over := append([]uint8{}, lit...)
	for i := range 256 {
		over[i] = 8 // 256/256 + 1/512: over-subscribed
	}
	add("over-subscribed literal code", nil, false, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, over, []uint8{1})
		w.bits(0, 32)
	})
	// A complete literal code: 254 of 8 bits, 4 of 9 bits... simpler:
	// 256 codes of 9 bits and 1 of 1 bit: 256/512 + 1/2.
	good := make([]uint8, 258)
	for i := range 256 {
		good[i] = 9
	}
	good[256] = 1 // end of block: code 0
	good[257] = 0
	add("incomplete distance code", nil, false, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, good[:257], []uint8{2, 2, 2})
		w.bits(0, 1)
	})
	add("single one-bit distance code", nil, true, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, good[:257], []uint8{1})
		w.bits(0, 1)
	})
	add("no distance code", nil, true, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, good[:257], []uint8{0})
		w.bits(0, 1)
	})
	good2 := append([]uint8{}, good...)
	good2[256], good2[257] = 2, 2 // end of block 00, length 3 01
	add("use of an empty distance code", nil, false, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, good2, []uint8{0})
		w.code(1, 2)
		w.bits(0, 16)
	})
	add("missing one-bit distance code", []byte("abc"), false, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, good2, []uint8{1})
		w.code(1, 2)
		w.code(1, 1) // the code 1 has no symbol
		w.code(0, 2)
	})
	add("present one-bit distance code", []byte("abc"), true, func(w *bitWriter) {
		dynamicHeader(w, true, clFlat, good2, []uint8{1})
		w.code(1, 2)
		w.code(0, 1)
		w.code(0, 2)
	})
	add("repeat with no previous length", nil, false, func(w *bitWriter) {
		cl := make([]uint8, 19)
		cl[16], cl[0], cl[1] = 1, 2, 2
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5)
		w.bits(0, 5)
		w.bits(15, 4)
		for _, s := range clOrder {
			w.bits(uint64(cl[s]), 3)
		}
		codes := canonical(cl)
		w.code(codes[16], 1)
		w.bits(0, 2)
		w.bits(0, 32)
	})
	add("repeat past the end", nil, false, func(w *bitWriter) {
		cl := make([]uint8, 19)
		cl[18], cl[0], cl[1] = 1, 2, 2
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5) // 257
		w.bits(0, 5) // 1
		w.bits(15, 4)
		for _, s := range clOrder {
			w.bits(uint64(cl[s]), 3)
		}
		codes := canonical(cl)
		w.code(codes[18], 1)
		w.bits(127, 7) // 138 zeros
		w.code(codes[18], 1)
		w.bits(120, 7) // 131 zeros: 269 > 258
	})

	for _, tc := range tests {
		std, stdErr := stdInflate(tc.in, tc.dict, 1<<20)
		if (stdErr == nil) != tc.ok {
			t.Errorf("%s: compress/flate: %v (test is wrong?)", tc.name, stdErr)
		}
		for _, chunk := range []int{0, 1} {
			got, err := ourInflate(tc.in, tc.dict, chunk, 1, 1<<20)
			if tc.ok {
				if err != nil || !bytes.Equal(got, std) {
					t.Errorf("%s: chunk %d: err %v, output %q, compress/flate gives %q", tc.name, chunk, err, got, std)
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: chunk %d: err %v, want ErrCorrupt (compress/flate: %v)", tc.name, chunk, err, stdErr)
			}
		}
	}
}

// TestErrors checks that errors stick, and the source's errors come
// through.
func TestErrors(t *testing.T) {
	var r Reader
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Error("Read on a zero Reader did not fail")
	}
	boom := errors.New("boom")
	data := compress(text(rand.New(rand.NewPCG(1, 1)), 100000), nil, 1)
	r.Reset(&errSource{data[:1000], boom}, nil)
	_, err := io.ReadAll(&r)
	if err != boom {
		t.Errorf("err %v, want the source's", err)
	}
	if _, err := r.Read(make([]byte, 10)); err != boom {
		t.Errorf("err %v after an error", err)
	}
	r.Reset(&errSource{data, nil}, nil)
	if _, err := io.ReadAll(&r); err != nil {
		t.Errorf("after Reset: %v", err)
	}
}

// errSource gives data with err.
type errSource struct {
	data []byte
	err  error
}

func (s *errSource) Next() ([]byte, error) {
	if s.err == nil {
		if len(s.data) == 0 {
			return nil, io.EOF
		}
		b := s.data
		s.data = nil
		return b, nil
	}
	b := s.data
	s.data = nil
	return b, s.err
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted differently under the race detector")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	dict := text(rng, 32768)
	var comps [][]byte
	for _, size := range []int{10, 5000, 100000} {
		for _, level := range []int{0, 1, 9} {
			comps = append(comps, compress(jsonText(rng, size), dict, level))
		}
	}
	r := NewReader(&sliceSource{}, dict)
	src := &sliceSource{}
	buf := make([]byte, 4096)
	i := 0
	allocs := testing.AllocsPerRun(50, func() {
		*src = sliceSource{comps[i%len(comps)], 4096}
		i++
		r.Reset(src, dict)
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message, want 0", allocs)
	}
}

func ExampleReader() {
	comp := compress([]byte("hello, hello, hello"), nil, 9)
	r := NewReader(&sliceSource{comp, 4096}, nil)
	out, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", out, err)
	// Output: hello, hello, hello <nil>
}

func TestReaderSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	data := jsonText(rng, 100000)
	comp := compress(data, nil, 1)
	// iotest.OneByteReader-like reads, and (n, io.EOF) at the end.
	r := NewReader(&ReaderSource{R: &eofReader{comp, 3}, Buf: make([]byte, 100)}, nil)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, equal %v", err, bytes.Equal(got, data))
	}
}

// eofReader reads n bytes at a time and returns io.EOF with the last.
type eofReader struct {
	b []byte
	n int
}

func (r *eofReader) Read(p []byte) (int, error) {
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	if len(r.b) == 0 {
		return n, io.EOF
	}
	return n, nil
}
