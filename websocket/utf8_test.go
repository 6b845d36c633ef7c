package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// utf8Cases are valid and invalid UTF-8, at the edges of each sequence
// length and of each byte's allowed range (Unicode 15, table 3-7).
var utf8Cases = []struct {
	name string
	s    string
}{
	{"empty", ""},
	{"ascii", "Hello, world"},
	{"2-byte", "é"},
	{"3-byte", "€"},
	{"4-byte", "𝄞"},
	{"mixed", "κόσμε aé€𝄞 日本語 🙂"},
	{"U+0080", "\xc2\x80"},
	{"U+07FF", "\xdf\xbf"},
	{"U+0800", "\xe0\xa0\x80"},
	{"U+D7FF", "\xed\x9f\xbf"},
	{"U+E000", "\xee\x80\x80"},
	{"U+FFFD", "\xef\xbf\xbd"},
	{"U+FFFF", "\xef\xbf\xbf"},
	{"U+10000", "\xf0\x90\x80\x80"},
	{"U+10FFFF", "\xf4\x8f\xbf\xbf"},

	{"F5", "\xf5"},
	{"FF", "\xff"},
	{"ascii-then-FE", "abc\xfe"},
	{"overlong-C0-80", "\xc0\x80"},
	{"overlong-C1-BF", "\xc1\xbf"},
	{"overlong-E0-80-80", "\xe0\x80\x80"},
	{"overlong-E0-9F-BF", "\xe0\x9f\xbf"},
	{"overlong-F0-80-80-80", "\xf0\x80\x80\x80"},
	{"overlong-F0-8F-BF-BF", "\xf0\x8f\xbf\xbf"},
	{"surrogate-ED-A0-80", "\xed\xa0\x80"},
	{"surrogate-ED-BF-BF", "\xed\xbf\xbf"},
	{"surrogate-pair", "\xed\xa0\x80\xed\xb0\x80"},
	{"over-10FFFF", "\xf4\x90\x80\x80"},
	{"lone-continuation", "\x80"},
	{"continuation-after-ascii", "a\xbf"},
	{"too-many-continuations", "\xc3\xa9\x80"},
	{"missing-continuation", "\xe2\x28\xa1"},
	{"missing-continuation-4", "\xf0\x28\x8c\xbc"},
	{"valid-then-FF", "κόσμε\xff"},
	{"truncated-2", "\xc3"},
	{"truncated-3", "\xe2\x82"},
	{"truncated-4", "\xf0\x9f\x98"},
	{"text-then-truncated", "abc\xe2\x82"},
	{"truncated-then-ascii", "\xe2\x82a"},
}

// utf8Completions are the first bytes that could follow an incomplete
// sequence: the ends of the ranges a second byte may take.
var utf8Completions = []byte{0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf}

// canComplete reports whether p, which starts on a rune boundary, is a
// prefix of some valid UTF-8.
func canComplete(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for _, c := range utf8Completions {
		q := append(p[:len(p):len(p)], c)
		for range 3 {
			if utf8.Valid(q) {
				return true
			}
			q = append(q, 0x80)
		}
	}
	return false
}

// firstBadByte returns the index of the first byte of p at which p stops
// being a prefix of valid UTF-8, or -1 if p is valid or only cut short at
// its end. It is the oracle for failing fast.
func firstBadByte(p []byte) int {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		// An invalid or incomplete sequence starts at i.
		for j := i + 1; j <= min(i+utf8.UTFMax, len(p)); j++ {
			if !canComplete(p[i:j]) {
				return j - 1
			}
		}
		return -1
	}
	return -1
}

// feed writes pieces to a fresh validator. It returns the index of the
// piece whose write failed, or -1 and done().
func feedValidator(pieces ...[]byte) (failed int, done bool) {
	var v utf8Validator
	for i, p := range pieces {
		if !v.write(p) {
			return i, false
		}
	}
	return -1, v.done()
}

// checkSplits checks the validator on s cut at every position into two
// pieces and into one-byte pieces: the result is utf8.Valid's, and a
// write fails exactly when it holds the first bad byte.
func checkSplits(t *testing.T, s []byte) {
	t.Helper()
	valid := utf8.Valid(s)
	bad := firstBadByte(s)
	if valid && bad != -1 {
		t.Fatalf("oracle: %q is valid but firstBadByte = %d", s, bad)
	}
	for i := 0; i <= len(s); i++ {
		failed, done := feedValidator(s[:i], s[i:])
		wantFailed := -1
		switch {
		case bad >= 0 && bad < i:
			wantFailed = 0
		case bad >= i:
			wantFailed = 1
		}
		if failed != wantFailed || (failed == -1 && done != valid) {
			t.Fatalf("%q split at %d: write %d failed, done %v; want write %d to fail (first bad byte %d), valid %v",
				s, i, failed, done, wantFailed, bad, valid)
		}
	}
	pieces := make([][]byte, len(s))
	for i := range s {
		pieces[i] = s[i : i+1]
	}
	failed, done := feedValidator(pieces...)
	if failed != bad || (failed == -1 && done != valid) {
		t.Fatalf("%q byte by byte: write %d failed, done %v; want write %d to fail, valid %v", s, failed, done, bad, valid)
	}
}

func TestUTF8ValidatorSplits(t *testing.T) {
	t.Parallel()
	for _, tt := range utf8Cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkSplits(t, []byte(tt.s))
			// The same after valid text, and followed by more, so that
			// the case is met at every offset of the pieces.
			for _, pre := range []string{"x", "é", "€€", "abc"} {
				checkSplits(t, []byte(pre+tt.s))
				checkSplits(t, []byte(pre+tt.s+"z€"))
			}
		})
	}
}

func TestUTF8ValidatorThreePieces(t *testing.T) {
	t.Parallel()
	for _, tt := range utf8Cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := []byte("é" + tt.s + "𝄞")
			valid := utf8.Valid(s)
			for i := 0; i <= len(s); i++ {
				for j := i; j <= len(s); j++ {
					failed, done := feedValidator(s[:i], s[i:j], s[j:])
					if got := failed == -1 && done; got != valid {
						t.Fatalf("%q cut at %d and %d: valid %v, want %v", s, i, j, got, valid)
					}
				}
			}
		})
	}
}

func TestUTF8ValidatorRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	runes := []rune{'a', 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff}
	for n := range 3000 {
		var b []byte
		for range rng.IntN(12) {
			switch rng.IntN(4) {
			case 0:
				b = append(b, byte(rng.Uint32()))
			case 1:
				b = append(b, byte(0x80+rng.IntN(0x40)))
			default:
				b = utf8.AppendRune(b, runes[rng.IntN(len(runes))])
			}
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) { checkSplits(t, b) })
	}
}

// TestUTF8ValidatorFailFast checks, with hand-counted positions, that an
// invalid sequence is reported on the write of its first wrong byte and
// not later, and that the oracle the other tests use agrees.
func TestUTF8ValidatorFailFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		bad  int // index of the first wrong byte; -1 for a truncated end
	}{
		{"F5", "ab\xf5", 2},
		{"overlong-C0-80", "\xc0\x80", 0},
		{"surrogate-ED-A0-80", "\xed\xa0\x80", 1},
		{"over-10FFFF", "\xf4\x90\x80\x80", 1},
		{"overlong-E0-80", "€\xe0\x80\x80", 4},
		{"missing-continuation", "\xe2\x28", 1},
		{"fifth-byte", "\xf0\x90\x80\x80\x80", 4},
		{"truncated", "abc\xf0\x9f\x98", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := []byte(tt.s)
			if got := firstBadByte(s); got != tt.bad {
				t.Fatalf("oracle: firstBadByte(%q) = %d, want %d", s, got, tt.bad)
			}
			var v utf8Validator
			for i := range s {
				ok := v.write(s[i : i+1])
				if wantOK := i != tt.bad; ok != wantOK {
					t.Fatalf("write of byte %d (%#x) = %v, want %v", i, s[i], ok, wantOK)
				}
				if !ok {
					return
				}
			}
			if v.done() {
				t.Fatalf("done() = true after %q, which ends inside a sequence", s)
			}
			if !v.done() {
				t.Fatal("done() did not reset the validator")
			}
		})
	}
}

// TestUTF8FailFastInsideFrame sends the start of a text frame holding an
// invalid byte and not the rest: a streaming reader reports it and the
// peer gets 1007 although the frame never completes.
func TestUTF8FailFastInsideFrame(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p1, p2 := net.Pipe()
	defer p1.Close()
	server := newConn(p2, nil, false, "", ConnOptions{})
	defer server.CloseNow()

	// A 100-byte text frame of which 10 bytes are sent, the 6th invalid.
	head := rawHeader(byte(opText)|bitFin, 100, rawKey[:])
	partial := rawFrame(0, []byte("hello\xffworl"), rawKey[:])[6:]
	go p1.Write(append(head, partial...))
	closeFrame := make(chan gotFrame, 1)
	go func() {
		f, _ := readRawFrame(p1, maxControlPayload)
		closeFrame <- f
	}()

	typ, r, err := server.Reader(ctx)
	if err != nil || typ != MessageText {
		t.Fatalf("Reader = %v, %v", typ, err)
	}
	_, err = io.ReadAll(r)
	var perr ProtocolError
	if !errors.As(err, &perr) || perr.Code != StatusInvalidFramePayload {
		t.Fatalf("reading the frame: %v, want a ProtocolError with 1007", err)
	}
	select {
	case f := <-closeFrame:
		if f.op() != opClose || f.closeCode() != StatusInvalidFramePayload {
			t.Fatalf("server sent %v with code %v, want a close with 1007", f, f.closeCode())
		}
	case <-ctx.Done():
		t.Fatal("no close frame")
	}
}

func benchText(kind string, n int) []byte {
	unit := "The quick brown fox jumps over the lazy dog. "
	if kind == "mixed" {
		unit = "Grüße, κόσμε, 日本語, 🙂 and some ASCII. "
	}
	b := []byte(strings.Repeat(unit, n/len(unit)+1))
	for !utf8.Valid(b[:n]) {
		n--
	}
	return b[:n]
}

var utf8BenchCases = []struct {
	kind string
	size string
	n    int
}{
	{"ascii", "1KiB", 1 << 10},
	{"ascii", "1MiB", 1 << 20},
	{"mixed", "1KiB", 1 << 10},
	{"mixed", "1MiB", 1 << 20},
}

// BenchmarkUTF8Validator validates each text as a stream of 4 KiB reads,
// as a reader sees it, against utf8.Valid on the whole.
func BenchmarkUTF8Validator(b *testing.B) {
	for _, bc := range utf8BenchCases {
		b.Run(bc.kind+"/"+bc.size, func(b *testing.B) {
			text := benchText(bc.kind, bc.n)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				var v utf8Validator
				for p := text; len(p) > 0; {
					k := min(len(p), 4096)
					if !v.write(p[:k]) {
						b.Fatal("invalid")
					}
					p = p[k:]
				}
				if !v.done() {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func BenchmarkUTF8Valid(b *testing.B) {
	for _, bc := range utf8BenchCases {
		b.Run(bc.kind+"/"+bc.size, func(b *testing.B) {
			text := benchText(bc.kind, bc.n)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if !utf8.Valid(text) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// TestUTF8ValidatorEveryPosition puts a bad byte, and a good two-byte
// rune, at every position of ASCII texts around the ASCII fast path's
// block sizes, and validates them whole and split in two.
func TestUTF8ValidatorEveryPosition(t *testing.T) {
	for _, n := range []int{1, 127, 128, 129, 300} {
		for i := range n {
			for _, tc := range []struct {
				insert []byte
				valid  bool
			}{{[]byte{0xFF}, false}, {[]byte("é"), true}, {[]byte{0xC3}, false}} {
				text := append(bytes.Repeat([]byte("a"), i), tc.insert...)
				text = append(text, bytes.Repeat([]byte("b"), n-i)...)
				for _, split := range []int{len(text), len(text) / 2, i} {
					var v utf8Validator
					ok := v.write(text[:split]) && v.write(text[split:]) && v.done()
					if ok != tc.valid {
						t.Fatalf("n=%d i=%d insert %x split %d: valid %v, want %v", n, i, tc.insert, split, ok, tc.valid)
					}
				}
			}
		}
	}
}
