package jobs

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Control characters the filter knows by name. The C1 controls are
// Unicode code points (U+0080-U+009F, two bytes in UTF-8): xterm.js, which
// decodes before it parses, obeys them as it obeys their 7-bit forms
// (U+009B is ESC [, U+009D is ESC ]).
const (
	ctlBEL = 0x07
	ctlESC = 0x1b
	ctlDEL = 0x7f
	c1DCS  = 0x90 // ESC P
	c1SOS  = 0x98 // ESC X
	c1CSI  = 0x9b // ESC [
	c1ST   = 0x9c // ESC \
	c1OSC  = 0x9d // ESC ]
	c1PM   = 0x9e // ESC ^
	c1APC  = 0x9f // ESC _
)

// terminalText makes a line of a host's output safe for the console's
// shared terminal, for every viewer and in replays: a host may color its
// own text, and nothing else.
//
//   - SGR sequences (ESC [ params m, or with the C1 CSI) are kept, written
//     as ESC [ params m, but for the parameters that hide text: 8
//     (conceal), 5 and 6 (blink). A sequence left with no parameter is
//     dropped whole (ESC [ m would be a reset).
//   - Every other escape sequence and control string is dropped whole:
//     CSI (cursor moves, erasing, modes), OSC (titles, the clipboard,
//     hyperlinks), DCS, SOS, PM and APC, in their 7-bit and C1 forms, and
//     ESC with intermediates or a final byte (ESC c resets the terminal).
//     An unterminated string runs to the end of the line.
//   - C0 controls but tab, DEL and the C1 controls U+0080-U+009F are
//     dropped.
//   - Bytes that are not UTF-8 become U+FFFD. Lines are whole, so a
//     character is never split between two of them (but for lines cut at
//     batch.DefaultMaxLine).
//
// The result is valid UTF-8, holds no control character but tab and the
// ESC of the SGR sequences kept, and filtering it again changes nothing.
// The page filters what it shows too, as a second line of defence.
func terminalText(b []byte) string {
	if plainText(b) {
		return string(b)
	}
	return filterTerminal(b)
}

// filterTerminal is terminalText's work on a line that needs it.
func filterTerminal(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		i += n
		switch {
		case r == ctlESC:
			i = escape(&out, b, i)
		case r == c1CSI:
			i = csi(&out, b, i)
		case r == c1OSC, r == c1DCS, r == c1SOS, r == c1PM, r == c1APC:
			i = controlString(b, i)
		case r < 0x20 && r != '\t', r >= ctlDEL && r <= c1APC:
			// dropped
		case r == utf8.RuneError && n == 1:
			out.WriteString("\uFFFD")
		default:
			out.Write(b[i-n : i])
		}
	}
	return out.String()
}

// terminalString is terminalText for a string: a result's error or a
// warning, which the page shows in the terminal too.
func terminalString(s string) string {
	if plainText([]byte(s)) {
		return s
	}
	return terminalText([]byte(s))
}

// plainText reports whether b is valid UTF-8 with no control character but
// tab: the common line, which terminalText returns as it is.
func plainText(b []byte) bool {
	ascii := true
	for i, c := range b {
		switch {
		case c < 0x20 && c != '\t', c == ctlDEL:
			return false
		case c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f: // U+0080-U+009F
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// escape reads what follows an ESC, from b[i], and returns where the text
// resumes. An ESC followed by nothing it can begin is dropped alone.
func escape(out *strings.Builder, b []byte, i int) int {
	if i == len(b) {
		return i
	}
	switch c := b[i]; {
	case c == '[':
		return csi(out, b, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return controlString(b, i+1)
	case c >= 0x20 && c <= 0x2f: // intermediates (ESC ( B, ESC # 8), then a final
		for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f {
			i++
		}
		if i < len(b) && b[i] >= 0x30 && b[i] <= 0x7e {
			i++
		}
		return i
	case c >= 0x30 && c <= 0x7e: // ESC 7, ESC c, ESC M, ...
		return i + 1
	}
	return i
}

// csi reads a control sequence whose introducer ends before b[i], keeps it
// if it is SGR, and returns where the text resumes. A sequence cut short
// (by the end of the line, or a byte that cannot be in it) is dropped up to
// there.
func csi(out *strings.Builder, b []byte, i int) int {
	start := i
	for i < len(b) && b[i] >= 0x30 && b[i] <= 0x3f { // parameters
		i++
	}
	params := b[start:i]
	for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f { // intermediates
		i++
	}
	if i == len(b) || b[i] < 0x40 || b[i] > 0x7e {
		return i
	}
	if b[i] == 'm' && i-start == len(params) && isSGRParams(params) {
		sgr(out, params)
	}
	return i + 1
}

// isSGRParams reports whether p holds only what SGR parameters are made
// of: digits, ';' and ':' (not the private markers < = > ?).
func isSGRParams(p []byte) bool {
	for _, c := range p {
		if (c < '0' || c > '9') && c != ';' && c != ':' {
			return false
		}
	}
	return true
}

// sgr writes the SGR sequence with params, less the parameters that hide
// text. The arguments of an extended color (38;5;N, 48;2;R;G;B, 58;...)
// are not parameters of their own: 38;5;8 is color 8, not conceal.
func sgr(out *strings.Builder, params []byte) {
	if len(params) == 0 {
		out.WriteString("\x1b[m")
		return
	}
	fields := bytes.Split(params, []byte(";"))
	kept := 0
	for k := 0; k < len(fields); k++ {
		f := fields[k]
		main, _, sub := bytes.Cut(f, []byte(":"))
		args := 0
		switch sgrNumber(main) {
		case 5, 6, 8: // blink, rapid blink, conceal
			continue
		case 38, 48, 58:
			if !sub && k+1 < len(fields) {
				switch sgrNumber(fields[k+1]) {
				case 5:
					args = 2
				case 2:
					args = 4
				}
				args = min(args, len(fields)-1-k)
			}
		}
		for _, g := range fields[k : k+1+args] {
			if kept == 0 {
				out.WriteString("\x1b[")
			} else {
				out.WriteByte(';')
			}
			out.Write(g)
			kept++
		}
		k += args
	}
	if kept > 0 {
		out.WriteByte('m')
	}
}

// sgrNumber reads an SGR parameter: empty is 0, and a value too large to
// mean anything saturates.
func sgrNumber(p []byte) int {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return -1
		}
		n = min(n*10+int(c-'0'), 1<<20)
	}
	return n
}

// controlString skips a control string (OSC, DCS, SOS, PM, APC) whose
// introducer ends before b[i], through its terminator: BEL, ESC \ or the
// C1 ST. An ESC that does not begin ST ends it too, and is read again.
func controlString(b []byte, i int) int {
	for i < len(b) {
		switch {
		case b[i] == ctlBEL:
			return i + 1
		case b[i] == ctlESC:
			if i+1 < len(b) && b[i+1] == '\\' {
				return i + 2
			}
			return i
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] == c1ST:
			return i + 2
		}
		i++
	}
	return i
}
