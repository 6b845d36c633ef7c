package recording

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
)

func openStore(t *testing.T, e *engine.Engine, o Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	s, err := Open(ctx, e, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

var t0 = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)

func meta(id, user, host string) record.SessionMeta {
	return record.SessionMeta{ID: id, User: user, Role: "operator", Host: host, Node: "n1", Start: t0, Cols: 80, Rows: 24}
}

// session records a short session: output, a resize, input, more output.
func session(t *testing.T, s *Store, m record.SessionMeta) *Recording {
	t.Helper()
	r, err := s.Start(m)
	if err != nil {
		t.Fatal(err)
	}
	r.Output(m.Start.Add(100*time.Millisecond), []byte("$ "))
	r.Input(m.Start.Add(200*time.Millisecond), []byte("echo hi\r"))
	r.Output(m.Start.Add(300*time.Millisecond), []byte("echo hi\r\nhi\r\n"))
	r.Resize(m.Start.Add(400*time.Millisecond), 120, 40)
	r.Output(m.Start.Add(500*time.Millisecond), []byte("$ "))
	r.Close(m.Start.Add(time.Second))
	waitDone(t, r)
	return r
}

func waitDone(t *testing.T, r *Recording) {
	t.Helper()
	select {
	case <-r.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the recording was not stored within 20s")
	}
}

func readCast(t *testing.T, s *Store, id string) (string, Info) {
	t.Helper()
	rc, in, err := s.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), in
}

// TestWriterFormat checks a recording line by line: the header, then one
// event a line with times that never go back; input only with the flag.
func TestWriterFormat(t *testing.T) {
	e := enginetest.Embedded(t)
	for _, input := range []bool{false, true} {
		t.Run(fmt.Sprintf("input=%v", input), func(t *testing.T) {
			s := openStore(t, e, Options{Input: input})
			id := fmt.Sprintf("fmt-%v", input)
			session(t, s, meta(id, "olga", "web1"))
			cast, in := readCast(t, s, id)
			lines := strings.Split(strings.TrimSuffix(cast, "\n"), "\n")
			var h Header
			if err := json.Unmarshal([]byte(lines[0]), &h); err != nil {
				t.Fatalf("header %q: %v", lines[0], err)
			}
			if h.Version != 2 || h.Width != 80 || h.Height != 24 || h.Timestamp != t0.Unix() ||
				h.Env["TERM"] != "xterm-256color" || h.Env["SHELL"] == "" || h.Title != "olga@web1" {
				t.Errorf("header = %+v", h)
			}
			want := []string{
				`[0.100000, "o", "$ "]`,
				`[0.200000, "i", "echo hi\r"]`,
				`[0.300000, "o", "echo hi\r\nhi\r\n"]`,
				`[0.400000, "r", "120x40"]`,
				`[0.500000, "o", "$ "]`,
			}
			if !input {
				want = append(want[:1], want[2:]...)
			}
			if got := lines[1:]; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			last := -1.0
			for _, l := range lines[1:] {
				var ev []any
				if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
					t.Fatalf("event %q: %v", l, err)
				}
				if ts := ev[0].(float64); ts < last {
					t.Errorf("time goes back at %q", l)
				} else {
					last = ts
				}
			}
			if !in.Done || in.User != "olga" || in.Host != "web1" || in.Duration != 1 || in.Size != int64(len(cast)) || in.Input != input {
				t.Errorf("index entry = %+v (cast %d bytes)", in, len(cast))
			}
		})
	}
}

// TestSegmentsAndCap: a recording larger than a segment is stored in
// several and reads back whole; one beyond MaxBytes stops there, marked.
func TestSegmentsAndCap(t *testing.T) {
	e := enginetest.Embedded(t)
	s := openStore(t, e, Options{SegmentBytes: 1024, MaxBytes: 64 << 10, Pending: 1000})
	r, err := s.Start(meta("big", "olga", "web1"))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	line := bytes.Repeat([]byte("x"), 99)
	for i := range 1000 {
		p := append(fmt.Appendf(nil, "%04d", i), line...)
		r.Output(t0.Add(time.Duration(i)*time.Millisecond), p)
		want.Write(p)
	}
	r.Close(t0.Add(2 * time.Second))
	waitDone(t, r)
	cast, in := readCast(t, s, "big")
	if in.Segments < 10 || !in.Truncated || in.Size != int64(len(cast)) || in.Size > 64<<10 {
		t.Fatalf("index entry = %+v, cast %d bytes", in, len(cast))
	}
	var got bytes.Buffer
	sc := bufio.NewScanner(strings.NewReader(cast))
	sc.Scan() // header
	for sc.Scan() {
		var ev [3]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		got.WriteString(ev[2].(string))
	}
	if got.Len() < 50<<10 || !bytes.HasPrefix(want.Bytes(), got.Bytes()) {
		t.Errorf("the output read back (%d bytes) is not the start of what was written", got.Len())
	}
}

// TestTwoNodesAndRestart: two nodes on one engine (a NATS server both are
// clients of) list and read the same recordings, and a restart of the
// server keeps them.
func TestTwoNodesAndRestart(t *testing.T) {
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
	a, b := openStore(t, open(), Options{}), openStore(t, open(), Options{})
	session(t, a, meta("s1", "olga", "web1"))
	session(t, a, meta("s2", "bob", "db1"))
	poll.Until(t, 10*time.Second, "node b lists both recordings", func() bool { return len(b.List(Filter{})) == 2 })
	if got := b.List(Filter{User: "olga"}); len(got) != 1 || got[0].ID != "s1" {
		t.Errorf("b's list of olga's = %+v", got)
	}
	if got := b.List(Filter{Host: "db1"}); len(got) != 1 || got[0].ID != "s2" {
		t.Errorf("b's list of db1's = %+v", got)
	}
	if got := b.List(Filter{Since: t0.Add(time.Second)}); len(got) != 0 {
		t.Errorf("b's list since after both started = %+v", got)
	}
	castA, _ := readCast(t, a, "s1")
	castB, _ := readCast(t, b, "s1")
	if castA != castB || !strings.Contains(castB, "hi") {
		t.Errorf("node b reads %q, node a %q", castB, castA)
	}

	srv.Stop()
	srv.Restart(t)
	c := openStore(t, open(), Options{})
	if got, _ := readCast(t, c, "s1"); got != castA {
		t.Errorf("after a restart: %q, want %q", got, castA)
	}
	if _, err := c.Get(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown id: %v", err)
	}
}

// TestRetention: Keep, KeepBytes and KeepAge each delete the oldest ended
// recordings, segments and index entry.
func TestRetention(t *testing.T) {
	e := enginetest.Embedded(t)
	now := time.Now()
	for _, tc := range []struct {
		name string
		o    Options
		keep int
	}{
		{"count", Options{Keep: 2}, 2},
		{"bytes", Options{KeepBytes: 400}, 1}, // each is 241 bytes
		{"age", Options{KeepAge: time.Hour}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, e, tc.o)
			for _, old := range s.List(Filter{}) {
				s.Delete(context.Background(), old.ID)
			}
			for i := range 3 {
				m := meta(fmt.Sprintf("%s%d", tc.name, i), "olga", "web1")
				m.Start = now.Add(time.Duration(i) * time.Minute)
				if tc.name == "age" && i == 0 {
					m.Start = now.Add(-2 * time.Hour)
				}
				session(t, s, m)
			}
			if _, err := s.Prune(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := s.List(Filter{})
			if len(got) != tc.keep || got[0].ID != tc.name+"2" {
				t.Fatalf("kept %+v, want the newest %d", got, tc.keep)
			}
			if _, _, err := s.objs.Get(context.Background(), segmentName(tc.name+"0", 0)); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("the oldest's segment: %v, want it deleted", err)
			}
		})
	}
}
