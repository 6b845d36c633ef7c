package recording

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Header is an asciicast v2 header line.
type Header struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Env       map[string]string `json:"env,omitempty"`
	Title     string            `json:"title,omitempty"`
}

// Event kinds of asciicast v2.
const (
	KindOutput = "o"
	KindInput  = "i"
	KindResize = "r"
)

// encoder turns a session's stream into asciicast v2 lines. It is not safe
// for concurrent use.
type encoder struct {
	start time.Time
	last  float64 // seconds of the last event: times never go back
	carry map[string][]byte
}

func newEncoder(start time.Time) *encoder {
	return &encoder{start: start, carry: map[string][]byte{}}
}

// header returns h's line, ending in a newline.
func (e *encoder) header(h Header) []byte {
	h.Version = 2
	h.Timestamp = e.start.Unix()
	b, _ := json.Marshal(h) // a struct of strings and ints: cannot fail
	return append(b, '\n')
}

// seconds returns t as seconds since the start, never less than the
// last event's.
func (e *encoder) seconds(t time.Time) float64 {
	s := t.Sub(e.start).Seconds()
	if s < e.last {
		s = e.last
	}
	e.last = s
	return s
}

// data returns the line of an output or input event of p, or nil when p
// holds only the start of a UTF-8 sequence (kept for the next call of the
// same kind: a character split between two writes is recorded whole).
func (e *encoder) data(t time.Time, kind string, p []byte) []byte {
	buf := append(e.carry[kind], p...)
	cut := completeUTF8(buf)
	e.carry[kind] = append([]byte(nil), buf[cut:]...)
	if cut == 0 {
		return nil
	}
	return e.line(t, kind, string(buf[:cut]))
}

// resize returns the line of a resize event.
func (e *encoder) resize(t time.Time, cols, rows int) []byte {
	return e.line(t, KindResize, fmt.Sprintf("%dx%d", cols, rows))
}

func (e *encoder) line(t time.Time, kind, s string) []byte {
	b := make([]byte, 0, len(s)+32)
	b = append(b, '[')
	b = strconv.AppendFloat(b, e.seconds(t), 'f', 6, 64)
	b = append(b, ", \""...)
	b = append(b, kind...)
	b = append(b, "\", "...)
	q, _ := json.Marshal(s) // a string: cannot fail; invalid UTF-8 becomes U+FFFD
	b = append(b, q...)
	return append(b, "]\n"...)
}

// completeUTF8 returns the length of p without a trailing incomplete UTF-8
// sequence (at most 3 bytes that could still become one character).
func completeUTF8(p []byte) int {
	for i := 1; i <= 3 && i <= len(p); i++ {
		c := p[len(p)-i]
		if c < 0x80 { // ASCII: nothing pending
			return len(p)
		}
		if c >= 0xC0 { // a leading byte: is its sequence whole?
			need := 2
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			}
			if i < need && !utf8.FullRune(p[len(p)-i:]) {
				return len(p) - i
			}
			return len(p)
		}
	}
	return len(p)
}
