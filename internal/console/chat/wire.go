package chat

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// CodeUnavailable is the error code of a message the chat could not store
// because the engine is unreachable: it was not sent, and the client may
// send it again (with the same id).
const CodeUnavailable = "unavailable"

// Event is a chat event on the wire: a message, or a presence event.
type Event struct {
	Type string `json:"type"` // "message", "join", "leave", "nick" or "presence"
	// Seq is the event's sequence: a message's in the message stream, a
	// presence event's in the presence stream.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Nick string    `json:"nick"`
	Text string    `json:"text,omitempty"` // of a message
	ID   string    `json:"id,omitempty"`   // of a message: the id its sender gave it
	Old  string    `json:"old,omitempty"`  // the previous nickname, of a nick event
	// Events are the presence events of a "presence" event: several
	// that one node announced together, in the order they happened.
	Events []PresenceEvent `json:"events,omitempty"`
}

// PresenceEvent is one of the events of a "presence" event.
type PresenceEvent struct {
	Type string `json:"type"` // "join", "leave" or "nick"
	Nick string `json:"nick"`
	Old  string `json:"old,omitempty"`
}

// RoomEvent announces a new room to every member, on every node.
type RoomEvent struct {
	Type string `json:"type"` // "room"
	Name string `json:"name"`
}

// Welcome is the first message a member gets.
type Welcome struct {
	Type  string `json:"type"`  // "welcome"
	Epoch string `json:"epoch"` // names the streams' creation: since and psince hold within one
	Nick  string `json:"nick"`  // the nickname the hub uses for this member
	// Fixed says Nick is the user's login name (team mode): the page
	// cannot change it, and the server refuses a nick message.
	Fixed bool     `json:"fixed,omitempty"`
	Room  string   `json:"room"`  // the room joined
	Rooms []string `json:"rooms"` // every room, sorted
	// Seq is the message stream's sequence up to which History goes, and
	// PSeq the presence stream's: the member passes them back as since
	// and psince when it reconnects.
	Seq     uint64 `json:"seq"`
	PSeq    uint64 `json:"pseq"`
	MaxText int    `json:"max_text"`
	// History is the room's messages and presence events after since and
	// psince (or all of those kept, without them, or after a reset),
	// merged in the order they were stored.
	History []json.RawMessage `json:"history"`
	// Reset says that since came from other streams (another epoch, or
	// ahead of them): the member should forget the events it has.
	Reset bool `json:"reset,omitempty"`
	// Truncated says that messages after since may be gone from the
	// history: the member may have missed some for good.
	Truncated bool `json:"truncated,omitempty"`
}

// Sent acknowledges a message sent with an id, once the engine stored it.
type Sent struct {
	Type string `json:"type"` // "sent"
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"`
}

// Created answers a room creation: the member may switch to it.
type Created struct {
	Type string `json:"type"` // "created"
	Room string `json:"room"`
}

// Since is what a joining member has seen: the epoch and the last
// sequences of its previous connection.
type Since struct {
	Set   bool
	Epoch string
	Seq   uint64 // in the message stream
	PSeq  uint64 // in the presence stream
}

// ParseSince reads since, psince and epoch from a query.
func ParseSince(q map[string][]string) (Since, error) {
	v := first(q["since"])
	if v == "" {
		return Since{}, nil
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return Since{}, fmt.Errorf("since=%q is not a sequence number", v)
	}
	s := Since{Set: true, Epoch: first(q["epoch"]), Seq: seq}
	if v := first(q["psince"]); v != "" {
		if s.PSeq, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Since{}, fmt.Errorf("psince=%q is not a sequence number", v)
		}
	}
	return s, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// stored is an event as it is stored: without its sequence and time, which
// the stream gives it.
func stored(e Event) []byte {
	e.Seq, e.Time = 0, time.Time{}
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		Nick string `json:"nick"`
		Text string `json:"text,omitempty"`
		ID   string `json:"id,omitempty"`
		Old  string `json:"old,omitempty"`
	}{e.Type, e.Nick, e.Text, e.ID, e.Old})
	if err != nil {
		panic(err) // strings always encode
	}
	return b
}

// encode turns a stored entry into the event pages get.
func encode(m engine.Msg) ([]byte, error) {
	var e Event
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return nil, fmt.Errorf("chat entry %d: %w", m.Seq, err)
	}
	switch e.Type {
	case "message", "join", "leave", "nick":
		e.Events = nil
	case "presence":
		for _, p := range e.Events {
			if p.Type != "join" && p.Type != "leave" && p.Type != "nick" {
				return nil, fmt.Errorf("chat entry %d: presence event of type %q", m.Seq, p.Type)
			}
		}
	default:
		return nil, fmt.Errorf("chat entry %d: type %q", m.Seq, e.Type)
	}
	e.Seq, e.Time = m.Seq, m.Time.UTC().Truncate(time.Millisecond)
	return json.Marshal(e)
}

// encodeRoom turns an entry of chat.rooms into the event pages get.
func encodeRoom(m engine.Msg) ([]byte, error) {
	var e RoomEvent
	if err := json.Unmarshal(m.Data, &e); err != nil || e.Type != "room" || CheckRoom(e.Name) != nil {
		return nil, fmt.Errorf("chat rooms entry %d: not a room", m.Seq)
	}
	return json.Marshal(e)
}

// epoch names the creation of the two streams.
func epoch(msgs, pres engine.StreamInfo) string {
	return strconv.FormatInt(msgs.Created.UnixNano(), 36) + "-" + strconv.FormatInt(pres.Created.UnixNano(), 36)
}
