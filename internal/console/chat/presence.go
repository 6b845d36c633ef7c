package chat

import (
	"context"
	"encoding/json"
	"sync"
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
// The limits: an entry lists at most maxPresenceBatch events and holds at
// most maxPresenceEntry bytes, and a room holds at most maxPresencePending
// events waiting; past that, events are dropped and counted in the log
// (presence is a notice; messages never wait here).

const (
	maxPresenceBatch   = 64
	maxPresencePending = 10000
)

// announcer publishes the presence events of one room.
type announcer struct {
	h    *Hub
	room string

	mu      sync.Mutex
	pending []Event // guarded by mu
	busy    bool    // a flush runs; guarded by mu
	dropped int     // events dropped since the last warning; guarded by mu
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
		a = &announcer{h: h, room: room}
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
	a.mu.Unlock()
	if start {
		h.flushing.Add(1) // under h.mu, so Shutdown's Wait sees it
		go a.flush()
	}
	h.mu.Unlock()
}

// flush publishes the pending events, a batch at a time, until none is
// left.
func (a *announcer) flush() {
	defer a.h.flushing.Done()
	for {
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.busy = false
			a.pending = nil
			a.mu.Unlock()
			return
		}
		n := batchLen(a.pending)
		batch := a.pending[:n:n]
		a.pending = a.pending[n:]
		dropped := a.dropped
		a.dropped = 0
		a.mu.Unlock()
		if dropped > 0 {
			a.h.log.Warn("chat: presence events dropped: too many waiting", "room", a.room, "dropped", dropped, "limit", maxPresencePending)
		}
		ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		_, err := a.h.pres.Publish(ctx, presenceSubject(a.room), storedPresence(batch), "")
		cancel()
		if err != nil {
			a.h.log.Warn("chat: presence not announced", "room", a.room, "events", len(batch), "err", err)
		}
	}
}

// storedPresence is the entry of a batch of presence events: the event
// itself when it is alone, else a "presence" event listing them.
func storedPresence(batch []Event) []byte {
	if len(batch) == 1 {
		return stored(batch[0])
	}
	evs := make([]PresenceEvent, len(batch))
	for i, e := range batch {
		evs[i] = PresenceEvent{e.Type, e.Nick, e.Old}
	}
	b, err := json.Marshal(struct {
		Type   string          `json:"type"`
		Events []PresenceEvent `json:"events"`
	}{"presence", evs})
	if err != nil {
		panic(err) // strings always encode
	}
	return b
}

// presenceOverhead is more than the bytes an event adds to a batch's entry
// besides its nicknames (field names, quotes, commas), and more than a
// batch's own.
const presenceOverhead = 48

// batchLen returns how many of the events of pending (at least one) go in
// the next entry: at most maxPresenceBatch, and within maxPresenceEntry
// bytes.
func batchLen(pending []Event) int {
	size := presenceOverhead
	for i, e := range pending {
		// A byte takes at most 6 in JSON (\u003c for <).
		size += 6*(len(e.Nick)+len(e.Old)) + presenceOverhead
		if i > 0 && (i == maxPresenceBatch || size > maxPresenceEntry) {
			return i
		}
	}
	return len(pending)
}
