package load

import (
	"math/bits"
	"time"
)

// Hist is a latency histogram with buckets about 3 % wide (32 per power
// of two), from 1 ns to over an hour. Recording does not allocate.
type Hist struct {
	counts [64 * subBuckets]uint64
	n      uint64
}

const subBits = 5
const subBuckets = 1 << subBits

func bucket(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exp := bits.Len64(ns) - subBits - 1 // ns>>exp has subBits+1 bits
	return (exp+1)*subBuckets + int(ns>>exp) - subBuckets
}

// lower is the smallest value in bucket i.
func lower(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << exp
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
}

// Merge adds o's observations to h.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count is the number of observations.
func (h *Hist) Count() uint64 { return h.n }

// Quantile returns the value below which a fraction q of observations
// fall, as the middle of its bucket.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			lo, hi := lower(i), lower(i+1)
			return time.Duration((lo + hi) / 2)
		}
	}
	return 0
}
