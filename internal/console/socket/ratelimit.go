package socket

import "time"

// bucket is a token bucket: it holds up to burst tokens, gains rate tokens a
// second, and a message takes one. It is used by one goroutine.
type bucket struct {
	rate   float64 // tokens a second; negative: no limit
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow takes a token at time now, and reports whether there was one.
func (b *bucket) allow(now time.Time) bool {
	if b.rate < 0 {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
