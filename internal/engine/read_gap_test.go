package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is an entry as a pull delivers it: its stream and consumer
// sequences are all take looks at.
type fakeMsg struct {
	jetstream.Msg
	stream, consumer uint64
}

func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.stream, Consumer: m.consumer}}, nil
}
func (m fakeMsg) Data() []byte         { return nil }
func (m fakeMsg) Subject() string      { return "s" }
func (m fakeMsg) Headers() nats.Header { return nil }

type fakeBatch struct{ c chan jetstream.Msg }

func (b fakeBatch) Messages() <-chan jetstream.Msg { return b.c }
func (b fakeBatch) Error() error                   { return nil }

func batchOf(msgs ...fakeMsg) fakeBatch {
	c := make(chan jetstream.Msg, len(msgs))
	for _, m := range msgs {
		c <- m
	}
	close(c)
	return fakeBatch{c}
}

// TestTakeFindsLostEntries: a read takes a pull's entries while the
// consumer's own sequence runs on without a gap, and stops at a gap (the
// entries sent to a pull that had given up), leaving seen at the last one
// taken so that the read goes on from there.
func TestTakeFindsLostEntries(t *testing.T) {
	s := &Stream{name: "T"}
	var seen, cseq uint64
	var out []Msg
	got, err := s.take(batchOf(fakeMsg{stream: 10, consumer: 1}, fakeMsg{stream: 12, consumer: 2}), 100, &seen, &cseq, &out)
	if err != nil || got != 2 || seen != 12 || cseq != 2 || len(out) != 2 {
		t.Fatalf("contiguous pull: got %d, seen %d, cseq %d, %d kept, %v", got, seen, cseq, len(out), err)
	}
	// Consumer entries 3 and 4 went to a pull that had timed out.
	got, err = s.take(batchOf(fakeMsg{stream: 15, consumer: 5}, fakeMsg{stream: 16, consumer: 6}), 100, &seen, &cseq, &out)
	if !errors.Is(err, errConsumerGap) || got != 0 || seen != 12 || len(out) != 2 {
		t.Fatalf("after a gap: got %d, seen %d, %d kept, %v; want errConsumerGap, seen still 12", got, seen, len(out), err)
	}
}

// TestReadOutlivesItsConsumer: a read whose consumer is gone when it
// pulls (on a cluster, one whose subscription has not reached this
// server yet: the pull finds no responder) reads on with a new consumer
// and returns every entry, once.
func TestReadOutlivesItsConsumer(t *testing.T) {
	s, want := fiveEntries(t)
	ctx := ctxT(t)
	deleted := 0
	testHookReadConsumer = func(c jetstream.Consumer) {
		if err := s.s.DeleteConsumer(ctx, c.CachedInfo().Name); err != nil {
			t.Errorf("delete the read's consumer: %v", err)
		}
		deleted++
	}
	defer func() { testHookReadConsumer = nil }()
	msgs, err := s.Read(ctx, ReadOptions{})
	if err != nil || strings.Join(datas(msgs), ",") != strings.Join(want, ",") {
		t.Fatalf("Read = %v, %v; want %v", datas(msgs), err, want)
	}
	if deleted != 1 {
		t.Fatalf("the hook ran %d times, want 1", deleted)
	}
}

// TestReadAfterEntriesSentElsewhere: the read's consumer has already sent
// the last entries to read, to a pull that gave up before they came (a
// Fetch that timed out on our side while the server sent), and sends them
// to no pull again; no later entry shows the gap in its numbering. The
// read notices (the consumer counts them sent), reads on with a new
// consumer, and returns every entry once, instead of waiting for them
// until its context ends.
func TestReadAfterEntriesSentElsewhere(t *testing.T) {
	s, want := fiveEntries(t)
	stolen := 0
	msgs, err := readWith(t, s, func(c jetstream.Consumer) {
		b, err := c.Fetch(5) // another pull takes them all
		if err != nil {
			t.Errorf("fetch: %v", err)
			return
		}
		for range b.Messages() {
			stolen++
		}
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if stolen != 5 {
		t.Fatalf("the other pull took %d entries, want 5", stolen)
	}
	wantRead(t, msgs, want)
}

// TestReadOutlivesASilentConsumer: the read's consumer sends nothing
// while the stream holds the entries (its replica lags and does not catch
// up: here the consumer is paused). The read goes on with a new consumer
// after a few waits, instead of waiting until its context ends.
func TestReadOutlivesASilentConsumer(t *testing.T) {
	s, want := fiveEntries(t)
	paused := 0
	msgs, err := readWith(t, s, func(c jetstream.Consumer) {
		if _, err := s.s.PauseConsumer(ctxT(t), c.CachedInfo().Name, time.Now().Add(time.Hour)); err != nil {
			t.Errorf("pause the read's consumer: %v", err)
		}
		paused++
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if paused != 1 {
		t.Fatalf("the hook ran %d times, want 1", paused)
	}
	wantRead(t, msgs, want)
}

// readWith reads t.a of s with hook run on the read's first consumer,
// within 10 s: far less than ctxT's 20, for a read must not wait until
// its context ends for entries that will not come.
func readWith(t *testing.T, s *Stream, hook func(jetstream.Consumer)) ([]Msg, error) {
	t.Helper()
	testHookReadConsumer = hook
	defer func() { testHookReadConsumer = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Read(ctx, ReadOptions{Subject: "t.a"})
}

// wantRead checks that a read returned want's entries, in order.
func wantRead(t *testing.T, msgs []Msg, want []string) {
	t.Helper()
	if got := strings.Join(datas(msgs), ","); got != strings.Join(want, ",") {
		t.Errorf("Read = %s, want %s", got, strings.Join(want, ","))
	}
}

// TestReadWhoseNextConsumerFails: a read that must go on with a new
// consumer and cannot make one (the stream allows one consumer, and
// another client took its place) fails with the engine's error.
func TestReadWhoseNextConsumerFails(t *testing.T) {
	s, _ := fiveEntries(t)
	ctx := ctxT(t)
	cfg := s.s.CachedInfo().Config
	cfg.MaxConsumers = 1
	if _, err := s.e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("allow one consumer: %v", err)
	}
	testHookReadConsumer = func(c jetstream.Consumer) {
		if err := s.s.DeleteConsumer(ctx, c.CachedInfo().Name); err != nil {
			t.Errorf("delete the read's consumer: %v", err)
		}
		if _, err := s.s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "other"}); err != nil {
			t.Errorf("take its place: %v", err)
		}
	}
	defer func() { testHookReadConsumer = nil }()
	msgs, err := s.Read(ctx, ReadOptions{Subject: "t.a"})
	if err == nil || !strings.Contains(err.Error(), "maximum consumers") {
		t.Fatalf("Read = %v, %v; want the engine's refusal of a consumer", datas(msgs), err)
	}
}

// fiveEntries returns a stream of an embedded engine holding five
// entries on t.a, and their data in order.
func fiveEntries(t *testing.T) (*Stream, []string) {
	t.Helper()
	e := openEmbedded(t, t.TempDir())
	s := mustStream(t, e, StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	var want []string
	for i := range 5 {
		d := fmt.Sprint("m", i)
		mustPublish(t, s, "t.a", d, "")
		want = append(want, d)
	}
	return s, want
}
