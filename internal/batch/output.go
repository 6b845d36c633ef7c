package batch

import (
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
}

// writer returns the io.Writer for stream s.
func (o *output) writer(s Stream) streamWriter { return streamWriter{o, s} }

type streamWriter struct {
	o *output
	s Stream
}

// Write delivers what fits under the cap as an EventOutput and counts the
// rest. It never fails: the command is not to be disturbed by the cap.
func (w streamWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[w.s] += int64(len(p))
	take := min(int64(len(p)), max(o.limit-o.kept, 0))
	if take > 0 {
		o.kept += take
		data := make([]byte, take)
		copy(data, p)
		o.em.emit(Event{Type: EventOutput, Index: o.index, Host: o.host, Stream: w.s, Data: data})
	}
	if rest := int64(len(p)) - take; rest > 0 {
		o.dropped += rest
		if !o.capped {
			o.capped = true
			o.em.emit(Event{Type: EventCapped, Index: o.index, Host: o.host, Stream: w.s})
		}
	}
	return len(p), nil
}

// count fills in r's byte counts.
func (o *output) count(r *Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.Stdout, r.Stderr, r.Dropped = o.n[Stdout], o.n[Stderr], o.dropped
}
