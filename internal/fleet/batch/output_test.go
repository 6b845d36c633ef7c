package batch

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// wholeLines returns the longest prefix of s made of whole lines and at
// most limit bytes long.
func wholeLines(s string, limit int) string {
	n := 0
	for {
		i := strings.IndexByte(s[n:], '\n')
		if i < 0 || n+i+1 > limit {
			return s[:n]
		}
		n += i + 1
	}
}

// TestOutputCapLines: the cap falls between lines. seq's lines cross the
// cap at many places; what is delivered is always whole lines, the line
// that crosses the cap is dropped whole, and the cut is reported once.
func TestOutputCapLines(t *testing.T) {
	t.Parallel()
	var full strings.Builder
	for i := 1; i <= 30000; i++ {
		fmt.Fprintln(&full, i)
	}
	for _, limit := range []int64{1, 5, 100, 1000, 4096, 65536, 100001} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			rec, _ := run(t, t.Context(), Config{MaxOutput: limit}, "local", "seq 1 30000", nil)
			wantStatus(t, rec, StatusOK)
			got, want := rec.output(0, Stdout), wholeLines(full.String(), int(limit))
			if got != want {
				t.Errorf("delivered %d bytes ending %q, want %d ending %q", len(got), tail(got), len(want), tail(want))
			}
			r := rec.result(0)
			if rec.capped[0] != 1 || r.Dropped != int64(full.Len()-len(want)) || r.Stdout != int64(full.Len()) {
				t.Errorf("capped %d, %+v", rec.capped[0], r)
			}
		})
	}
}

func tail(s string) string { return s[max(0, len(s)-12):] }

// TestOutputCapBothStreams: after the cut nothing more is delivered on
// either stream, and each stream's delivered output is whole lines.
func TestOutputCapBothStreams(t *testing.T) {
	t.Parallel()
	const limit = 3000
	rec, _ := run(t, t.Context(), Config{MaxOutput: limit}, "local",
		`i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; done`, nil)
	wantStatus(t, rec, StatusOK)
	out, errs := rec.output(0, Stdout), rec.output(0, Stderr)
	if len(out)+len(errs) > limit || len(out)+len(errs) < limit-20 {
		t.Errorf("delivered %d+%d bytes, cap %d", len(out), len(errs), limit)
	}
	for name, s := range map[string]string{"stdout": out, "stderr": errs} {
		if s != "" && !strings.HasSuffix(s, "\n") {
			t.Errorf("%s ends in a partial line: %q", name, tail(s))
		}
	}
	r := rec.result(0)
	if rec.capped[0] != 1 || r.Dropped != r.Stdout+r.Stderr-int64(len(out)+len(errs)) {
		t.Errorf("capped %d, %+v", rec.capped[0], r)
	}
}

// TestOutputLastLine: a last line without a newline is delivered when the
// command ends if it fits, and dropped whole if it does not.
func TestOutputLastLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit   int64
		want    string
		capped  int
		dropped int64
	}{
		{100, "ab\ncdefgh", 0, 0},
		{9, "ab\ncdefgh", 0, 0},
		{8, "ab\n", 1, 6},
		{2, "", 1, 9},
	}
	for _, tt := range tests {
		rec, _ := run(t, t.Context(), Config{MaxOutput: tt.limit}, "local", `printf 'ab\ncdefgh'`, nil)
		r := rec.result(0)
		if got := rec.output(0, Stdout); got != tt.want || rec.capped[0] != tt.capped || r.Dropped != tt.dropped {
			t.Errorf("cap %d: delivered %q, capped %d, dropped %d; want %q, %d, %d",
				tt.limit, got, rec.capped[0], r.Dropped, tt.want, tt.capped, tt.dropped)
		}
	}
}

// TestOutputLongLine: a line longer than DefaultMaxLine is delivered in
// pieces of that size before its newline comes, as LineSplitter passes it
// on, and the cap falls between pieces.
func TestOutputLongLine(t *testing.T) {
	t.Parallel()
	var delivered bytes.Buffer
	em := &emitter{handle: func(ev Event) {
		if ev.Type == EventOutput {
			delivered.Write(ev.Data)
		}
	}}
	o := &output{em: em, limit: 3 * DefaultMaxLine}
	w := o.writer(Stdout)
	line := bytes.Repeat([]byte("x"), 2*DefaultMaxLine+10)
	w.Write(line[:1000])
	if delivered.Len() != 0 {
		t.Errorf("%d bytes of an unfinished short piece delivered", delivered.Len())
	}
	w.Write(line[1000:])
	if delivered.Len() != 2*DefaultMaxLine {
		t.Errorf("%d bytes of a long line delivered before its newline, want %d", delivered.Len(), 2*DefaultMaxLine)
	}
	w.Write([]byte("\nshort\n"))
	w.Write(bytes.Repeat([]byte("y"), DefaultMaxLine)) // crosses the cap
	o.flush()
	want := string(line) + "\nshort\n"
	if delivered.String() != want || !o.capped || o.dropped != DefaultMaxLine {
		t.Errorf("delivered %d bytes, want %d; capped %v, dropped %d", delivered.Len(), len(want), o.capped, o.dropped)
	}
}
