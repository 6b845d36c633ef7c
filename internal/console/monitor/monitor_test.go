package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
)

const testTimeout = 30 * time.Second

// Fast settings for tests: a sample every 20 ms, demand and node entries
// rewritten every 100 ms (lapsing after 300 ms).
const (
	testInterval = 20 * time.Millisecond
	testBeat     = 100 * time.Millisecond
)

// fakeSource returns samples numbered by call from base, and counts the
// calls.
type fakeSource struct {
	base  float64
	calls atomic.Int64
}

func (f *fakeSource) Sample(ctx context.Context) (Sample, error) {
	n := f.calls.Add(1)
	return Sample{Time: time.Now().UnixMilli(), CPU: f.base + float64(n), Cores: []float64{float64(n)}}, nil
}

// newMonitor starts node's monitor on e, sampling src; the test's end
// shuts it down.
func newMonitor(t *testing.T, e *engine.Engine, node string, src Source, onSample func()) *Monitor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	m, err := New(ctx, e, Options{Node: node, Interval: testInterval, Beat: testBeat, Source: src, OnSample: onSample,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	return m
}

// fakeViewer keeps what it is sent and signals each frame.
type fakeViewer struct {
	mu     sync.Mutex
	frames [][]byte
	got    chan struct{}
	read   int // frames next has returned; used by one goroutine
}

func newViewer() *fakeViewer { return &fakeViewer{got: make(chan struct{}, 1<<12)} }

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
func (v *fakeViewer) next(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	select {
	case <-v.got:
	case <-time.After(testTimeout):
		t.Fatalf("no frame %d", v.read)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v.frames[v.read], &m); err != nil {
		t.Fatal(err)
	}
	v.read++
	return m
}

// nextSample waits for the viewer's next sample, skipping node lists.
func (v *fakeViewer) nextSample(t *testing.T) Sample {
	t.Helper()
	for {
		f := v.next(t)
		switch string(f["type"]) {
		case `"nodes"`:
			continue
		case `"sample"`:
			return decodeSample(t, f["sample"])
		}
		t.Fatalf("frame of type %s, want sample", f["type"])
	}
}

func decodeSample(t *testing.T, raw json.RawMessage) Sample {
	t.Helper()
	var s Sample
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// backfill decodes a frame that must be a backfill.
func backfill(t *testing.T, m map[string]json.RawMessage) (Backfill, []Sample) {
	t.Helper()
	if string(m["type"]) != `"backfill"` {
		t.Fatalf("frame of type %s, want backfill", m["type"])
	}
	raw, _ := json.Marshal(m)
	var bf Backfill
	if err := json.Unmarshal(raw, &bf); err != nil {
		t.Fatal(err)
	}
	var out []Sample
	for _, r := range bf.Samples {
		out = append(out, decodeSample(t, r))
	}
	return bf, out
}

// watch adds v to m showing node, and fails the test on an error.
func watch(t *testing.T, m *Monitor, v Viewer, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, nodeErr, err := m.Watch(ctx, v, node); err != nil || nodeErr != nil {
		t.Fatalf("watch %q: %v, %v", node, nodeErr, err)
	}
}

func running(m *Monitor) bool { r, _ := m.Running(); return r }

// TestBackfillThenLiveSamples: a viewer gets the node's samples from the
// stream as a backfill, then each later one live, once and in order; a
// second viewer shares the one sampler.
func TestBackfillThenLiveSamples(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	var taken atomic.Int64
	m := newMonitor(t, e, "a", &fakeSource{}, func() { taken.Add(1) })
	first := newViewer()
	watch(t, m, first, "")
	defer m.Unwatch(first)
	bf, got := backfill(t, first.next(t))
	if len(got) != 0 || bf.Node != "a" || bf.Self != "a" || bf.IntervalMS != testInterval.Milliseconds() {
		t.Fatalf("first backfill: node %q self %q interval %d, %d samples; want a, a, %d, none",
			bf.Node, bf.Self, bf.IntervalMS, len(got), testInterval.Milliseconds())
	}
	// The source's first call only primes it: its sample is dropped.
	last := Sample{CPU: 1}
	for i := 1; i <= 3; i++ {
		s := first.nextSample(t)
		if s.CPU != last.CPU+1 {
			t.Fatalf("sample %v after sample %v: not each once in order", s.CPU, last.CPU)
		}
		last = s
	}

	// A later viewer gets, at once, a backfill of every sample taken so
	// far, read from the stream, then the next sample.
	second := newViewer()
	watch(t, m, second, "a")
	defer m.Unwatch(second)
	_, bfs := backfill(t, second.next(t))
	if len(bfs) < 3 {
		t.Fatalf("backfill of %d samples, want at least the 3 already pushed", len(bfs))
	}
	for i := 1; i < len(bfs); i++ {
		if bfs[i].CPU != bfs[i-1].CPU+1 {
			t.Fatalf("backfill not in order: %v then %v", bfs[i-1].CPU, bfs[i].CPU)
		}
	}
	if live := second.nextSample(t); live.CPU != bfs[len(bfs)-1].CPU+1 {
		t.Errorf("first live sample %v after a backfill ending at %v: one was lost or repeated", live.CPU, bfs[len(bfs)-1].CPU)
	}
	if running, sessions := m.Running(); !running || sessions != 1 {
		t.Errorf("running %v sessions %d, want one sampler for both viewers", running, sessions)
	}
	if taken.Load() < 4 {
		t.Errorf("OnSample called %d times, want at least 4", taken.Load())
	}
}

// TestOtherNode: two monitors on one engine stand for two nodes. A viewer
// on b asks for a: a samples (b does not), and the viewer gets a's
// samples; both nodes are in both lists.
func TestOtherNode(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	a := newMonitor(t, e, "a", &fakeSource{}, nil)
	b := newMonitor(t, e, "b", &fakeSource{base: 1000}, nil)

	v := newViewer()
	watch(t, b, v, "a")
	defer b.Unwatch(v)
	bf, _ := backfill(t, v.next(t))
	if bf.Node != "a" || bf.Self != "b" {
		t.Errorf("backfill of node %q served by %q, want a by b", bf.Node, bf.Self)
	}
	if names := nodeNames(bf.Nodes); names != "a b" {
		t.Errorf("backfill lists nodes %q, want \"a b\"", names)
	}
	for range 3 {
		if s := v.nextSample(t); s.CPU >= 1000 {
			t.Fatalf("sample %v: b's, not a's", s.CPU)
		}
	}
	if !running(a) || running(b) {
		t.Errorf("a samples %v, b samples %v: want only a, the node watched", running(a), running(b))
	}
	poll.Until(t, testTimeout, "b in a's node list", func() bool { return nodeNames(a.Nodes()) == "a b" })
}

func nodeNames(nodes []NodeInfo) string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, " ")
}

// TestNodeLeaves: a node that shuts down leaves the other's list, and its
// viewers there are told.
func TestNodeLeaves(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	a := newMonitor(t, e, "a", &fakeSource{}, nil)
	b := newMonitor(t, e, "b", &fakeSource{base: 1000}, nil)
	v := newViewer()
	watch(t, a, v, "")
	defer a.Unwatch(v)
	backfill(t, v.next(t))
	poll.Until(t, testTimeout, "b in a's node list", func() bool { return nodeNames(a.Nodes()) == "a b" })
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for {
		f := v.next(t)
		if string(f["type"]) != `"nodes"` {
			continue
		}
		var msg Nodes
		raw, _ := json.Marshal(f)
		json.Unmarshal(raw, &msg)
		if nodeNames(msg.Nodes) == "a" {
			break
		}
	}
}

// TestRestartBackfills: a monitor started again on the same engine, under
// the same name, backfills the samples of the one before, and its first
// sample marks the gap.
func TestRestartBackfills(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	ctx := context.Background()
	old, err := New(ctx, e, Options{Node: "a", Interval: testInterval, Beat: testBeat, Source: &fakeSource{}})
	if err != nil {
		t.Fatal(err)
	}
	v := newViewer()
	watch(t, old, v, "")
	backfill(t, v.next(t))
	var last Sample
	for range 3 {
		last = v.nextSample(t)
	}
	old.Unwatch(v)
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	m := newMonitor(t, e, "a", &fakeSource{base: 1000}, nil)
	w := newViewer()
	watch(t, m, w, "")
	defer m.Unwatch(w)
	_, bf := backfill(t, w.next(t))
	if len(bf) < 3 || bf[len(bf)-1].CPU < last.CPU || bf[0].CPU != 2 {
		t.Fatalf("backfill after the restart: %d samples, want the first run's from 2 (the first call primes) to %v at least", len(bf), last.CPU)
	}
	// The new run's first sample comes live, or, if the sampler that the
	// watch started stored it before the backfill was read, at the end of
	// the backfill.
	first := bf[len(bf)-1]
	if first.CPU < 1000 {
		first = w.nextSample(t)
	}
	if first.CPU != 1002 || !first.Gap {
		t.Errorf("first sample after the restart: %v gap %v, want 1002 marking the gap", first.CPU, first.Gap)
	}
}

// TestSamplingOnlyWhileWatched is not parallel: it checks that no sampler
// goroutine is left, and other tests' samplers would count. A node samples
// while a viewer on either node watches it, stops when the last leaves,
// and marks the gap on the first sample of each run.
func TestSamplingOnlyWhileWatched(t *testing.T) {
	e := enginetest.Embedded(t)
	a := newMonitor(t, e, "a", &fakeSource{}, nil)
	b := newMonitor(t, e, "b", &fakeSource{base: 1000}, nil)
	if running(a) || running(b) {
		t.Fatal("sampling before anyone watches")
	}

	// A viewer on the other node.
	v := newViewer()
	watch(t, b, v, "a")
	backfill(t, v.next(t))
	if s := v.nextSample(t); !s.Gap {
		t.Error("the first sample of a run does not mark the gap")
	}
	if s := v.nextSample(t); s.Gap {
		t.Error("the second sample of a run marks a gap")
	}
	b.Unwatch(v)
	poll.Until(t, testTimeout, "a stops once b's viewer left", func() bool { return !running(a) })
	// No sampler goroutine is left to call the source.
	leakcheck.Check(t, "monitor.(*sampler).run")

	// A viewer on the node itself starts a new run; its first sample
	// marks the gap.
	w := newViewer()
	watch(t, a, w, "")
	_, bf := backfill(t, w.next(t))
	if len(bf) < 2 {
		t.Fatalf("backfill of %d samples, want the first run's", len(bf))
	}
	if s := w.nextSample(t); !s.Gap || s.CPU <= bf[len(bf)-1].CPU {
		t.Errorf("first sample after a pause: %v gap %v, want a new one marking the gap", s.CPU, s.Gap)
	}
	if _, sessions := a.Running(); sessions != 2 {
		t.Errorf("%d runs, want 2", sessions)
	}
	a.Unwatch(w)
	poll.Until(t, testTimeout, "a stops once its own viewer left", func() bool { return !running(a) })
	if running(b) {
		t.Error("b sampled, watched by nobody")
	}
}

// TestDemandLapses: demand from a node that died (its key no longer
// rewritten) lapses, and sampling stops.
func TestDemandLapses(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	a := newMonitor(t, e, "a", &fakeSource{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := a.demand.Put(ctx, demandKey("a", "ghost"), nil); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, testTimeout, "a samples for ghost", func() bool { return running(a) })
	start := time.Now()
	poll.Until(t, testTimeout, "a stops once ghost's demand lapsed", func() bool { return !running(a) })
	if d := time.Since(start); d < 2*testBeat {
		t.Errorf("stopped after %v, before the demand could lapse (3 beats of %v)", d, testBeat)
	}
}

// TestBadNode: a node name that cannot be one, or of no node, gets a
// clear error, and the viewer is shown the node serving it.
func TestBadNode(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	m := newMonitor(t, e, "a", &fakeSource{}, nil)
	for _, tc := range []struct{ node, want string }{
		{"web01.example.com", "no dots"},
		{"a*", "no dots, spaces or wildcards"},
		{">", "no dots, spaces or wildcards"},
		{"two words", "no dots, spaces or wildcards"},
		{strings.Repeat("x", MaxNodeName+1), "1 to 64 characters"},
		{"nobody", `no node "nobody"`},
	} {
		t.Run(tc.node[:min(len(tc.node), 10)], func(t *testing.T) {
			v := newViewer()
			shown, nodeErr, err := m.Watch(context.Background(), v, tc.node)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Unwatch(v)
			if nodeErr == nil || !strings.Contains(nodeErr.Error(), tc.want) || !strings.Contains(nodeErr.Error(), "showing a") {
				t.Errorf("node %q: error %v, want one saying %q and showing a", tc.node, nodeErr, tc.want)
			}
			if bf, _ := backfill(t, v.next(t)); shown != "a" || bf.Node != "a" {
				t.Errorf("node %q: shown %q, backfill of %q; want a", tc.node, shown, bf.Node)
			}
		})
	}
}

// TestEngineLost: with the engine gone a viewer is refused at once with
// an unavailable error, not left waiting.
func TestEngineLost(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	m := newMonitor(t, e, "a", &fakeSource{}, nil)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, err := m.Watch(context.Background(), newViewer(), "")
	var se *socket.Error
	if err == nil || !errors.As(unavailable(err), &se) || se.Code != CodeUnavailable {
		t.Fatalf("watch with the engine gone: %v, want an unavailable error", err)
	}
	if m.Viewers() != 0 {
		t.Error("a viewer refused was kept")
	}
}

// TestEngineLostAndBack: a viewer is told when the engine goes, a new one
// is refused meanwhile, and the samples come again once it is back.
func TestEngineLostAndBack(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	e, err := engine.Open(ctx, engine.Config{URLs: []string{srv.URL()}, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	m := newMonitor(t, e, "a", &fakeSource{}, nil)
	v := newViewer()
	watch(t, m, v, "")
	defer m.Unwatch(v)
	backfill(t, v.next(t))
	v.nextSample(t)

	srv.Stop()
	for {
		f := v.next(t)
		if string(f["type"]) != `"error"` {
			continue
		}
		if string(f["code"]) != `"unavailable"` {
			t.Fatalf("error %s, want unavailable", f["code"])
		}
		break
	}
	_, _, err = m.Watch(ctx, newViewer(), "")
	var se *socket.Error
	if err == nil || !errors.As(unavailable(err), &se) || se.Code != CodeUnavailable {
		t.Fatalf("watch with the engine gone: %v, want an unavailable error", err)
	}

	srv.Restart(t)
	for {
		f := v.next(t)
		if string(f["type"]) == `"sample"` {
			break
		}
	}
}

// TestNodeNames: the default name is the host's made a valid token; a
// name given must be one.
func TestNodeNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ host, want string }{
		{"web01.example.com", "web01-example-com-abcd"},
		{"", "node-abcd"},
		{"...", "node-abcd"},
		{"my host*>", "my-host-abcd"},
		{strings.Repeat("h", 80), strings.Repeat("h", MaxNodeName-5) + "-abcd"},
	} {
		got := nodeFromHost(tc.host, "ABCD")
		if got != tc.want {
			t.Errorf("host %q: node %q, want %q", tc.host, got, tc.want)
		}
		if err := CheckNode(got); err != nil {
			t.Errorf("host %q: %v", tc.host, err)
		}
	}
	if err := CheckNode(DefaultNode()); err != nil {
		t.Errorf("default node name: %v", err)
	}
	if _, err := New(context.Background(), nil, Options{Node: "a.b"}); err == nil || !strings.Contains(err.Error(), `node name "a.b"`) {
		t.Errorf("New with node a.b: %v, want an error naming it", err)
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

// TestBackfillComesFirst: a viewer's first frame is its backfill even
// while the node list changes as it joins (a node list sent to it between
// its joining and its backfill came first once, in a cluster test).
func TestBackfillComesFirst(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	a := newMonitor(t, e, "a", &fakeSource{}, nil)

	// Other nodes come and go until the viewers are done.
	stop := make(chan struct{})
	churned := make(chan int)
	go func() {
		n := 0
		defer func() { churned <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			b, err := New(ctx, e, Options{Node: "b", Interval: testInterval, Beat: testBeat,
				Source: &fakeSource{}, Logger: slog.New(slog.DiscardHandler)})
			cancel()
			if err != nil {
				t.Error(err)
				return
			}
			b.Shutdown(context.Background())
			n++
		}
	}()

	const viewers = 1000
	joined := 0
	for ; joined < viewers && !t.Failed(); joined++ {
		v := newViewer()
		watch(t, a, v, "")
		f := v.next(t)
		a.Unwatch(v)
		if string(f["type"]) != `"backfill"` {
			t.Errorf("viewer %d: first frame of type %s, want the backfill", joined, f["type"])
		}
	}
	close(stop)
	n := <-churned
	t.Logf("%d viewers joined while node b came and went %d times", joined, n)
}
