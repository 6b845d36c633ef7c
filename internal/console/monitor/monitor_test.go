package monitor

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wsdeck/internal/testkit/leakcheck"
	"wsdeck/websocket"
)

const testTimeout = 30 * time.Second

// fakeSource returns samples numbered by call, and counts the calls.
type fakeSource struct {
	calls atomic.Int64
}

func (f *fakeSource) Sample(ctx context.Context) (Sample, error) {
	n := f.calls.Add(1)
	return Sample{Time: time.Now().UnixMilli(), CPU: float64(n), Cores: []float64{float64(n)}}, nil
}

// fakeViewer keeps what it is sent and signals each frame.
type fakeViewer struct {
	mu     sync.Mutex
	frames [][]byte
	got    chan struct{}
}

func newViewer() *fakeViewer { return &fakeViewer{got: make(chan struct{}, 1<<10)} }

func (v *fakeViewer) Send(pm *websocket.PreparedMessage) bool { return v.add(pm.Payload()) }
func (v *fakeViewer) SendOwn(b []byte) bool                   { return v.add(b) }

func (v *fakeViewer) add(b []byte) bool {
	v.mu.Lock()
	v.frames = append(v.frames, b)
	v.mu.Unlock()
	v.got <- struct{}{}
	return true
}

// next waits for the viewer's next frame and decodes it.
func (v *fakeViewer) next(t *testing.T, i int) map[string]json.RawMessage {
	t.Helper()
	select {
	case <-v.got:
	case <-time.After(testTimeout):
		t.Fatalf("no frame %d", i)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v.frames[i], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeSample(t *testing.T, raw json.RawMessage) Sample {
	t.Helper()
	var s Sample
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func backfill(t *testing.T, m map[string]json.RawMessage) []Sample {
	t.Helper()
	if string(m["type"]) != `"backfill"` {
		t.Fatalf("frame of type %s, want backfill", m["type"])
	}
	var raws []json.RawMessage
	json.Unmarshal(m["samples"], &raws)
	var out []Sample
	for _, r := range raws {
		out = append(out, decodeSample(t, r))
	}
	return out
}

func TestBackfillThenLiveSamples(t *testing.T) {
	t.Parallel()
	src := &fakeSource{}
	var taken atomic.Int64
	m := New(Options{Interval: 20 * time.Millisecond, Source: src, OnSample: func() { taken.Add(1) }})
	first := newViewer()
	m.Watch(first)
	defer m.Unwatch(first)
	if got := backfill(t, first.next(t, 0)); len(got) != 0 {
		t.Fatalf("the first viewer's backfill has %d samples, want none", len(got))
	}
	var last Sample
	for i := 1; i <= 3; i++ {
		f := first.next(t, i)
		if string(f["type"]) != `"sample"` {
			t.Fatalf("frame %d of type %s, want sample", i, f["type"])
		}
		s := decodeSample(t, f["sample"])
		if s.CPU <= last.CPU {
			t.Fatalf("sample %d after sample %v: not in order", int(s.CPU), last.CPU)
		}
		last = s
	}

	// A later viewer gets, at once, a backfill of every sample taken so
	// far, then the next sample.
	second := newViewer()
	m.Watch(second)
	defer m.Unwatch(second)
	bf := backfill(t, second.next(t, 0))
	if len(bf) < 3 {
		t.Fatalf("backfill of %d samples, want at least the 3 already pushed", len(bf))
	}
	for i := 1; i < len(bf); i++ {
		if bf[i].CPU != bf[i-1].CPU+1 {
			t.Fatalf("backfill not in order: %v then %v", bf[i-1].CPU, bf[i].CPU)
		}
	}
	live := decodeSample(t, second.next(t, 1)["sample"])
	if live.CPU != bf[len(bf)-1].CPU+1 {
		t.Errorf("first live sample %v after a backfill ending at %v: one was lost or repeated", live.CPU, bf[len(bf)-1].CPU)
	}
	if running, sessions := m.Running(); !running || sessions != 1 {
		t.Errorf("running %v sessions %d, want one sampler for both viewers", running, sessions)
	}
	if taken.Load() < 4 {
		t.Errorf("OnSample called %d times, want at least 4", taken.Load())
	}
}

// TestSamplingOnlyWhileWatched is not parallel: it checks that no sampler
// goroutine is left, and other tests' samplers would count.
func TestSamplingOnlyWhileWatched(t *testing.T) {
	src := &fakeSource{}
	m := New(Options{Interval: 10 * time.Millisecond, Source: src})
	if running, _ := m.Running(); running {
		t.Fatal("sampling before anyone watches")
	}
	v := newViewer()
	m.Watch(v)
	v.next(t, 0) // backfill
	v.next(t, 1) // a sample
	m.Unwatch(v) // returns once the sampler has stopped
	if running, _ := m.Running(); running {
		t.Fatal("still sampling after the last viewer left")
	}
	// No sampler goroutine is left to call the source.
	leakcheck.Check(t, "monitor.(*Monitor).run")

	// Watching again starts a new run; its first sample marks the gap.
	w := newViewer()
	m.Watch(w)
	defer m.Unwatch(w)
	if bf := backfill(t, w.next(t, 0)); len(bf) == 0 {
		t.Fatal("the samples of the first run are not in the backfill")
	}
	s := decodeSample(t, w.next(t, 1)["sample"])
	if !s.Gap {
		t.Error("the first sample after a pause does not mark the gap")
	}
	s = decodeSample(t, w.next(t, 2)["sample"])
	if s.Gap {
		t.Error("the second sample after a pause marks a gap")
	}
	if _, sessions := m.Running(); sessions != 2 {
		t.Errorf("%d runs, want 2", sessions)
	}
}

func TestRingKeepsHistory(t *testing.T) {
	t.Parallel()
	m := New(Options{Interval: 10 * time.Millisecond, History: 50 * time.Millisecond, Source: &fakeSource{}})
	v := newViewer()
	m.Watch(v)
	defer m.Unwatch(v)
	for i := 0; i <= 12; i++ {
		v.next(t, i)
	}
	samples := m.Samples()
	if len(samples) != 5 {
		t.Fatalf("ring holds %d samples, want History/Interval = 5", len(samples))
	}
	// The newest 5, oldest first.
	var newest Sample
	json.Unmarshal(samples[4], &newest)
	var oldest Sample
	json.Unmarshal(samples[0], &oldest)
	if newest.CPU-oldest.CPU != 4 {
		t.Errorf("ring from %v to %v, want 5 consecutive samples", oldest.CPU, newest.CPU)
	}
}

func TestSystemSource(t *testing.T) {
	t.Parallel()
	src := NewSystemSource("")
	ctx := context.Background()
	if _, err := src.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	// Some CPU work between the two, so the interval is not empty.
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	s, err := src.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Cores) == 0 {
		t.Error("no cores")
	}
	for i, c := range append([]float64{s.CPU}, s.Cores...) {
		if c < 0 || c > 100 {
			t.Errorf("CPU %d at %v%%", i, c)
		}
	}
	if s.MemTotal == 0 || s.MemUsed == 0 || s.MemAvailable == 0 || s.MemUsed > s.MemTotal {
		t.Errorf("memory used %d available %d total %d", s.MemUsed, s.MemAvailable, s.MemTotal)
	}
	if s.DiskTotal == 0 || s.DiskUsed > s.DiskTotal {
		t.Errorf("disk used %d of %d", s.DiskUsed, s.DiskTotal)
	}
	if s.NetRx < 0 || s.NetTx < 0 {
		t.Errorf("network rates %v %v", s.NetRx, s.NetTx)
	}
	if s.Time == 0 {
		t.Error("no time")
	}
}
