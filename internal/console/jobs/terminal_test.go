package jobs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// terminalTests are lines a host may print and what the console's terminal
// gets of them: colors, and nothing that moves, erases, retitles or hides.
var terminalTests = []struct {
	name, in, want string
}{
	{"plain", "hello\tworld", "hello\tworld"},
	{"unicode", "héllo wörld 🚀 \u00a0\u00a9", "héllo wörld 🚀 \u00a0\u00a9"},
	{"not UTF-8", "bad \xff byte", "bad \uFFFD byte"},
	{"a lone 8-bit CSI byte is not UTF-8", "\x9b2J", "\uFFFD2J"},
	{"red", "\x1b[31mERROR\x1b[0m", "\x1b[31mERROR\x1b[0m"},
	{"reset with no parameter", "\x1b[mx", "\x1b[mx"},
	{"empty parameters", "\x1b[;1;;31mx", "\x1b[;1;;31mx"},
	{"256 colors", "\x1b[38;5;196mx\x1b[48;5;8my", "\x1b[38;5;196mx\x1b[48;5;8my"},
	{"true color", "\x1b[38;2;8;5;6;48;2;1;2;3mx", "\x1b[38;2;8;5;6;48;2;1;2;3mx"},
	{"colon sub-parameters", "\x1b[4:3;58:2::255:0:0mx", "\x1b[4:3;58:2::255:0:0mx"},
	{"8-bit CSI color written as 7-bit", "\u009b32mok", "\x1b[32mok"},
	{"conceal", "\x1b[8msecret\x1b[28m", "secret\x1b[28m"},
	{"conceal among colors", "\x1b[1;8;31mx", "\x1b[1;31mx"},
	{"conceal with a leading zero", "\x1b[08mx", "x"},
	{"conceal with a sub-parameter", "\x1b[8:1;32mx", "\x1b[32mx"},
	{"blink", "\x1b[5mx\x1b[6;33my", "x\x1b[33my"},
	{"private SGR-like", "\x1b[>4;1mx\x1b[?25l", "x"},
	{"intermediate before m", "\x1b[1 mx", "x"},
	{"erase and home", "\x1b[2J\x1b[H\x1b[3Jx", "x"},
	{"cursor up, erase line", "\x1b[A\x1b[2K\x1b[Gforged", "forged"},
	{"8-bit cursor up, erase line, green", "\u009bA\u009b2K\u009bG\u009b32mdisk check passed\u009b0m",
		"\x1b[32mdisk check passed\x1b[0m"},
	{"8-bit CSI cut short by a letter", "\u009b3é1m", "é1m"},
	{"CSI cut short by a control", "\x1b[3\x07x", "x"},
	{"CSI at the end", "x\x1b[12;", "x"},
	{"title, BEL", "\x1b]0;pwned\x07after", "after"},
	{"title, ST", "\x1b]2;pwned\x1b\\after", "after"},
	{"8-bit title, 8-bit ST", "\u009d0;pwned\u009cafter", "after"},
	{"8-bit title, BEL", "\u009d0;pwned\x07after", "after"},
	{"clipboard", "\x1b]52;c;ZXZpbA==\x07x", "x"},
	{"hyperlink keeps its text", "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click"},
	{"unterminated string", "a\x1b]0;rest of the line", "a"},
	{"string ended by another escape", "\x1b]0;t\x1b[31mx", "\x1b[31mx"},
	{"DCS", "\x1bPq#0;2;0;0;0\x1b\\x", "x"},
	{"8-bit DCS, SOS, PM, APC", "\u0090q\u009ca\u0098s\u009cb\u009ep\u009cc\u009fa\u009cd", "abcd"},
	{"APC, PM, SOS", "\x1b_a\x1b\\x\x1b^p\x1b\\y\x1bXs\x1b\\z", "xyz"},
	{"reset the terminal", "\x1bcafter", "after"},
	{"save and restore the cursor", "\x1b7x\x1b8", "x"},
	{"charset", "\x1b(0lqk\x1b(B", "lqk"},
	{"screen alignment test", "\x1b#8x", "x"},
	{"ESC at the end", "x\x1b", "x"},
	{"ESC before ESC", "\x1b\x1b[31mx", "\x1b[31mx"},
	{"ESC before a non-ASCII letter", "\x1bé", "é"},
	{"carriage return and backspace", "50%\r100%\b\b", "50%100%"},
	{"C0 and DEL", "a\x00b\x07c\x7fd\x0be", "abcde"},
	{"C1 controls", "a\u0080b\u0084c\u0085d\u008de\u009cf", "abcdef"},
}

func TestTerminalText(t *testing.T) {
	t.Parallel()
	for _, tt := range terminalTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := terminalText([]byte(tt.in)); got != tt.want {
				t.Errorf("terminalText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := terminalString(tt.in); got != tt.want {
				t.Errorf("terminalString(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkTerminalSafe(t, []byte(tt.in), tt.want)
		})
	}
}

// FuzzTerminalText: whatever a host prints, the terminal gets valid UTF-8
// with no control but tab and the ESC of an SGR sequence that neither
// blinks nor conceals; filtering twice is filtering once; and the fast
// path for plain lines agrees with the filter.
func FuzzTerminalText(f *testing.F) {
	for _, tt := range terminalTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkTerminalSafe(t, b, terminalText(b))
	})
}

// checkTerminalSafe checks out, what terminalText made of in.
func checkTerminalSafe(t *testing.T, in []byte, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%q: %q is not UTF-8", in, out)
	}
	if len(out) > 3*len(in) {
		t.Fatalf("%q: %d bytes out of %d", in, len(out), len(in))
	}
	for i, r := range out {
		switch {
		case r == 0x1b:
			checkSGR(t, in, out[i:])
		case r < 0x20 && r != '\t', r >= 0x7f && r <= 0x9f:
			t.Fatalf("%q: %q holds control %U at %d", in, out, r, i)
		}
	}
	if again := terminalText([]byte(out)); again != out {
		t.Fatalf("%q: filtered %q, and again %q", in, out, again)
	}
	if plainText(in) {
		if slow := filterTerminal(in); slow != string(in) {
			t.Fatalf("%q passed as plain, but the filter makes %q of it", in, slow)
		}
	}
}

// checkSGR checks that s begins with an SGR sequence (ESC [ params m) with
// no parameter that blinks or conceals: 5, 6 or 8, but for the arguments
// of an extended color (38;5;8 is a color).
func checkSGR(t *testing.T, in []byte, s string) {
	t.Helper()
	end := strings.IndexByte(s, 'm')
	if !strings.HasPrefix(s, "\x1b[") || end < 0 || strings.Trim(s[2:end], "0123456789;:") != "" {
		t.Fatalf("%q: ESC that does not begin an SGR sequence: %q", in, s)
	}
	fields := strings.Split(s[2:end], ";")
	for k := 0; k < len(fields); k++ {
		main, _, colon := strings.Cut(fields[k], ":")
		main = strings.TrimLeft(main, "0")
		switch main {
		case "5", "6", "8":
			t.Fatalf("%q: SGR parameter %s kept in %q", in, fields[k], s[:end+1])
		case "38", "48", "58":
			if !colon && k+1 < len(fields) {
				switch strings.TrimLeft(fields[k+1], "0") {
				case "5":
					k += 2
				case "2":
					k += 4
				}
			}
		}
	}
}

func BenchmarkTerminalText(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"plain", strings.Repeat("the quick brown fox jumps ", 4)},
		{"colored", strings.Repeat("\x1b[32mok\x1b[0m the quick brown fox ", 4)},
	} {
		line := []byte(bc.line)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				terminalText(line)
			}
		})
	}
}
