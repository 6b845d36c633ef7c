package engine

import (
	"errors"
	"fmt"
	"github.com/nats-io/nats.go/jetstream"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMsgIDDedup(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	first := mustPublish(t, s, "chat.lobby", "hello", "page-1/msg-1")
	resent := mustPublish(t, s, "chat.lobby", "hello", "page-1/msg-1")
	if resent != first {
		t.Errorf("resend stored at %d, first at %d: want the first's sequence", resent, first)
	}
	other := mustPublish(t, s, "chat.lobby", "hello", "page-1/msg-2")
	noID := mustPublish(t, s, "chat.lobby", "hello", "")
	if other == first || noID == other {
		t.Errorf("distinct messages share a sequence: %d %d %d", first, other, noID)
	}
	msgs, err := s.Read(ctx, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Errorf("stream holds %d entries, want 3 (the resend once)", len(msgs))
	}
	if msgs[0].ID() != "page-1/msg-1" || msgs[2].ID() != "" {
		t.Errorf("ids = %q, %q", msgs[0].ID(), msgs[2].ID())
	}
}

func TestLimitsDropOldest(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	payload := strings.Repeat("x", 100)
	// What one entry counts against MaxBytes: measured, not assumed.
	probe := mustStream(t, e, StreamConfig{Name: "probe", Subjects: []string{"MaxBytes.>"}})
	mustPublish(t, probe, "MaxBytes.a", payload, "")
	in, err := probe.Info(ctx)
	if err != nil || in.Bytes < 100 {
		t.Fatalf("probe: %+v, %v", in, err)
	}
	entrySize := int64(in.Bytes)
	if err := e.js.DeleteStream(ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  StreamConfig
		pub  []string // subjects, one entry each
		want []uint64 // sequences left
	}{
		{"MaxMsgs", StreamConfig{MaxMsgs: 3}, []string{"a", "a", "a", "a", "a"}, []uint64{3, 4, 5}},
		// Room for three and a half entries (as the probe measured one).
		{"MaxBytes", StreamConfig{MaxBytes: 3*entrySize + entrySize/2}, []string{"a", "a", "a", "a", "a", "a"}, []uint64{4, 5, 6}},
		{"MaxMsgsPerSubject", StreamConfig{MaxMsgsPerSubject: 2}, []string{"a", "b", "a", "a", "b", "b"}, []uint64{3, 4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name, cfg.Subjects = "limits-"+tc.name, []string{tc.name + ".>"}
			s := mustStream(t, e, cfg)
			for _, sub := range tc.pub {
				mustPublish(t, s, tc.name+"."+sub, payload, "")
			}
			msgs, err := s.Read(ctx, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, m := range msgs {
				got = append(got, m.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("sequences left = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("MaxAge", func(t *testing.T) {
		s := mustStream(t, e, StreamConfig{Name: "limits-age", Subjects: []string{"age.>"}, MaxAge: time.Second, Duplicates: time.Second})
		mustPublish(t, s, "age.a", "old", "")
		waitFor(t, "the entry to age out", 5*time.Second, func() bool {
			in, err := s.Info(ctx)
			return err == nil && in.Msgs == 0
		})
		if seq := mustPublish(t, s, "age.a", "new", ""); seq != 2 {
			t.Errorf("sequence after expiry = %d, want 2 (sequences never reused)", seq)
		}
	})
}

func TestDenyDeleteAndPurge(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	audit := mustStream(t, e, StreamConfig{Name: "audit", Subjects: []string{"audit.>"}, DenyDelete: true, DenyPurge: true})
	mustPublish(t, audit, "audit.job", "started", "")
	if err := audit.Delete(ctx, 1); !errors.Is(err, ErrDenied) {
		t.Errorf("Delete on a DenyDelete stream = %v, want ErrDenied", err)
	}
	if err := audit.Purge(ctx, ""); !errors.Is(err, ErrDenied) {
		t.Errorf("Purge on a DenyPurge stream = %v, want ErrDenied", err)
	}
	if m, err := audit.Get(ctx, 1); err != nil || string(m.Data) != "started" {
		t.Errorf("entry after refused delete and purge: %+v, %v", m, err)
	}

	// The same calls on a stream without the options do delete.
	chat := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	mustPublish(t, chat, "chat.a", "one", "")
	mustPublish(t, chat, "chat.b", "two", "")
	if err := chat.Delete(ctx, 1); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := chat.Get(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get deleted = %v, want ErrNotFound", err)
	}
	if err := chat.Purge(ctx, "chat.b"); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if in, _ := chat.Info(ctx); in.Msgs != 0 {
		t.Errorf("after purge: %d entries", in.Msgs)
	}
}

func TestLastAndReadFiltered(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	s := mustStream(t, e, StreamConfig{Name: "mon", Subjects: []string{"mon.>"}})
	// A busy subject and a sparse one, interleaved: 1 in 25 is "b".
	var wantB []string
	for i := range 200 {
		if i%25 == 0 {
			mustPublish(t, s, "mon.b", fmt.Sprint("b", i), "")
			wantB = append(wantB, fmt.Sprint("b", i))
		} else {
			mustPublish(t, s, "mon.a", fmt.Sprint("a", i), "")
		}
	}
	got, err := s.Last(ctx, "mon.b", 3)
	if err != nil || strings.Join(datas(got), ",") != strings.Join(wantB[len(wantB)-3:], ",") {
		t.Errorf("Last(mon.b, 3) = %v, %v; want %v", datas(got), err, wantB[len(wantB)-3:])
	}
	got, err = s.Last(ctx, "mon.b", 100)
	if err != nil || strings.Join(datas(got), ",") != strings.Join(wantB, ",") {
		t.Errorf("Last(mon.b, 100) = %v, %v; want all of %v", datas(got), err, wantB)
	}
	got, err = s.Last(ctx, "mon.a", 2)
	if err != nil || strings.Join(datas(got), ",") != "a198,a199" {
		t.Errorf("Last(mon.a, 2) = %v, %v", datas(got), err)
	}
	got, err = s.Read(ctx, ReadOptions{Subject: "mon.b", From: 30})
	if err != nil || strings.Join(datas(got), ",") != strings.Join(wantB[2:], ",") {
		t.Errorf("Read(mon.b from 30) = %v, %v; want %v", datas(got), err, wantB[2:])
	}
	got, err = s.Read(ctx, ReadOptions{Limit: 300})
	if err != nil || len(got) != 200 {
		t.Errorf("Read(all) = %d entries, %v; want 200 across several pulls", len(got), err)
	}
	got, err = s.Read(ctx, ReadOptions{Since: time.Now().Add(time.Hour)})
	if err != nil || len(got) != 0 {
		t.Errorf("Read(since the future) = %v, %v", datas(got), err)
	}
	got, err = s.Read(ctx, ReadOptions{Since: time.Now().Add(-time.Hour), Limit: 1})
	if err != nil || strings.Join(datas(got), ",") != "b0" {
		t.Errorf("Read(since an hour ago, 1) = %v, %v", datas(got), err)
	}
	empty := mustStream(t, e, StreamConfig{Name: "empty", Subjects: []string{"empty"}})
	if got, err := empty.Last(ctx, "", 5); err != nil || len(got) != 0 {
		t.Errorf("Last on an empty stream = %v, %v", got, err)
	}
}

func TestSubscribeInOrderFromSequence(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	mustPublish(t, s, "chat.lobby", "m1", "")
	mustPublish(t, s, "chat.other", "o2", "")
	mustPublish(t, s, "chat.lobby", "m3", "")

	var (
		mu      sync.Mutex
		got     []Msg
		stopped bool
	)
	sub, err := s.Subscribe(ctx, SubscribeOptions{Subject: "chat.lobby", From: 2}, func(m Msg) {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			t.Errorf("delivery after Stop: %q", m.Data)
		}
		got = append(got, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 4; i <= 40; i++ {
		subj := "chat.lobby"
		if i%3 == 0 {
			subj = "chat.other"
		}
		mustPublish(t, s, subj, fmt.Sprint("m", i), "")
	}
	var want []string
	for i := 3; i <= 40; i++ {
		if i%3 != 0 || i == 3 {
			want = append(want, fmt.Sprint("m", i))
		}
	}
	waitFor(t, "the live entries", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	sub.Stop()
	mu.Lock()
	stopped = true
	if fmt.Sprint(datas(got)) != fmt.Sprint(want) {
		t.Errorf("delivered %v\nwant      %v", datas(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Errorf("out of order: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	mu.Unlock()

	// After Stop nothing more arrives: a second subscription sees the next
	// entry, the stopped one must not.
	seen := make(chan Msg, 1)
	sub2, err := s.Subscribe(ctx, SubscribeOptions{}, func(m Msg) { seen <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Stop()
	mustPublish(t, s, "chat.lobby", "after stop", "")
	select {
	case m := <-seen:
		if string(m.Data) != "after stop" {
			t.Errorf("From 0 delivered %q, want only new entries", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a subscription from now did not see a new entry")
	}
}

// A node that starts with other limits than the stream has applies them,
// and says so; one with the same limits says nothing.
func TestStreamLimitsChangeIsLogged(t *testing.T) {
	var log logBuffer
	e, err := Open(ctxT(t), Config{StateDir: t.TempDir(), Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, e) })
	cfg := StreamConfig{Name: "mon", Subjects: []string{"mon.>"}, MaxAge: 10 * time.Minute, MaxMsgs: 100}
	mustStream(t, e, cfg)
	mustStream(t, e, cfg)
	if strings.Contains(log.String(), "stream limits changed") {
		t.Fatalf("same limits logged as a change:\n%s", log.String())
	}
	cfg.MaxAge = 20 * time.Minute
	s := mustStream(t, e, cfg)
	if got := log.String(); !strings.Contains(got, "stream limits changed") || !strings.Contains(got, "max_age 10m0s -> 20m0s") || strings.Contains(got, "max_msgs 100") {
		t.Fatalf("log lacks the change of max_age alone:\n%s", got)
	}
	in, err := s.s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if in.Config.MaxAge != 20*time.Minute {
		t.Errorf("stream max age %v, want the new 20m", in.Config.MaxAge)
	}
}

// TestSubscriptionPullWithoutResponder: a subscription whose first pull
// finds nobody to take it (on a cluster, the new consumer's interest has
// not reached this connection's server yet; here the consumer is deleted
// before it pulls) starts another consumer and delivers, without waiting
// for missed heartbeats (here 28 s, more than the test's 20 s bound, so
// that only the fix can pass).
func TestSubscriptionPullWithoutResponder(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	defer func(hb time.Duration) { subHeartbeat = hb }(subHeartbeat)
	subHeartbeat = 14 * time.Second // the longest the library takes (under half the pull's expiry): 28 s of nothing before it restarts
	hooked := 0
	testHookSubConsumer = func(c jetstream.Consumer) {
		if hooked++; hooked == 1 {
			if err := s.s.DeleteConsumer(ctx, c.CachedInfo().Name); err != nil {
				t.Errorf("delete the first consumer: %v", err)
			}
		}
	}
	defer func() { testHookSubConsumer = nil }()
	got := make(chan Msg, 1)
	sub, err := s.Subscribe(ctx, SubscribeOptions{Subject: "chat.lobby"}, func(m Msg) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	mustPublish(t, s, "chat.lobby", "hello", "")
	select {
	case m := <-got:
		if string(m.Data) != "hello" {
			t.Errorf("delivered %q, want hello", m.Data)
		}
	case <-ctx.Done():
		t.Fatalf("nothing delivered after the first pull found no responder (%d consumers made)", hooked)
	}
}
