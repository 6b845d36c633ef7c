package deflate

import (
	"math/rand/v2"
	"testing"
)

// kraft returns the Kraft sum of lens scaled by 1<<maxBits, and the
// longest length.
func kraft(lens []uint8, maxBits int) (sum, longest int) {
	for _, l := range lens {
		if l > 0 {
			sum += 1 << (maxBits - int(l))
			longest = max(longest, int(l))
		}
	}
	return sum, longest
}

func TestBuildLengths(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 11))
	fib := func(n int) []uint32 {
		f := make([]uint32, n)
		a, b := uint32(1), uint32(1)
		for i := range f {
			f[i] = a
			a, b = b, min(a+b, 1<<22)
		}
		return f
	}
	tests := []struct {
		name    string
		freq    []uint32
		maxBits int
	}{
		{"none", make([]uint32, numDistSyms), maxCodeBits},
		{"one", []uint32{0, 0, 5, 0}, maxCodeBits},
		{"one at zero", []uint32{5, 0, 0}, maxCodeBits},
		{"two", []uint32{0, 3, 0, 9}, maxCodeBits},
		{"equal", []uint32{1, 1, 1, 1, 1, 1, 1, 1}, maxCodeBits},
		{"fibonacci 286", fib(numLitSyms), maxCodeBits},
		{"fibonacci 30", fib(numDistSyms), maxCodeBits},
		{"fibonacci 19", fib(numCLSyms), maxCLCodeBits},
	}
	for i := range 200 {
		n := []int{numLitSyms, numDistSyms, numCLSyms}[i%3]
		f := make([]uint32, n)
		for j := range f {
			if r.IntN(3) > 0 {
				f[j] = uint32(r.ExpFloat64() * float64(int(1)<<r.IntN(14)))
			}
		}
		maxBits := maxCodeBits
		if n == numCLSyms {
			maxBits = maxCLCodeBits
		}
		tests = append(tests, struct {
			name    string
			freq    []uint32
			maxBits int
		}{"random", f, maxBits})
	}
	var s huffScratch
	for _, tc := range tests {
		lens := make([]uint8, len(tc.freq))
		s.buildLengths(tc.freq, lens, tc.maxBits)
		sum, longest := kraft(lens, tc.maxBits)
		if sum != 1<<tc.maxBits {
			t.Errorf("%s: Kraft sum %d/%d: code not complete", tc.name, sum, 1<<tc.maxBits)
		}
		if longest > tc.maxBits {
			t.Errorf("%s: code of %d bits, limit %d", tc.name, longest, tc.maxBits)
		}
		used := 0
		for sym, f := range tc.freq {
			if f > 0 {
				used++
				if lens[sym] == 0 {
					t.Errorf("%s: symbol %d used but has no code", tc.name, sym)
				}
			}
		}
		// Where the optimal code fits the limit, the code is optimal;
		// where it does not, it cannot beat it.
		if used >= 2 {
			opt, depth := huffmanCost(tc.freq)
			got := 0
			for sym, f := range tc.freq {
				got += int(f) * int(lens[sym])
			}
			if got < opt || depth <= tc.maxBits && got != opt {
				t.Errorf("%s: cost %d, optimum %d with depth %d", tc.name, got, opt, depth)
			}
		}
		var codes [numLitSyms]hcode
		canonicalCodes(lens, codes[:len(lens)])
		if _, err := newHuffDecoder(lens); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// huffmanCost returns the cost of an optimal prefix code for freq, the
// sum of all merged weights, and its depth, computed the slow way.
func huffmanCost(freq []uint32) (cost, depth int) {
	type node struct{ w, depth int }
	var nodes []node
	for _, f := range freq {
		if f > 0 {
			nodes = append(nodes, node{int(f), 0})
		}
	}
	for len(nodes) > 1 {
		// Take the two lightest, the shallower first on ties.
		for k := range 2 {
			m := k
			for i := k; i < len(nodes); i++ {
				if nodes[i].w < nodes[m].w || nodes[i].w == nodes[m].w && nodes[i].depth < nodes[m].depth {
					m = i
				}
			}
			nodes[k], nodes[m] = nodes[m], nodes[k]
		}
		merged := node{nodes[0].w + nodes[1].w, max(nodes[0].depth, nodes[1].depth) + 1}
		cost += merged.w
		nodes = append(nodes[2:], merged)
	}
	return cost, nodes[0].depth
}

// TestFixedCodes checks the fixed code against RFC 1951's table.
func TestFixedCodes(t *testing.T) {
	t.Parallel()
	rev := func(c hcode) uint16 {
		var v uint16
		for i := range c.len {
			v = v<<1 | c.code>>i&1
		}
		return v
	}
	for _, tc := range []struct {
		sym  int
		code uint16
		len  uint8
	}{{0, 0x30, 8}, {143, 0xbf, 8}, {144, 0x190, 9}, {255, 0x1ff, 9}, {256, 0, 7}, {279, 0x17, 7}, {280, 0xc0, 8}, {285, 0xc5, 8}} {
		c := fixedLitCodes[tc.sym]
		if c.len != tc.len || rev(c) != tc.code {
			t.Errorf("fixed code of %d: %b/%d, want %b/%d", tc.sym, rev(c), c.len, tc.code, tc.len)
		}
	}
}

// TestCodeTables checks the length and distance code tables at their
// edges.
func TestCodeTables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ length, code int }{{3, 0}, {10, 7}, {11, 8}, {12, 8}, {13, 9}, {227, 27}, {257, 27}, {258, 28}} {
		if got := int(lengthCode[tc.length-3]); got != tc.code {
			t.Errorf("length %d: code %d, want %d", tc.length, got, tc.code)
		}
	}
	for _, tc := range []struct{ dist, code int }{{1, 0}, {4, 3}, {5, 4}, {6, 4}, {7, 5}, {256, 15}, {257, 16}, {384, 16}, {385, 17}, {24576, 28}, {24577, 29}, {32768, 29}} {
		if got := int(distCode(uint32(tc.dist - 1))); got != tc.code {
			t.Errorf("distance %d: code %d, want %d", tc.dist, got, tc.code)
		}
	}
	// Every distance falls inside its code's range.
	for d := range uint32(32768) {
		c := distCode(d)
		if d < uint32(distBase[c]) || d >= uint32(distBase[c])+1<<distExtra[c] {
			t.Fatalf("distance %d: code %d covers %d..", d+1, c, distBase[c]+1)
		}
	}
}

// TestStoredSplit checks stored blocks longer than one can hold, and that
// storedSize predicts their size.
func TestStoredSplit(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(12, 12))
	for _, n := range []int{0, 1, maxStoredLen - 1, maxStoredLen, maxStoredLen + 1, 3*maxStoredLen + 5} {
		for _, pending := range []uint{0, 1, 5, 7} {
			var b bitWriter
			var out countWriter
			b.reset(&out)
			b.writeBits(0, pending)
			raw := randBytes(r, n)
			writeStored(&b, raw)
			b.align()
			b.flush()
			if got, want := int(out)*8, int(pending)+storedSize(pending, n); got != want {
				t.Errorf("%d bytes after %d bits: %d bits, storedSize says %d", n, pending, got, want)
			}
		}
	}
}
