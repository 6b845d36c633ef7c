package recording

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
)

// TestNodeDies: two nodes on one engine; node a records a session and
// dies (its engine connection gone, the recording never closed). While a
// heartbeats, node b leaves the recording alone; once a has stopped, b
// marks it interrupted, ended as what a had stored: the output flushed
// before the death, its size and duration those of the stored segments;
// b's Options.Interrupted hears of it.
func TestNodeDies(t *testing.T) {
	srv := enginetest.Start(t, t.TempDir())
	open := func() *engine.Engine {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		e, err := engine.Open(ctx, engine.Config{URLs: []string{srv.URL()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e.Shutdown(ctx)
		})
		return e
	}
	const beat = 100 * time.Millisecond
	ea := open()
	a := openStore(t, ea, Options{Heartbeat: beat, Flush: beat})
	told := make(chan Info, 2)
	b := openStore(t, open(), Options{Heartbeat: beat, Interrupted: func(in Info) { told <- in }}) // Lapse: 3 beats

	m := meta("dies", "olga", "web1")
	m.Start = time.Now()
	r, err := a.Start(m)
	if err != nil {
		t.Fatal(err)
	}
	r.Output(m.Start.Add(500*time.Millisecond), []byte("before\r\n"))
	entry := func() Info {
		for _, in := range b.List(Filter{}) {
			if in.ID == "dies" {
				return in
			}
		}
		return Info{}
	}
	poll.Until(t, 10*time.Second, "node b reads the output a flushed", func() bool {
		cast, _ := readCast(t, b, "dies")
		return strings.Contains(cast, "before")
	})
	// Alive: a's heartbeats go on for several lapses and b marks nothing.
	first := entry().Beat
	poll.Until(t, 10*time.Second, "a heartbeating for 3 lapses, as b sees it", func() bool {
		in := entry()
		if in.Done {
			t.Fatalf("node b marked a live recording ended: %+v", in)
		}
		return in.Beat.Sub(first) > 9*beat
	})

	// a dies: no more heartbeats, and no Close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ea.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "node b marks the recording interrupted", func() bool { return entry().Interrupted })
	cast, in := readCast(t, b, "dies")
	if !in.Done || !in.Interrupted || in.Size != int64(len(cast)) || in.Segments != 1 || in.Duration != 0.5 || in.End.IsZero() || in.End.Before(in.Start) {
		t.Errorf("index entry = %+v, cast %d bytes", in, len(cast))
	}
	if lines := strings.Split(strings.TrimSuffix(cast, "\n"), "\n"); len(lines) != 2 || lines[1] != `[0.500000, "o", "before\r\n"]` {
		t.Errorf("the interrupted recording reads back as %q", cast)
	}
	select {
	case got := <-told:
		if got.ID != "dies" || !got.Interrupted || got.User != "olga" || got.Host != "web1" {
			t.Errorf("Options.Interrupted was given %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("Options.Interrupted was not called within 10s")
	}
}

// TestRestartAfterDeath: the only node (an embedded engine) dies while
// recording; started again on its state directory, it marks the recording
// interrupted, as what was stored.
func TestRestartAfterDeath(t *testing.T) {
	dir := t.TempDir()
	open := func() *engine.Engine {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		e, err := engine.Open(ctx, engine.Config{StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e.Shutdown(ctx)
		})
		return e
	}
	const beat = 100 * time.Millisecond
	e1 := open()
	a := openStore(t, e1, Options{Heartbeat: beat, Flush: beat})
	m := meta("restart", "olga", "web1")
	m.Start = time.Now()
	r, err := a.Start(m)
	if err != nil {
		t.Fatal(err)
	}
	r.Output(m.Start.Add(time.Second), []byte("kept\r\n"))
	poll.Until(t, 10*time.Second, "the output stored", func() bool {
		cast, _ := readCast(t, a, "restart")
		return strings.Contains(cast, "kept")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e1.Shutdown(ctx); err != nil { // the node dies: no Close
		t.Fatal(err)
	}

	b := openStore(t, open(), Options{Heartbeat: beat, Lapse: 2 * time.Second})
	if in, err := b.Get(context.Background(), "restart"); err != nil || in.Done {
		t.Fatalf("after the restart, before a lapse: %+v, %v; want it in progress", in, err)
	}
	poll.Until(t, 10*time.Second, "the restarted node marks it interrupted", func() bool {
		in, err := b.Get(context.Background(), "restart")
		return err == nil && in.Interrupted
	})
	cast, in := readCast(t, b, "restart")
	if !in.Done || in.Size != int64(len(cast)) || in.Duration != 1 || !strings.HasSuffix(cast, `[1.000000, "o", "kept\r\n"]`+"\n") {
		t.Errorf("index entry = %+v, cast %q", in, cast)
	}
}

// TestLastEventTime: the time of a segment's last event line, past a
// header and blank lines; 0 with none.
func TestLastEventTime(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		want float64
	}{
		{"", 0},
		{`{"version": 2, "width": 80, "height": 24}` + "\n", 0},
		{`{"version": 2}` + "\n" + `[0.250000, "o", "a"]` + "\n", 0.25},
		{`[1.000000, "o", "a"]` + "\n" + `[2.500000, "r", "80x24"]` + "\n\n", 2.5},
		{`[1.000000, "o", "a"]` + "\n" + `[not json` + "\n", 1},
	} {
		if got := lastEventTime([]byte(tc.seg)); got != tc.want {
			t.Errorf("lastEventTime(%q) = %v, want %v", tc.seg, got, tc.want)
		}
	}
}
