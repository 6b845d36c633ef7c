package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/topic"
)

// Presence events of one room on one node are published by an announcer,
// one publish at a time: those that come while a publish is under way
// wait, and go together in the next one, as one entry of the presence
// stream (a "presence" event that lists them). A member who joins a quiet
// room is announced at once, alone, as before; a thousand who join within
// a few milliseconds (a node's restart, pages reconnecting) cost the room
// a few dozen entries, each delivered to every member, rather than a
// thousand: N members joining no longer cost N² deliveries.
//
// In a large room each entry costs a frame to every member, so the
// announcer also spaces its entries: the next waits until gather has
// passed since the last one went, unless it is full. gather grows with
// the room's members on this node, presenceGatherPerMember each, up to
// maxPresenceGather: a few milliseconds in a room of ten, 30 ms in one of
// a hundred, a second from 3,333 (a third of a room of 10,000 on three
// nodes, where 10,000 pages joining then cost each member a few dozen
// frames rather than a few hundred).
//
// The limits: an entry lists at most maxPresenceBatch events and holds at
// most maxPresenceEntry bytes, and a room holds at most maxPresencePending
// events waiting; past that, events are dropped and counted in the log
// (presence is a notice; messages never wait here).

const (
	maxPresenceBatch        = 256
	maxPresencePending      = 10000
	presenceGatherPerMember = 300 * time.Microsecond
	maxPresenceGather       = time.Second
)

// announcer publishes the presence events of one room.
type announcer struct {
	h    *Hub
	room string

	full chan struct{} // a flush that waits is woken when an entry's worth waits

	mu      sync.Mutex
	pending []Event   // guarded by mu
	busy    bool      // a flush runs; guarded by mu
	dropped int       // events dropped since the last warning; guarded by mu
	last    time.Time // when the last entry went; guarded by mu
	waiting bool      // a flush waits for gather to pass; guarded by mu
}

// presence queues e for room's announcer, which publishes it at once if no
// publish of the room's is under way, else with the next one.
func (h *Hub) presence(room string, e Event) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	a := h.announcers[room]
	if a == nil {
		a = &announcer{h: h, room: room, full: make(chan struct{}, 1)}
		h.announcers[room] = a
	}
	a.mu.Lock()
	if len(a.pending) >= maxPresencePending {
		a.dropped++
		a.mu.Unlock()
		h.mu.Unlock()
		return
	}
	a.pending = append(a.pending, e)
	start := !a.busy
	a.busy = true
	if len(a.pending) == maxPresenceBatch {
		select {
		case a.full <- struct{}{}:
		default:
		}
	}
	a.mu.Unlock()
	if start {
		h.flushing.Add(1) // under h.mu, so Shutdown's Wait sees it
		go a.flush()
	}
	h.mu.Unlock()
}

// flush publishes the pending events, an entry at a time, each gather
// after the last unless it is full, until none is left.
func (a *announcer) flush() {
	defer a.h.flushing.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		gather := a.gather() // before a.mu: presence holds h.mu, then a.mu
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.busy = false
			a.pending = nil
			a.mu.Unlock()
			return
		}
		if wait := time.Until(a.last.Add(gather)); wait > 0 && len(a.pending) < maxPresenceBatch {
			a.waiting = true
			a.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			now := false // an entry is full, or the hub stops: no more waiting
			select {
			case <-timer.C:
			case <-a.full:
				now = true
			case <-a.h.stopping:
				now = true
			}
			timer.Stop()
			a.mu.Lock()
			a.waiting = false
			if now {
				a.last = time.Time{}
			}
			a.mu.Unlock()
			continue
		}
		a.last = time.Now()
		entry, n := presenceEntry(a.pending)
		a.pending = a.pending[n:]
		dropped := a.dropped
		a.dropped = 0
		a.mu.Unlock()
		if dropped > 0 {
			a.h.log.Warn("chat: presence events dropped: too many waiting", "room", a.room, "dropped", dropped, "limit", maxPresencePending)
		}
		ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		_, err := a.h.pres.Publish(ctx, presenceSubject(a.room), entry, "")
		cancel()
		if err != nil {
			a.h.log.Warn("chat: presence not announced", "room", a.room, "events", n, "err", err)
		}
	}
}

// gather is how long after an entry the next waits, unless it is full: by
// the room's members on this node.
func (a *announcer) gather() time.Duration {
	a.h.mu.Lock()
	t := a.h.preTopics[a.room]
	a.h.mu.Unlock()
	if t == nil {
		return 0
	}
	return min(a.h.gatherMax, time.Duration(t.Sinks())*a.h.gatherPer)
}

// presenceEntry encodes the next entry of pending (which is not empty):
// the first event alone, or a "presence" event listing as many of the
// first events as fit, at most maxPresenceBatch and maxPresenceEntry
// bytes. It returns the entry and how many events it takes.
func presenceEntry(pending []Event) ([]byte, int) {
	const head, tail = `{"type":"presence","events":[`, `]}`
	b := []byte(head)
	n := 0
	for _, e := range pending {
		ev, err := json.Marshal(PresenceEvent{e.Type, e.Nick, e.Old})
		if err != nil {
			panic(err) // strings always encode
		}
		if n == maxPresenceBatch || len(b)+1+len(ev)+len(tail) > maxPresenceEntry {
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, ev...)
		n++
	}
	if n <= 1 {
		return stored(pending[0]), 1
	}
	return append(b, tail...), n
}

// typeKey opens every stored event, and a "presence" entry listing them:
// stored and presenceEntry write "type" first.
var typeKey = []byte(`{"type":`)

// presenceEvents counts the presence events of a stored entry, those a
// "presence" entry lists or 1, without decoding it (a welcome counts them
// on every join): typeKey cannot occur inside a JSON string, where every
// quote is escaped, so each occurrence opens an event or the entry.
func presenceEvents(data []byte) int {
	return max(1, bytes.Count(data, typeKey)-1)
}

// newestEvents cuts a presence backlog to its newest entries that list at
// most limit events in all (the newest entry always stays): an entry may
// list hundreds, and a welcome carries a room's last limit presence events,
// not its last limit entries.
func newestEvents(b topic.Backlog, limit int) topic.Backlog {
	i, n := len(b.Msgs), 0
	for i > 0 {
		n += presenceEvents(b.Msgs[i-1].Data)
		if n > limit && i < len(b.Msgs) {
			break
		}
		i--
	}
	b.Msgs = b.Msgs[i:]
	if b.Frames != nil {
		b.Frames = b.Frames[i:]
	}
	return b
}
