package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"testing"
)

type benchCase struct {
	name  string
	data  []byte
	comp  []byte
	level int
}

var benchCases = func() []benchCase {
	rng := rand.New(rand.NewPCG(31, 32))
	big := jsonText(rng, 1<<20)
	small := jsonText(rng, 16<<10)
	txt := text(rng, 1<<20)
	return []benchCase{
		{"json1M-L1", big, compress(big, nil, 1), 1},
		{"json16K-L1", small, compress(small, nil, 1), 1},
		{"json1M-L6", big, compress(big, nil, 6), 6},
		{"text1M-L1", txt, compress(txt, nil, 1), 1},
	}
}()

// BenchmarkInflate decodes with Reader, the input given in 4 KiB pieces as
// the WebSocket reader would.
func BenchmarkInflate(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			r := new(Reader)
			src := &sliceSource{}
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				*src = sliceSource{bc.comp, 4096}
				r.Reset(src, nil)
				drain(b, r, buf, len(bc.data))
			}
		})
	}
}

// BenchmarkStdlib decodes with compress/flate from a bytes.Reader (an
// io.ByteReader, read a byte at a time).
func BenchmarkStdlib(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			br := bytes.NewReader(bc.comp)
			fr := flate.NewReader(br)
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				br.Reset(bc.comp)
				fr.(flate.Resetter).Reset(br, nil)
				drain(b, fr, buf, len(bc.data))
			}
		})
	}
}

// drain reads r to its end through buf and fails b unless it gave want
// bytes.
func drain(b *testing.B, r io.Reader, buf []byte, want int) {
	n := 0
	for {
		m, err := r.Read(buf)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != want {
		b.Fatalf("%d bytes, want %d", n, want)
	}
}
