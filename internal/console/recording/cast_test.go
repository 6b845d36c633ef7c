package recording

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCompleteUTF8(t *testing.T) {
	euro := []byte("€") // 3 bytes
	for _, tc := range []struct {
		name string
		p    []byte
		want int
	}{
		{"empty", nil, 0},
		{"ascii", []byte("ab"), 2},
		{"whole", append([]byte("a"), euro...), 4},
		{"one of three", append([]byte("a"), euro[:1]...), 1},
		{"two of three", append([]byte("a"), euro[:2]...), 1},
		{"stray continuation", []byte{'a', 0x80}, 2},
		{"invalid leader alone", []byte{0xff}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := completeUTF8(tc.p); got != tc.want {
				t.Errorf("completeUTF8(%q) = %d, want %d", tc.p, got, tc.want)
			}
		})
	}
}

func TestEncoderLines(t *testing.T) {
	start := time.Unix(1700000000, 0)
	e := newEncoder(start)
	var h Header
	if err := json.Unmarshal(e.header(Header{Width: 80, Height: 24, Title: "t"}), &h); err != nil {
		t.Fatal(err)
	}
	if h.Version != 2 || h.Width != 80 || h.Height != 24 || h.Timestamp != 1700000000 {
		t.Errorf("header = %+v", h)
	}
	euro := []byte("€")
	if l := e.data(start.Add(time.Second), KindOutput, append([]byte("x"), euro[:2]...)); string(l) != `[1.000000, "o", "x"]`+"\n" {
		t.Errorf("first half: %q", l)
	}
	if l := e.data(start.Add(2*time.Second), KindOutput, euro[2:]); string(l) != `[2.000000, "o", "€"]`+"\n" {
		t.Errorf("the rest of the character: %q", l)
	}
	// A time before the last event's is recorded as the last's: times never go back.
	if l := e.resize(start.Add(time.Millisecond), 100, 30); string(l) != `[2.000000, "r", "100x30"]`+"\n" {
		t.Errorf("resize: %q", l)
	}
	if l := e.data(start.Add(3*time.Second), KindInput, []byte("\"\x03\n")); !strings.Contains(string(l), `"i", "\"\u0003\n"]`) {
		t.Errorf("input: %q", l)
	}
}
