package deflate

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzRoundTrip compresses input as two messages split at split, with a
// Flush after each, then the second message again after a Reset. Both
// streams must decode to the input with compress/flate and the test
// inflater, with no match distance beyond the window.
func FuzzRoundTrip(f *testing.F) {
	r := rand.New(rand.NewPCG(14, 14))
	rep := randBytes(r, 100)
	for _, seed := range []struct {
		data             []byte
		level, wb, split int
	}{
		{nil, 1, 15, 0},
		{[]byte("a"), 6, 8, 1},
		{[]byte("abcabcabcabcabcabc"), 1, 8, 5},
		{bytes.Repeat([]byte{0}, 1000), 2, 8, 500},
		{jsonMessages(r, 600), 9, 9, 300},
		{englishText(r, 700), 4, 8, 0},
		{randBytes(r, 300), 0, 8, 150},
		{randBytes(r, 300), -2, 10, 10},
		// Repeats at distances 255, 256 and 257 for a 256-byte window.
		{concat(rep, randBytes(r, 155), rep), 1, 8, 0},
		{concat(rep, randBytes(r, 156), rep), 6, 8, 0},
		{concat(rep, randBytes(r, 157), rep), 9, 8, 0},
	} {
		f.Add(seed.data, seed.level, seed.wb, seed.split)
	}
	f.Fuzz(func(t *testing.T, data []byte, level, wb, split int) {
		level = allLevels[uint(level)%uint(len(allLevels))]
		wb = MinWindowBits + int(uint(wb)%(MaxWindowBits-MinWindowBits+1))
		split = int(uint(split) % uint(len(data)+1))

		var buf bytes.Buffer
		w, err := NewWriter(&buf, level, wb)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data[:split])
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		w.Write(data[split:])
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		checkStream(t, buf.Bytes(), data, wb)

		buf.Reset()
		w.Reset(&buf)
		w.Write(data[split:])
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		checkStream(t, buf.Bytes(), data[split:], wb)
	})
}
