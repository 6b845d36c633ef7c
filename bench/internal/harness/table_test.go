package harness

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"skips missing", []float64{nan, 5, nan}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	if !math.IsNaN(median([]float64{nan})) {
		t.Error("median of nothing is not NaN")
	}
}

// TestRatio checks the ratio is the median of per-round ratios, pairing
// each round with wsdeck's same round and skipping rounds either missed.
func TestRatio(t *testing.T) {
	tb := newTable("t", []string{"wsdeck", "peer"}, 4, metric{name: "m"})
	for r, v := range []float64{100, 200, 50, 100} {
		tb.set("wsdeck", r, "m", v)
	}
	for r, v := range []float64{110, 180, 60} { // round 4 failed
		tb.set("peer", r, "m", v)
	}
	// Ratios 1.1, 0.9, 1.2: median 1.1.
	if got := tb.ratio("peer", "m"); math.Abs(got-1.1) > 1e-9 {
		t.Errorf("ratio = %v, want 1.1", got)
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkMask/1KiB-2     	30980001	        37.16 ns/op	27555.05 MB/s	       0 B/op	       0 allocs/op
BenchmarkFrameHeader/encode/125-2         	599293022	         2.014 ns/op	       0 B/op	       0 allocs/op
BenchmarkCompressed/takeover=true/1KiB-2  	  347911	      4238 ns/op	 241.60 MB/s	         9.787 ratio	       0 B/op	       0 allocs/op
PASS
`
	rs := parseBench(out)
	if len(rs) != 3 {
		t.Fatalf("parsed %d results, want 3: %+v", len(rs), rs)
	}
	if r := rs[0]; r.name != "Mask/1KiB" || r.nsPerOp != 37.16 || r.mbPerSec != 27555.05 || !r.hasMem {
		t.Errorf("first result = %+v", r)
	}
	if r := rs[1]; r.name != "FrameHeader/encode/125" || r.hasMBs {
		t.Errorf("second result = %+v", r)
	}
	if r := rs[2]; r.mbPerSec != 241.60 || r.allocsPerOp != 0 || !r.hasMem {
		t.Errorf("third result = %+v", r)
	}
}

// TestHeadroom checks the floors' table: msgs/s as A ÷ B, CPU per message
// as B ÷ A, each the median of per-round ratios.
func TestHeadroom(t *testing.T) {
	servers := []string{"wsdeck", "gorilla", "floor"}
	tb := newTable("Echo, compression off: 16 KiB", servers, 1, echoMetrics...)
	for s, v := range map[string][2]float64{"wsdeck": {110, 9}, "gorilla": {100, 10}, "floor": {121, 8}} {
		tb.set(s, 0, "msgs/s", v[0])
		tb.set(s, 0, "server CPU/msg", v[1])
	}
	r := &report{cfg: Config{Servers: servers}}
	r.addTable("Echo, compression off", tb)
	var b strings.Builder
	r.headroom(&b)
	for _, want := range []string{
		"| measurement | wsdeck over gorilla | floor over gorilla | floor over wsdeck |",
		"| Echo, compression off: 16 KiB — msgs/s | 1.10 | 1.21 | 1.10 |",
		"| Echo, compression off: 16 KiB — server CPU/msg | 1.11 | 1.25 | 1.12 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("headroom lacks %q:\n%s", want, b.String())
		}
	}
}
