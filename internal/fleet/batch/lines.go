package batch

import "bytes"

// DefaultMaxLine is the longest line a LineSplitter holds back by default.
const DefaultMaxLine = 64 << 10

// LineSplitter cuts the output chunks of many hosts into whole lines, each
// host and stream apart: what a pdsh-style "host: line" display needs.
// Feed it from the event handler; it is not safe for concurrent use.
type LineSplitter struct {
	// MaxLine is the longest line held back waiting for its end; a longer
	// one is passed on in pieces of MaxLine bytes. 0 means DefaultMaxLine.
	MaxLine int

	partial map[lineKey][]byte
}

type lineKey struct {
	index  int
	stream Stream
}

// Write adds a chunk of host index's stream and calls fn with each line it
// completes, without the '\n'.
func (s *LineSplitter) Write(index int, stream Stream, data []byte, fn func(line []byte)) {
	max := s.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	if s.partial == nil {
		s.partial = map[lineKey][]byte{}
	}
	k := lineKey{index, stream}
	buf := append(s.partial[k], data...)
	for {
		if i := bytes.IndexByte(buf[:min(len(buf), max+1)], '\n'); i >= 0 {
			fn(buf[:i])
			buf = buf[i+1:]
		} else if len(buf) >= max {
			fn(buf[:max]) // too long: pass it on in pieces
			buf = buf[max:]
		} else {
			break
		}
	}
	if len(buf) == 0 {
		delete(s.partial, k)
		return
	}
	s.partial[k] = append([]byte(nil), buf...)
}

// Flush calls fn with what is left of host index's streams, a last line
// without its '\n', and forgets the host. Call it on EventFinished.
func (s *LineSplitter) Flush(index int, fn func(stream Stream, line []byte)) {
	for _, st := range []Stream{Stdout, Stderr} {
		k := lineKey{index, st}
		if rest, ok := s.partial[k]; ok {
			fn(st, rest)
			delete(s.partial, k)
		}
	}
}
