package batch

import (
	"bytes"
	"sync"
	"time"
)

// emitter calls the job's handler, one call at a time.
type emitter struct {
	mu     sync.Mutex
	handle func(Event)
}

func (e *emitter) emit(ev Event) {
	ev.Time = time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handle(ev)
}

// output turns a host's stdout and stderr into events, up to the cap, and
// counts everything. Its two writers may be called concurrently.
//
// The cap falls between lines: output is delivered in whole lines (a
// line longer than DefaultMaxLine in pieces of that size, as
// LineSplitter passes it on), each stream's unfinished line held back
// until its newline or the end of the command. The first line that
// would cross the cap is dropped whole, with everything after it on both
// streams, so no consumer ever shows a fragment as if it were a line.
type output struct {
	em    *emitter
	index int
	host  string
	limit int64

	mu      sync.Mutex // serialises the writers, so the events of a host stay ordered
	kept    int64      // guarded by mu: bytes delivered
	n       [3]int64   // guarded by mu: bytes written, by Stream
	dropped int64      // guarded by mu
	capped  bool       // guarded by mu: EventCapped sent
	done    bool       // guarded by mu: flushed; later writes are counted and dropped
	partial [3][]byte  // guarded by mu: each Stream's unfinished line, held back
}

// writer returns the io.Writer for stream s.
func (o *output) writer(s Stream) streamWriter { return streamWriter{o, s} }

type streamWriter struct {
	o *output
	s Stream
}

// Write delivers the whole lines that fit under the cap as an
// EventOutput, holds back an unfinished line, and counts the rest. It
// never fails: the command is not to be disturbed by the cap.
func (w streamWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[w.s] += int64(len(p))
	if o.capped || o.done {
		o.dropped += int64(len(p))
		return len(p), nil
	}
	buf := append(o.partial[w.s], p...)
	o.partial[w.s] = nil
	n, fits := o.lines(buf)
	o.deliver(w.s, buf[:n])
	if !fits {
		o.cap(w.s, int64(len(buf)-n))
		return len(p), nil
	}
	if n < len(buf) {
		o.partial[w.s] = append([]byte(nil), buf[n:]...)
	}
	return len(p), nil
}

// lines returns how many bytes at the start of buf are whole lines (or
// DefaultMaxLine pieces of a longer one) that fit under the cap, and
// false if the next one would cross it.
func (o *output) lines(buf []byte) (int, bool) {
	budget := o.limit - o.kept
	n := 0
	for {
		rest := buf[n:]
		var line int
		if i := bytes.IndexByte(rest[:min(len(rest), DefaultMaxLine+1)], '\n'); i >= 0 {
			line = i + 1
		} else if len(rest) >= DefaultMaxLine {
			line = DefaultMaxLine
		} else {
			return n, true // an unfinished line, or nothing
		}
		if int64(n+line) > budget {
			return n, false
		}
		n += line
	}
}

// deliver sends b, if any, as an EventOutput of stream s.
func (o *output) deliver(s Stream, b []byte) {
	if len(b) == 0 {
		return
	}
	o.kept += int64(len(b))
	data := make([]byte, len(b))
	copy(data, b)
	o.em.emit(Event{Type: EventOutput, Index: o.index, Host: o.host, Stream: s, Data: data})
}

// cap stops delivery: n bytes of stream s were over the cap, and the
// lines held back on the other streams will not be delivered either.
func (o *output) cap(s Stream, n int64) {
	o.dropped += n
	for i := range o.partial {
		o.dropped += int64(len(o.partial[i]))
		o.partial[i] = nil
	}
	o.capped = true
	o.em.emit(Event{Type: EventCapped, Index: o.index, Host: o.host, Stream: s})
}

// flush delivers the last lines, those without a newline, if they fit
// under the cap; after it nothing more is delivered. Call it when the
// command has ended, before its EventFinished.
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done = true
	for _, s := range []Stream{Stdout, Stderr} {
		b := o.partial[s]
		if len(b) == 0 || o.capped {
			continue
		}
		if o.kept+int64(len(b)) > o.limit {
			o.cap(s, 0) // cap counts what is held back, b included
			continue
		}
		o.partial[s] = nil
		o.deliver(s, b)
	}
}

// count fills in r's byte counts.
func (o *output) count(r *Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.Stdout, r.Stderr, r.Dropped = o.n[Stdout], o.n[Stderr], o.dropped
}
