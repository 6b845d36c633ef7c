package deflate

import (
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkWriteBlock measures what a block costs beyond finding matches:
// counting, building codes, choosing the block type and writing it, for a
// 1 KiB JSON message, where it is most of the work.
func BenchmarkWriteBlock(b *testing.B) {
	data := jsonMessages(rand.New(rand.NewPCG(3, 3)), 1024)
	w, _ := NewWriter(io.Discard, BestSpeed, 15)
	w.Write(data)
	w.pos = w.tokenize(0, w.end)
	w.tokens = append(w.tokens, token(w.litRun))
	tokens := w.tokens
	lit, dist := w.enc.litFreq, w.enc.distFreq
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		w.enc.litFreq, w.enc.distFreq = lit, dist
		w.enc.writeBlock(&w.bw, tokens, data)
	}
}
