package deflate

import (
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// Benchmark corpora: 4 MiB each, cut into messages in order, so that
// messages with context takeover resemble a real stream rather than one
// message repeated.
var corpora = sync.OnceValue(func() map[string][]byte {
	r := rand.New(rand.NewPCG(7, 7))
	const n = 4 << 20
	return map[string][]byte{
		"json":   jsonMessages(r, n),
		"text":   englishText(r, n),
		"random": randBytes(r, n),
	}
})

// countWriter counts what is written to it and drops it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// messageCompressor is what the benchmarks drive: either a Writer or a
// compress/flate Writer.
type messageCompressor interface {
	Write([]byte) (int, error)
	Flush() error
}

// BenchmarkCompress compresses messages of a corpus one after another as
// permessage-deflate does: Flush after each, and for no context takeover
// ("reset") a Reset before each. It reports throughput of input and
// "ratio", input size over output size (higher is better). "flate" is
// compress/flate at the same level, whose window is always 32 KiB;
// "w15" and "w9" are this package with windowBits 15 and 9.
func BenchmarkCompress(b *testing.B) {
	for _, corpus := range []string{"json", "text", "random"} {
		for _, size := range []int{1 << 10, 16 << 10, 1 << 20} {
			for _, level := range []int{1, 6} {
				for _, mode := range []string{"takeover", "reset"} {
					prefix := fmt.Sprintf("%s/%s/L%d/%s", corpus, sizeName(size), level, mode)
					b.Run(prefix+"/flate", func(b *testing.B) {
						var out countWriter
						fw, _ := flate.NewWriter(&out, level)
						benchMessages(b, corpus, size, mode, fw, func() { fw.Reset(&out) }, &out)
					})
					for _, wb := range []int{15, 9} {
						b.Run(fmt.Sprintf("%s/w%d", prefix, wb), func(b *testing.B) {
							var out countWriter
							w, _ := NewWriter(&out, level, wb)
							benchMessages(b, corpus, size, mode, w, func() { w.Reset(&out) }, &out)
						})
					}
				}
			}
		}
	}
}

func benchMessages(b *testing.B, corpus string, size int, mode string, w messageCompressor, reset func(), out *countWriter) {
	data := corpora()[corpus]
	b.SetBytes(int64(size))
	b.ReportAllocs()
	off, in := 0, int64(0)
	*out = 0
	b.ResetTimer()
	for b.Loop() {
		if off+size > len(data) {
			off = 0
		}
		if mode == "reset" {
			reset()
		}
		if _, err := w.Write(data[off : off+size]); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		off += size
		in += int64(size)
	}
	b.ReportMetric(float64(in)/float64(*out), "ratio")
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
