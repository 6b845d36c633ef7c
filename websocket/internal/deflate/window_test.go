package deflate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestWindowLimit repeats a random block at distances just below, at and
// just above the window, for every window size and level. Every match must
// lie within the window. The searching levels must find the repeat when
// it is within reach; the fast level usually does (its table forgets).
func TestWindowLimit(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	for wb := MinWindowBits; wb <= MaxWindowBits; wb++ {
		win := 1 << wb
		block := min(win/2, 2000)
		for _, dist := range []int{win - 1, win, win + 1} {
			// The data is drawn here, not in the parallel subtest: r is
			// not safe for concurrent use.
			rep := randBytes(r, block)
			data := concat(rep, randBytes(r, dist-block), rep)
			t.Run(fmt.Sprintf("window %d distance %d", win, dist), func(t *testing.T) {
				t.Parallel()
				for _, level := range allLevels {
					c := compressAll(t, level, wb, data)
					res := checkStream(t, c, data, wb)
					reach := dist <= win && level >= 2
					if reach && res.maxDist != dist {
						t.Errorf("level %d: longest match distance %d, want %d", level, res.maxDist, dist)
					}
					if level == 1 && dist <= win {
						t.Logf("level 1: %d bytes, longest distance %d", len(c), res.maxDist)
					}
				}
			})
		}
	}
}

// TestWindowPeriod compresses random data that repeats with a period just
// above, at and below the window. A period above the window leaves
// nothing to match (the Huffman code still gains a little on a short
// period's lopsided byte counts); at or below it, everything after the
// first period matches, though level 1, which skips through the first
// period without indexing all of it, takes a period more to catch on.
func TestWindowPeriod(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(10, 10))
	for wb := MinWindowBits; wb <= MaxWindowBits; wb++ {
		win := 1 << wb
		for _, period := range []int{win - 1, win, win + 1} {
			data := bytes.Repeat(randBytes(r, period), max(4, 200000/period))
			for _, level := range []int{1, 2, 4, 9} {
				c := compressAll(t, level, wb, data)
				checkStream(t, c, data, wb)
				limit := period + len(data)/20
				if level == 1 {
					limit += period
				}
				if period > win && len(c) < len(data)*3/4 || period <= win && len(c) > limit {
					t.Errorf("window %d period %d level %d: %d bytes from %d", win, period, level, len(c), len(data))
				}
			}
		}
	}
}
