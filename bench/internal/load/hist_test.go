package load

import (
	"testing"
	"time"
)

func TestHistQuantile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{time.Millisecond}, 0.99, time.Millisecond},
		{"small exact", []time.Duration{3, 5, 7}, 0.5, 5},
		{"median of spread", []time.Duration{time.Microsecond, time.Millisecond, time.Second}, 0.5, time.Millisecond},
		{"p99 is the tail", append(make([]time.Duration, 98), time.Second, time.Second), 0.99, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Hist
			for _, v := range tc.values {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			// Buckets are 1/32 of a power of two wide.
			if d := got - tc.want; d < -tc.want/32 || d > tc.want/32 {
				t.Errorf("Quantile(%v) = %v, want %v within 3%%", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistBuckets(t *testing.T) {
	for ns := uint64(0); ns < 1<<20; ns = ns*17/16 + 1 {
		i := bucket(ns)
		if lo, hi := lower(i), lower(i+1); ns < lo || ns >= hi {
			t.Fatalf("%d ns in bucket %d = [%d, %d)", ns, i, lo, hi)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		p := Payload(n)
		f := Frame(p, false)
		// Unmask what the server would see.
		hdr := len(f) - n
		got := make([]byte, n)
		for i := range got {
			got[i] = f[hdr+i] ^ maskKey[i&3]
		}
		if string(got) != string(p) {
			t.Fatalf("size %d: payload does not unmask to itself", n)
		}
		inflated, err := Inflate(Deflate(p))
		if err != nil || string(inflated) != string(p) {
			t.Fatalf("size %d: Deflate/Inflate round trip: %v", n, err)
		}
	}
}
