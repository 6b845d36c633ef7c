package topic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
)

// sink records what a topic queues to it.
type sink struct {
	mu     sync.Mutex
	frames []*websocket.PreparedMessage
	more   chan struct{} // signalled at each frame
}

func newSink() *sink { return &sink{more: make(chan struct{}, 1)} }

func (s *sink) Send(pm *websocket.PreparedMessage) bool {
	s.mu.Lock()
	s.frames = append(s.frames, pm)
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return true
}

func (s *sink) payloads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.frames))
	for i, pm := range s.frames {
		out[i] = string(pm.Payload())
	}
	return out
}

// waitFrames waits until s holds n frames.
func (s *sink) waitFrames(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := s.payloads(); len(got) >= n {
			return got
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("sink has %d frames, want %d: %q", len(s.payloads()), n, s.payloads())
		}
	}
}

func newStream(t *testing.T, e *engine.Engine) *engine.Stream {
	t.Helper()
	s, err := e.Stream(t.Context(), engine.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publish(t *testing.T, s *engine.Stream, subject, data string) uint64 {
	t.Helper()
	seq, err := s.Publish(t.Context(), subject, []byte(data), "")
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func datas(msgs []engine.Msg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Data)
	}
	return out
}

func join(t *testing.T, tp *Topic, s Sink, from From) Backlog {
	t.Helper()
	var b Backlog
	if err := tp.Join(t.Context(), s, from, func(bl Backlog) { b = bl }); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLiveEntriesEncodedOnce: two sinks get every live entry, in order,
// as one PreparedMessage shared by both, encoded by Encode.
func TestLiveEntriesEncodedOnce(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	tp := New(st, Options{Subject: "t.a", Encode: func(m engine.Msg) ([]byte, error) {
		return fmt.Appendf(nil, "%d:%s", m.Seq, m.Data), nil
	}})
	defer tp.Close()
	a, b := newSink(), newSink()
	join(t, tp, a, From{})
	join(t, tp, b, From{})
	publish(t, st, "t.a", "one")
	publish(t, st, "t.b", "elsewhere")
	publish(t, st, "t.a", "two")
	want := []string{"1:one", "3:two"}
	if got := a.waitFrames(t, 2); !slices.Equal(got, want) {
		t.Errorf("a got %q, want %q", got, want)
	}
	if got := b.waitFrames(t, 2); !slices.Equal(got, want) {
		t.Errorf("b got %q, want %q", got, want)
	}
	if a.frames[0] != b.frames[0] {
		t.Error("each sink got a frame of its own: the entry was encoded twice")
	}
}

// TestBacklogFramesEncodedOnce: a backlog comes with each entry's frame as
// Encode makes it (nil where Encode fails), and while the topic keeps the
// entries, each is encoded once however many sinks join: a room's history
// costs the thousandth page no encoding.
func TestBacklogFramesEncodedOnce(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	var encoded atomic.Int64
	tp := New(st, Options{Subject: "t.a", Keep: 10, Encode: func(m engine.Msg) ([]byte, error) {
		encoded.Add(1)
		if string(m.Data) == "bad" {
			return nil, errors.New("not an entry")
		}
		return fmt.Appendf(nil, "%d:%s", m.Seq, m.Data), nil
	}})
	defer tp.Close()
	publish(t, st, "t.a", "one")
	publish(t, st, "t.a", "bad")
	publish(t, st, "t.a", "three")
	want := []string{"1:one", "", "3:three"}
	first := newSink()
	if got := frameStrings(join(t, tp, first, From{Last: 5}).Frames); !slices.Equal(got, want) {
		t.Fatalf("first join's frames %q, want %q", got, want)
	}
	const joins = 50
	for range joins {
		if got := frameStrings(join(t, tp, newSink(), From{Last: 5}).Frames); !slices.Equal(got, want) {
			t.Fatalf("frames %q, want %q", got, want)
		}
	}
	publish(t, st, "t.a", "four")
	first.waitFrames(t, 1)
	want = append(want, "4:four")
	if got := frameStrings(join(t, tp, newSink(), From{Seq: 1}).Frames); !slices.Equal(got, want) {
		t.Errorf("after a live entry, frames %q, want %q", got, want)
	}
	if n := encoded.Load(); n != 4 {
		t.Errorf("%d encodings for 4 entries and %d joins, want 4", n, joins+2)
	}
	// A topic that keeps nothing leaves the encoding to the caller.
	plain := New(st, Options{Subject: "t.a", Encode: func(m engine.Msg) ([]byte, error) {
		encoded.Add(1)
		return m.Data, nil
	}})
	defer plain.Close()
	if b := join(t, plain, newSink(), From{Seq: 1}); b.Frames != nil || len(b.Msgs) != 4 || encoded.Load() != 4 {
		t.Errorf("a topic without Keep: %d entries, frames %q, %d encodings", len(b.Msgs), frameStrings(b.Frames), encoded.Load())
	}
}

// frameStrings returns frames as strings, "" for nil.
func frameStrings(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

// TestJoinWhilePublishing: sinks that join from sequence 1 while entries
// are being published get each entry exactly once, in order, across
// the backlog and the live entries: nothing falls between the two.
func TestJoinWhilePublishing(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	tp := New(st, Options{Subject: "t.a"})
	defer tp.Close()
	keep := newSink() // holds the subscription for the whole test
	join(t, tp, keep, From{})

	const n = 600
	published := make(chan int, n)
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := st.Publish(context.Background(), "t.a", []byte(strconv.Itoa(i)), ""); err != nil {
				done <- err
				return
			}
			published <- i
		}
		done <- nil
	}()
	type joined struct {
		s *sink
		b Backlog
	}
	// A sink joins after every 80 entries published, while the
	// publisher goes on.
	var sinks []joined
	for i := range published {
		if i%80 == 0 {
			s := newSink()
			sinks = append(sinks, joined{s, join(t, tp, s, From{Seq: 1, Max: n})})
		}
		if i == n {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	for i, j := range sinks {
		backlog := datas(j.b.Msgs)
		live := j.s.waitFrames(t, n-len(backlog))
		if got := append(backlog, live...); !slices.Equal(got, want) {
			t.Errorf("sink %d: backlog of %d then %d live: not 1..%d once each in order: %q", i, len(backlog), len(live), n, got)
		}
		if j.b.Truncated {
			t.Errorf("sink %d: backlog marked truncated", i)
		}
	}
}

// TestJoinDoesNotChaseLiveEntries: entries that arrive while a join reads
// its backlog reach the sink through the subscription, not through more
// reads: however fast they come, the join reads the stream once and
// returns, and the sink has every entry once, in order. (A join that read
// again until its backlog caught up with the subscription could chase a
// busy room until its page gave up.)
func TestJoinDoesNotChaseLiveEntries(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	for i := 1; i <= 10; i++ {
		publish(t, st, "t.a", strconv.Itoa(i))
	}
	tp := New(st, Options{Subject: "t.a"})
	defer tp.Close()
	keep := newSink() // holds the subscription
	join(t, tp, keep, From{})
	// Before each read, three more entries arrive and are delivered; a
	// join that chased them would read 20 times.
	n, reads := 10, 0
	testHookRead = func() {
		reads++
		if reads > 20 {
			return
		}
		var seq uint64
		for range 3 {
			n++
			seq = publish(t, st, "t.a", strconv.Itoa(n))
		}
		if err := tp.Delivered(t.Context(), seq); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookRead = nil }()
	s := newSink()
	b := join(t, tp, s, From{Seq: 1})
	testHookRead = nil
	if reads != 1 {
		t.Errorf("the join read the stream %d times, want once", reads)
	}
	n++
	publish(t, st, "t.a", strconv.Itoa(n))
	backlog := datas(b.Msgs)
	got := append(backlog, s.waitFrames(t, n-len(backlog))...)
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	if !slices.Equal(got, want) || b.Truncated {
		t.Errorf("backlog of %d (truncated %v) then live: %q, want 1..%d once each in order", len(backlog), b.Truncated, got, n)
	}
}

// TestJoiningExtend: the live entries a join held while it read its
// backlog follow the backlog, within the bound asked for.
func TestJoiningExtend(t *testing.T) {
	entries := func(seqs ...uint64) []engine.Msg {
		var out []engine.Msg
		for _, s := range seqs {
			out = append(out, engine.Msg{Seq: s, Data: []byte(strconv.FormatUint(s, 10))})
		}
		return out
	}
	tests := []struct {
		name      string
		from      uint64
		max       int
		backlog   []engine.Msg
		live      []engine.Msg
		want      []string
		truncated bool
	}{
		{"follows", 1, 10, entries(1, 2), entries(3, 5), []string{"1", "2", "3", "5"}, false},
		{"bounded", 1, 3, entries(1, 2), entries(3, 5), []string{"2", "3", "5"}, true},
		{"live alone over the bound", 1, 2, entries(1, 2), entries(3, 4, 5), []string{"4", "5"}, true},
		// The subscription had delivered up to 2 when a page that had
		// seen up to 4 elsewhere joined from 5: it gets nothing before.
		{"before the position asked", 5, 10, nil, entries(3, 4, 5, 6), []string{"5", "6"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := &joining{from: tc.from, max: tc.max}
			for _, m := range tc.live {
				j.add(m, m.Data)
			}
			b := Backlog{Msgs: tc.backlog, Frames: [][]byte{}}
			for _, m := range b.Msgs {
				b.Frames = append(b.Frames, m.Data)
			}
			plain := Backlog{Msgs: slices.Clone(tc.backlog)} // no frames asked for
			left := j.extend(&b, tc.max)
			if got := datas(b.Msgs); !slices.Equal(got, tc.want) || b.Truncated != tc.truncated || left != tc.truncated {
				t.Errorf("backlog %q truncated %v (reported %v), want %q truncated %v", got, b.Truncated, left, tc.want, tc.truncated)
			}
			if got := frameStrings(b.Frames); !slices.Equal(got, tc.want) {
				t.Errorf("frames %q, want %q", got, tc.want)
			}
			j.extend(&plain, tc.max)
			if got := datas(plain.Msgs); !slices.Equal(got, tc.want) || plain.Frames != nil {
				t.Errorf("without frames: backlog %q, frames %q; want %q and none", got, frameStrings(plain.Frames), tc.want)
			}
		})
	}
}

// TestBacklogPositions: a backlog from a sequence, from a time, and of
// the newest n, each bounded by Max with Truncated set when it cut.
func TestBacklogPositions(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	for i := 1; i <= 10; i++ {
		publish(t, st, "t.a", strconv.Itoa(i))
		publish(t, st, "t.b", "b")
	}
	tp := New(st, Options{Subject: "t.a"})
	defer tp.Close()
	last, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		from      From
		want      []string
		truncated bool
	}{
		{"none", From{}, []string{}, false},
		{"from seq", From{Seq: 15}, []string{"8", "9", "10"}, false},
		{"from seq, max", From{Seq: 1, Max: 4}, []string{"7", "8", "9", "10"}, true},
		{"past the end", From{Seq: last.LastSeq + 1}, []string{}, false},
		{"since", From{Since: time.Now().Add(-time.Hour)}, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, false},
		{"since, max", From{Since: time.Now().Add(-time.Hour), Max: 2}, []string{"9", "10"}, true},
		{"since the future", From{Since: time.Now().Add(time.Hour)}, []string{}, false},
		{"last", From{Last: 3}, []string{"8", "9", "10"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink()
			b := join(t, tp, s, tc.from)
			defer tp.Leave(s)
			if got := datas(b.Msgs); !slices.Equal(got, tc.want) || b.Truncated != tc.truncated {
				t.Errorf("backlog %q truncated %v, want %q truncated %v", got, b.Truncated, tc.want, tc.truncated)
			}
			if b.Last != last.LastSeq { // the stream's, though that entry is on t.b
				t.Errorf("backlog Last = %d, want %d", b.Last, last.LastSeq)
			}
		})
	}
}

// TestIdleTopicUnsubscribes: the engine subscription lives while a sink
// is joined; entries published while none is are in the next backlog.
func TestIdleTopicUnsubscribes(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	tp := New(st, Options{Subject: "t.a"})
	defer tp.Close()
	s := newSink()
	join(t, tp, s, From{})
	publish(t, st, "t.a", "1")
	s.waitFrames(t, 1)
	tp.Leave(s)
	if tp.Sinks() != 0 || tp.sub != nil {
		t.Fatalf("after the last Leave: %d sinks, subscription %v", tp.Sinks(), tp.sub)
	}
	seq := publish(t, st, "t.a", "2")
	s2 := newSink()
	b := join(t, tp, s2, From{Seq: seq})
	publish(t, st, "t.a", "3")
	if got := datas(b.Msgs); !slices.Equal(got, []string{"2"}) {
		t.Errorf("backlog %q, want [2]", got)
	}
	if got := s2.waitFrames(t, 1); !slices.Equal(got, []string{"3"}) {
		t.Errorf("live %q, want [3]", got)
	}
	if got := s.payloads(); len(got) != 1 {
		t.Errorf("the sink that left got %q after leaving", got)
	}
}

// TestTwoNodes: two topics on one stream (two console nodes) each deliver
// what the other's node published.
func TestTwoNodes(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	n1, n2 := New(st, Options{Subject: "t.a"}), New(st, Options{Subject: "t.a"})
	defer n1.Close()
	defer n2.Close()
	s1, s2 := newSink(), newSink()
	join(t, n1, s1, From{})
	join(t, n2, s2, From{})
	publish(t, st, "t.a", "x")
	if got := s1.waitFrames(t, 1); got[0] != "x" {
		t.Errorf("node 1 got %q", got)
	}
	if got := s2.waitFrames(t, 1); got[0] != "x" {
		t.Errorf("node 2 got %q", got)
	}
}

// TestJoinFailsClearly: a stream that cannot be read (the engine shut
// down) fails Join with the engine's error, and after Close with
// ErrClosed; the sink is not joined.
func TestJoinFailsClearly(t *testing.T) {
	e := enginetest.Embedded(t)
	st := newStream(t, e)
	tp := New(st, Options{Subject: "t.a"})
	tp.Close()
	if err := tp.Join(t.Context(), newSink(), From{}, func(Backlog) {}); err != ErrClosed {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
	tp = New(st, Options{Subject: "t.a"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	called := false
	err := tp.Join(t.Context(), newSink(), From{Seq: 1}, func(Backlog) { called = true })
	if err == nil || called || tp.Sinks() != 0 {
		t.Errorf("Join on a shut engine: err %v, first called %v, %d sinks", err, called, tp.Sinks())
	}
}

// TestDelivered: Delivered returns once the entries up to a sequence have
// been queued to the sinks, at once for a topic without sinks, and with
// ctx's error when the sequence never comes.
func TestDelivered(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	tp := New(st, Options{Subject: "t.a"})
	defer tp.Close()
	if err := tp.Delivered(context.Background(), 1000); err != nil {
		t.Fatalf("Delivered without sinks = %v, want nil at once", err)
	}
	a := newSink()
	join(t, tp, a, From{})
	var seq uint64
	for i := range 50 {
		seq = publish(t, st, "t.a", fmt.Sprint("e", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.Delivered(ctx, seq); err != nil {
		t.Fatalf("Delivered(%d) = %v", seq, err)
	}
	// No waiting here: Delivered promised they are queued.
	if got := a.payloads(); len(got) != 50 || got[49] != "e49" {
		t.Fatalf("after Delivered the sink has %d frames (last %q), want 50", len(got), got[len(got)-1:])
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := tp.Delivered(short, seq+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Delivered of a sequence never stored = %v, want the deadline", err)
	}
}

// TestJoinWhileOthersLeave: while a sink joins (reading its backlog), the
// last other sink leaving must not end the subscription under it: the
// joiner gets every later entry live. Each round a sink joins from the
// start while another joins and leaves at once, then one entry is
// published, which the first sink must get.
func TestJoinWhileOthersLeave(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	tp := New(st, Options{Subject: "t.a"})
	defer tp.Close()
	for i := range 40 {
		publish(t, st, "t.a", fmt.Sprint("old", i)) // a backlog to read
	}
	for round := range 30 {
		a := newSink()
		var churn sync.WaitGroup
		churn.Go(func() {
			b := newSink()
			join(t, tp, b, From{})
			tp.Leave(b)
		})
		b := join(t, tp, a, From{Seq: 1})
		churn.Wait()
		data := fmt.Sprint("live", round)
		publish(t, st, "t.a", data)
		n := len(b.Msgs) + 1
		if got := a.waitFrames(t, 1); got[len(got)-1] != data || len(b.Msgs)+len(got) != n {
			t.Fatalf("round %d: the joiner got %q live after a backlog of %d, want only %q", round, got, len(b.Msgs), data)
		}
		tp.Leave(a)
	}
}

// TestKeptBacklogs: a topic that keeps its newest entries gives every
// joiner the same backlog as a topic that reads the stream, for the
// newest n, a sequence, and with Max, as entries come and old ones go
// from its memory; and it reads the stream only when its memory cannot
// answer.
func TestKeptBacklogs(t *testing.T) {
	const keep = 5
	st := newStream(t, enginetest.Embedded(t))
	for i := range 3 {
		publish(t, st, "t.a", fmt.Sprint("early", i))
	}
	kept := New(st, Options{Subject: "t.a", Keep: keep})
	ref := New(st, Options{Subject: "t.a"})
	defer kept.Close()
	defer ref.Close()
	hold := newSink()
	join(t, kept, hold, From{Last: 2}) // fewer than Keep: not whole, not enough for Last 3+
	join(t, ref, hold, From{})

	froms := func(last uint64) []From {
		out := []From{{Last: 1}, {Last: 2}, {Last: keep}, {Last: keep + 2}, {Last: 4, Max: 2}}
		for s := uint64(1); s <= last+1; s++ {
			out = append(out, From{Seq: s}, From{Seq: s, Max: 2})
		}
		return out
	}
	var seq uint64
	for round := range 6 {
		for i := range round * 2 {
			publish(t, st, "t.b", "other")
			seq = publish(t, st, "t.a", fmt.Sprint("r", round, "-", i))
		}
		for _, tp := range []*Topic{kept, ref} {
			if err := tp.Delivered(t.Context(), seq); err != nil {
				t.Fatal(err)
			}
		}
		for _, from := range froms(seq) {
			s1, s2 := newSink(), newSink()
			got, want := join(t, kept, s1, from), join(t, ref, s2, from)
			kept.Leave(s1)
			ref.Leave(s2)
			if !slices.Equal(datas(got.Msgs), datas(want.Msgs)) || got.Truncated != want.Truncated || got.Last != want.Last {
				t.Fatalf("round %d, %+v: kept gave %q truncated %v last %d; the stream %q truncated %v last %d",
					round, from, datas(got.Msgs), got.Truncated, got.Last, datas(want.Msgs), want.Truncated, want.Last)
			}
		}
	}
	joins := ref.reads.Load()
	if r := kept.reads.Load(); r == 0 || r >= joins {
		t.Errorf("the keeping topic read the stream for %d of %d joins: want some (what it no longer kept), and fewer", r, joins)
	}
	t.Logf("the keeping topic read the stream for %d of %d joins", kept.reads.Load(), joins)
	// What it keeps, it gives without reading: the newest n up to
	// Keep, and the entries after a sequence among them.
	before := kept.reads.Load()
	for _, from := range []From{{Last: 1}, {Last: keep}, {Last: keep, Max: 2}, {Seq: seq}, {Seq: seq + 1}} {
		s := newSink()
		join(t, kept, s, from)
		kept.Leave(s)
	}
	if r := kept.reads.Load() - before; r != 0 {
		t.Errorf("%d joins within what the topic keeps read the stream, want none", r)
	}

	// Once the last sink leaves, the memory goes with the subscription.
	kept.Leave(hold)
	kept.mu.Lock()
	ok, n := kept.keptOK, len(kept.kept)
	kept.mu.Unlock()
	if ok || n != 0 {
		t.Errorf("after the last sink left: keptOK %v with %d entries, want nothing kept", ok, n)
	}
}

// TestKeptBacklogsFollowTheStreamsLimits: entries that the stream's own
// limits removed (here its count for all subjects, as its bytes or age
// would) are not given from memory either.
func TestKeptBacklogsFollowTheStreamsLimits(t *testing.T) {
	e := enginetest.Embedded(t)
	st, err := e.Stream(t.Context(), engine.StreamConfig{Name: "L", Subjects: []string{"t.>"}, MaxMsgs: 6})
	if err != nil {
		t.Fatal(err)
	}
	kept := New(st, Options{Subject: "t.a", Keep: 10})
	ref := New(st, Options{Subject: "t.a"})
	defer kept.Close()
	defer ref.Close()
	hold := newSink()
	join(t, kept, hold, From{Last: 10})
	join(t, ref, hold, From{})
	var seq uint64
	for i := range 12 {
		if i%3 == 0 {
			publish(t, st, "t.b", "b")
		}
		seq = publish(t, st, "t.a", fmt.Sprint("a", i))
		for _, tp := range []*Topic{kept, ref} {
			if err := tp.Delivered(t.Context(), seq); err != nil {
				t.Fatal(err)
			}
		}
		for _, from := range []From{{Last: 3}, {Last: 10}, {Seq: 1}, {Seq: seq - 2}} {
			s1, s2 := newSink(), newSink()
			got, want := join(t, kept, s1, from), join(t, ref, s2, from)
			kept.Leave(s1)
			ref.Leave(s2)
			if !slices.Equal(datas(got.Msgs), datas(want.Msgs)) {
				t.Fatalf("after %d, %+v: kept gave %q, the stream %q", i, from, datas(got.Msgs), datas(want.Msgs))
			}
		}
	}
}

// TestJoinsShareProbes: joins served from the kept entries that come
// together share the engine's answer: fifty joins that wait while a probe
// is under way cost one more probe, not fifty, and each gets the backlog
// a join alone gets, with the entry published before it began.
func TestJoinsShareProbes(t *testing.T) {
	st := newStream(t, enginetest.Embedded(t))
	for i := range 3 {
		publish(t, st, "t.a", fmt.Sprint("m", i))
	}
	tp := New(st, Options{Subject: "t.a", Keep: 10})
	defer tp.Close()
	join(t, tp, newSink(), From{Last: 10}) // keeps the entries (a read)

	// The first probe waits until the other joins wait behind it.
	release := make(chan struct{})
	var once sync.Once
	testHookProbe = func() { once.Do(func() { <-release }) }
	defer func() { testHookProbe = nil }()
	before := tp.probes.Load()
	const n = 50
	var wg sync.WaitGroup
	backlogs := make([]Backlog, n)
	join1 := func(i int) {
		defer wg.Done()
		if err := tp.Join(t.Context(), newSink(), From{Last: 10}, func(b Backlog) { backlogs[i] = b }); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go join1(0)
	poll.Until(t, 10*time.Second, "a probe under way", func() bool { return tp.probes.Load() == before+1 })
	seq := publish(t, st, "t.a", "late") // before the next joins began: they must have it
	for i := 1; i < n; i++ {
		wg.Add(1)
		go join1(i)
	}
	poll.Until(t, 10*time.Second, "the joins waiting for the next probe", func() bool {
		tp.mu.Lock()
		defer tp.mu.Unlock()
		return tp.nextProbe != nil && tp.nextProbe.waiting == n-1
	})
	close(release)
	wg.Wait()
	if got := tp.probes.Load() - before; got != 2 {
		t.Errorf("%d joins made %d probes, want 2", n, got)
	}
	if reads := tp.reads.Load(); reads != 1 {
		t.Errorf("%d backlogs read from the stream, want only the first join's", reads)
	}
	want := []string{"m0", "m1", "m2", "late"}
	for i := 1; i < n; i++ {
		if got := datas(backlogs[i].Msgs); !slices.Equal(got, want) || backlogs[i].Last != seq {
			t.Fatalf("join %d: backlog %q up to %d, want %q up to %d", i, got, backlogs[i].Last, want, seq)
		}
	}
}
