package chat

import (
	"encoding/json"
	"sort"
)

// ring keeps the last events of one kind (messages, or presence events),
// encoded, oldest first, up to a fixed number. Its user holds the lock.
type ring struct {
	events  []kept // a circle: events[start] is the oldest of the n kept
	start   int
	n       int
	dropped uint64 // the sequence number of the last event pushed out; 0 if none
}

// kept is an event in a ring.
type kept struct {
	seq uint64
	b   []byte
}

func newRing(size int) ring { return ring{events: make([]kept, size)} }

// push keeps event b, numbered seq (above every number kept), pushing
// the oldest out when the ring is full.
func (r *ring) push(seq uint64, b []byte) {
	e := kept{seq: seq, b: b}
	if r.n < len(r.events) {
		r.events[(r.start+r.n)%len(r.events)] = e
		r.n++
		return
	}
	r.dropped = r.events[r.start].seq
	r.events[r.start] = e
	r.start = (r.start + 1) % len(r.events)
}

// at returns the i-th oldest event kept.
func (r *ring) at(i int) kept { return r.events[(r.start+i)%len(r.events)] }

// after returns the index, from the oldest, of the first event kept that
// is numbered above seq; r.n if there is none.
func (r *ring) after(seq uint64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).seq > seq })
}

// merge returns the events of a and b numbered above seq, in order.
func merge(a, b *ring, seq uint64) []json.RawMessage {
	i, j := a.after(seq), b.after(seq)
	out := make([]json.RawMessage, 0, a.n-i+b.n-j)
	for i < a.n || j < b.n {
		if j == b.n || (i < a.n && a.at(i).seq < b.at(j).seq) {
			out = append(out, a.at(i).b)
			i++
		} else {
			out = append(out, b.at(j).b)
			j++
		}
	}
	return out
}
