package deflate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// testInputs are named inputs for round trips: edge sizes, the kinds of
// data that pick each block type, and sizes around the places where a
// Writer splits its work (8 KiB chunks for small windows, 32 KiB for the
// largest, 16Ki tokens per block, 64 KiB stored blocks).
func testInputs() []struct {
	name string
	data []byte
} {
	r := rand.New(rand.NewPCG(1, 1))
	mixed := concat(randBytes(r, 5000), bytes.Repeat([]byte{0}, 10000), jsonMessages(r, 20000), randBytes(r, 3000), englishText(r, 30000))
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'x'}},
		{"three bytes", []byte("abc")},
		{"four equal", []byte("aaaa")},
		{"zeros 300", make([]byte, 300)},
		{"zeros 1 MiB", make([]byte, 1<<20)},
		{"abc repeated", bytes.Repeat([]byte("abc"), 50000)},
		{"short period", bytes.Repeat([]byte("0123456789abcdefg"), 7000)},
		{"random 100", randBytes(r, 100)},
		{"random 100 KiB", randBytes(r, 100<<10)},
		{"json 200 KiB", jsonMessages(r, 200<<10)},
		{"text 100 KiB", englishText(r, 100<<10)},
		{"mixed", mixed},
		{"all byte values", func() []byte {
			p := make([]byte, 256*40)
			for i := range p {
				p[i] = byte(i)
			}
			return p
		}()},
	}
	for _, n := range []int{8<<10 - 1, 8 << 10, 8<<10 + 1, 8<<10 + 256, 16<<10 + 1, 32<<10 + 512, 64<<10 - 1, 64 << 10, 64<<10 + 1} {
		cases = append(cases,
			struct {
				name string
				data []byte
			}{fmt.Sprintf("random %d", n), randBytes(r, n)},
			struct {
				name string
				data []byte
			}{fmt.Sprintf("json %d", n), jsonMessages(r, n)})
	}
	return cases
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range testInputs() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, level := range allLevels {
				for wb := MinWindowBits; wb <= MaxWindowBits; wb++ {
					c := compressAll(t, level, wb, tc.data)
					checkStream(t, c, tc.data, wb)
				}
			}
		})
	}
}

// TestBlockTypes checks that each block type is chosen where it is the
// smallest.
func TestBlockTypes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(2, 2))
	tests := []struct {
		name  string
		data  []byte
		level int
		want  int // index into inflated.blocks
	}{
		{"random is stored", randBytes(r, 50000), 6, 0},
		{"tiny is fixed", []byte("hello, hello"), 6, 1},
		{"text is dynamic", englishText(r, 20000), 6, 2},
		{"level 0 is stored", englishText(r, 20000), NoCompression, 0},
	}
	for _, tc := range tests {
		c := compressAll(t, tc.level, 15, tc.data)
		res := checkStream(t, c, tc.data, 15)
		// The sync marker is a stored block of its own.
		blocks := res.blocks
		blocks[0]--
		for typ, n := range blocks {
			if (n > 0) != (typ == tc.want) {
				t.Errorf("%s: blocks by type %v, want only type %d", tc.name, blocks, tc.want)
			}
		}
	}
}

// TestSplitWrites checks that how input is cut into Writes does not
// change the output.
func TestSplitWrites(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 3))
	data := concat(jsonMessages(r, 70000), randBytes(r, 20000), englishText(r, 60000))
	for _, level := range allLevels {
		for _, wb := range []int{8, 11, 15} {
			want := compressAll(t, level, wb, data)
			for _, chunk := range []int{1, 7, 255, 4096, -1} {
				var buf bytes.Buffer
				w, _ := NewWriter(&buf, level, wb)
				for p := data; len(p) > 0; {
					n := chunk
					if n < 0 {
						n = 1 + r.IntN(10000)
					}
					n = min(n, len(p))
					if m, err := w.Write(p[:n]); m != n || err != nil {
						t.Fatalf("Write = %d, %v", m, err)
					}
					p = p[n:]
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("level %d window %d: writes of %d give other output than one write", level, wb, chunk)
				}
			}
		}
	}
}

// TestFlushes writes messages with a Flush after each, as
// permessage-deflate does with context takeover, and decodes the stream
// as a whole and message by message.
func TestFlushes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 4))
	data := concat(jsonMessages(r, 150000), randBytes(r, 20000), englishText(r, 60000))
	for _, level := range allLevels {
		for _, wb := range []int{8, 9, 12, 15} {
			var buf bytes.Buffer
			w, _ := NewWriter(&buf, level, wb)
			var history []byte
			for p := data; len(p) > 0; {
				n := min(len(p), 1+r.IntN(1<<r.IntN(17)))
				start := buf.Len()
				w.Write(p[:n])
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				msg := buf.Bytes()[start:]
				if !bytes.HasSuffix(msg, []byte{0, 0, 0xff, 0xff}) {
					t.Fatalf("message does not end in a sync marker")
				}
				res, err := inflateWith(history, msg)
				if err != nil || !bytes.Equal(res.out, p[:n]) {
					t.Fatalf("level %d window %d: message of %d bytes does not decode: %v", level, wb, n, err)
				}
				// Matches reach back 32 KiB at most.
				history = append(history, p[:n]...)
				history = history[max(0, len(history)-1<<MaxWindowBits):]
				p = p[n:]
			}
			checkStream(t, buf.Bytes(), data, wb)
		}
	}
}

// TestContextTakeover checks that a message after Flush refers back to
// the one before it, and that after Reset it does not.
func TestContextTakeover(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 5))
	a := jsonMessages(r, 3000)
	for _, level := range allLevels[2:] {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, level, 15)
		w.Write(a)
		w.Flush()
		first := buf.Len()
		w.Write(a)
		w.Flush()
		second := buf.Len() - first
		if second > first/10 {
			t.Errorf("level %d: a repeated message takes %d bytes after %d: no context takeover", level, second, first)
		}
		checkStream(t, buf.Bytes(), concat(a, a), 15)

		// After Reset the same message must decode on its own, exactly as
		// a new Writer would have written it.
		var fresh bytes.Buffer
		w.Reset(&fresh)
		w.Write(a)
		w.Flush()
		if got, err := stdInflate(fresh.Bytes()); err != nil || !bytes.Equal(got, a) {
			t.Fatalf("level %d: message after Reset does not decode alone: %v", level, err)
		}
		if want := compressAll(t, level, 15, a); !bytes.Equal(fresh.Bytes(), want) {
			t.Errorf("level %d: output after Reset differs from a new Writer's", level)
		}
	}
}

// TestResetDiscards checks that Reset drops input that was written but
// not flushed, and a write error.
func TestResetDiscards(t *testing.T) {
	t.Parallel()
	w, _ := NewWriter(errWriter{}, 6, 15)
	w.Write(make([]byte, 100000))
	if err := w.Flush(); err == nil {
		t.Fatal("Flush to a failing writer succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after a failed write succeeded")
	}
	var buf bytes.Buffer
	w.Reset(&buf)
	w.Write([]byte("dropped"))
	w.Reset(&buf)
	w.Write([]byte("kept"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	checkStream(t, buf.Bytes(), []byte("kept"), 15)
}

type errWriter struct{}

var errBroken = errors.New("broken")

func (errWriter) Write([]byte) (int, error) { return 0, errBroken }

// TestResetOutput moves a stream from one destination to another between
// messages; the second part decodes only with the first as history.
func TestResetOutput(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(6, 6))
	a := jsonMessages(r, 5000)
	var one, two bytes.Buffer
	w, _ := NewWriter(&one, 1, 15)
	w.Write(a)
	w.Flush()
	w.ResetOutput(&two)
	w.Write(a)
	w.Flush()
	if two.Len() > one.Len()/10 {
		t.Errorf("second message takes %d bytes after %d: history lost", two.Len(), one.Len())
	}
	res, err := inflateWith(a, two.Bytes())
	if err != nil || !bytes.Equal(res.out, a) {
		t.Fatalf("second part does not decode after the first: %v", err)
	}
}

func TestNewWriterErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ level, wb int }{{-3, 15}, {10, 15}, {1, 7}, {1, 16}, {6, 0}} {
		if _, err := NewWriter(io.Discard, tc.level, tc.wb); err == nil {
			t.Errorf("NewWriter(level %d, window bits %d) succeeded", tc.level, tc.wb)
		}
	}
	if _, err := NewWriter(io.Discard, DefaultCompression, 15); err != nil {
		t.Errorf("DefaultCompression: %v", err)
	}
}

// TestRebase runs streams across the point where stream positions go back
// to zero.
func TestRebase(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	data := concat(jsonMessages(r, 200000), englishText(r, 100000))
	for _, level := range []int{1, 2, 6} {
		for _, wb := range []int{8, 15} {
			var buf bytes.Buffer
			w, _ := NewWriter(&buf, level, wb)
			w.base = rebaseAt - 100000
			w.hist = w.base
			for p := data; len(p) > 0; {
				n := min(len(p), 1+r.IntN(20000))
				w.Write(p[:n])
				w.Flush()
				p = p[n:]
			}
			if w.base >= rebaseAt || w.base > 1<<20 {
				t.Fatalf("base %d: positions were not brought back", w.base)
			}
			checkStream(t, buf.Bytes(), data, wb)

			// And across a Reset that crosses it.
			buf.Reset()
			w.base = rebaseAt - 10
			w.Reset(&buf)
			w.Write(data[:50000])
			w.Flush()
			checkStream(t, buf.Bytes(), data[:50000], wb)
		}
	}
}

// TestLongStream pushes several MiB through each level in uneven writes
// and flushes, so that the buffer slides many times.
func TestLongStream(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 8))
	var parts [][]byte
	for range 12 {
		switch r.IntN(3) {
		case 0:
			parts = append(parts, jsonMessages(r, r.IntN(500000)))
		case 1:
			parts = append(parts, englishText(r, r.IntN(300000)))
		default:
			parts = append(parts, randBytes(r, r.IntN(100000)))
		}
	}
	data := concat(parts...)
	for _, level := range allLevels {
		wb := MinWindowBits + r.IntN(8)
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, level, wb)
		for p := data; len(p) > 0; {
			n := min(len(p), r.IntN(100000))
			w.Write(p[:n])
			if r.IntN(3) == 0 {
				w.Flush()
			}
			p = p[n:]
		}
		w.Flush()
		checkStream(t, buf.Bytes(), data, wb)
	}
}
