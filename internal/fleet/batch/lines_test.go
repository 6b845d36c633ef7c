package batch

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

func TestLineSplitter(t *testing.T) {
	t.Parallel()
	input := []byte("one\ntwo\n\nthree\nlast, no newline")
	want := []string{"one", "two", "", "three", "last, no newline"}
	// Whole, one byte at a time, and in halves: the lines do not depend on
	// how the chunks fall.
	for _, size := range []int{len(input), 1, 2, 3, 7, len(input) / 2} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var s LineSplitter
			var got []string
			for c := range slices.Chunk(input, size) {
				s.Write(1, Stdout, c, func(line []byte) { got = append(got, string(line)) })
				s.Write(2, Stderr, []byte("x"), func([]byte) { t.Error("another host's line") })
			}
			s.Flush(1, func(st Stream, line []byte) {
				if st != Stdout {
					t.Errorf("stream %v", st)
				}
				got = append(got, string(line))
			})
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestLineSplitterMaxLine(t *testing.T) {
	t.Parallel()
	s := LineSplitter{MaxLine: 4}
	var got []string
	s.Write(0, Stdout, []byte("abcdefghij\nxy"), func(line []byte) { got = append(got, string(line)) })
	if !slices.Equal(got, []string{"abcd", "efgh", "ij"}) {
		t.Errorf("got %q", got)
	}
	var rest []byte
	s.Flush(0, func(_ Stream, line []byte) { rest = line })
	if !bytes.Equal(rest, []byte("xy")) || len(s.partial) != 0 {
		t.Errorf("rest %q, held %d", rest, len(s.partial))
	}
}

func TestGather(t *testing.T) {
	t.Parallel()
	var g Gather
	out := func(i int, s string) { g.Add(Event{Type: EventOutput, Index: i, Data: []byte(s)}) }
	fin := func(i int, r Result) { g.Add(Event{Type: EventFinished, Index: i, Result: &r}) }
	out(0, "same\n")
	out(1, "sa")
	out(1, "me\n")
	out(2, "other\n")
	out(3, "same\n")
	fin(1, Result{Status: StatusOK})
	fin(0, Result{Status: StatusOK})
	fin(2, Result{Status: StatusOK})
	fin(3, Result{Status: StatusExit, ExitCode: 1}) // same output, another outcome
	fin(4, Result{Status: StatusRefused})           // no output
	groups := g.Groups()
	want := []struct {
		idx []int
		out string
		msg string
	}{{[]int{1, 0}, "same\n", ""}, {[]int{2}, "other\n", ""}, {[]int{3}, "same\n", "exit status 1"}, {[]int{4}, "", "refused"}}
	if len(groups) != len(want) {
		t.Fatalf("%d groups", len(groups))
	}
	for i, w := range want {
		g := groups[i]
		if !slices.Equal(g.Indexes, w.idx) || string(g.Output) != w.out || g.Message != w.msg {
			t.Errorf("group %d: %v %q %q", i, g.Indexes, g.Output, g.Message)
		}
	}
}
