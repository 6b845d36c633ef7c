package deflate

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestAllocs checks that compressing messages does not allocate once a
// Writer exists, with and without context takeover.
func TestAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	// The last is longer than any Writer's buffer, so that it slides.
	msgs := [][]byte{jsonMessages(r, 1000), englishText(r, 20000), randBytes(r, 5000), jsonMessages(r, 70000)}
	for _, level := range allLevels {
		for _, wb := range []int{8, 15} {
			w, _ := NewWriter(io.Discard, level, wb)
			i := 0
			takeover := testing.AllocsPerRun(20, func() {
				w.Write(msgs[i%len(msgs)])
				w.Flush()
				i++
			})
			reset := testing.AllocsPerRun(20, func() {
				w.Reset(io.Discard)
				w.Write(msgs[i%len(msgs)])
				w.Flush()
				i++
			})
			if takeover != 0 || reset != 0 {
				t.Errorf("level %d window bits %d: %v allocations per message, %v with Reset", level, wb, takeover, reset)
			}
		}
	}
}

// writerSize measures what NewWriter allocates, the least of a few tries
// in case something else allocates meanwhile.
func writerSize(level, wb int) uint64 {
	least := uint64(1 << 62)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, _ := NewWriter(io.Discard, level, wb)
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(w)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestWriterSize logs the memory of a Writer by level and window, the
// figures in the package documentation, and checks that they stay there.
func TestWriterSize(t *testing.T) {
	limits := map[int]map[int]uint64{ // level class, window bits: KiB
		NoCompression: {8: 32, 15: 32},
		HuffmanOnly:   {8: 48, 15: 48},
		BestSpeed:     {8: 48, 9: 48, 15: 180},
		6:             {8: 48, 9: 48, 15: 310},
	}
	for _, level := range []int{NoCompression, HuffmanOnly, BestSpeed, 6} {
		line := fmt.Sprintf("level %2d:", level)
		for wb := MinWindowBits; wb <= MaxWindowBits; wb++ {
			size := writerSize(level, wb)
			line += fmt.Sprintf(" %d:%dK", wb, (size+1023)/1024)
			if lim, ok := limits[level][wb]; ok && size > lim<<10 {
				t.Errorf("level %d window bits %d: Writer takes %d bytes, more than %d KiB", level, wb, size, lim)
			}
		}
		t.Log(line)
	}
}
