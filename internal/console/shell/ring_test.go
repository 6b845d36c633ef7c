package shell

import (
	"bytes"
	"testing"
)

func TestRing(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{"empty", 8, nil, ""},
		{"fits", 8, []string{"abc", "de"}, "abcde"},
		{"exact", 4, []string{"ab", "cd"}, "abcd"},
		{"wraps", 4, []string{"abc", "def"}, "cdef"},
		{"wraps twice", 4, []string{"abc", "def", "gh", "i"}, "fghi"},
		{"one big write", 4, []string{"a", "0123456789"}, "6789"},
		{"off", 0, []string{"abc"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.size)
			var all []byte
			for _, w := range tt.writes {
				r.write([]byte(w))
				all = append(all, w...)
			}
			if got := r.bytes(); !bytes.Equal(got, []byte(tt.want)) {
				t.Errorf("bytes() = %q, want %q", got, tt.want)
			}
			if r.total != int64(len(all)) {
				t.Errorf("total %d, want %d", r.total, len(all))
			}
		})
	}
}

func TestRingByteAtATime(t *testing.T) {
	r := newRing(7)
	msg := []byte("the quick brown fox jumps over the lazy dog")
	for i := range msg {
		r.write(msg[i : i+1])
		lo := max(0, i+1-7)
		if got := r.bytes(); !bytes.Equal(got, msg[lo:i+1]) {
			t.Fatalf("after %d bytes: %q, want %q", i+1, got, msg[lo:i+1])
		}
	}
}
