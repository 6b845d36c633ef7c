// Package chat is the console's chat room: a hub that gives every event (a
// message, a join, a leave, a nickname change) a sequence number, keeps the
// last of them for replay, and broadcasts each to every member. Messages
// and presence events (joins, leaves, nickname changes) are kept apart,
// each up to its own number, so that members coming and going never push
// messages out of the history.
//
// A member joins with an optional since=SEQ and epoch=EPOCH (the values
// from its last connection) and gets, in its welcome, every event it missed
// that is still in the history, in order; without since it gets the whole
// history.
// Each event is encoded once and the same bytes are queued for every member;
// a member whose queue is full is dropped by the socket package
// (socket.CloseSlowConsumer) and never slows the others. The wire protocol
// is in docs/protocol.md.
package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"wsdeck/internal/console/socket"
	"wsdeck/websocket"
)

// Defaults for Options.
const (
	DefaultHistory         = 100
	DefaultPresenceHistory = 100
	DefaultMaxText         = 4096
	MaxNickRunes           = 32
	guestNickPrefix        = "guest-"
)

// Options configure a Hub. The zero value means the defaults.
type Options struct {
	// History is how many messages are kept for replay. 0 means
	// DefaultHistory.
	History int
	// PresenceHistory is how many presence events (joins, leaves,
	// nickname changes) are kept for replay, apart from the messages. 0
	// means DefaultPresenceHistory.
	PresenceHistory int
	// MaxText is the largest message text, in bytes; a longer one is
	// refused with an error message. 0 means DefaultMaxText.
	MaxText int
}

// Hub is a chat room. Its methods are safe for concurrent use.
type Hub struct {
	opts  Options
	epoch string // names this hub's sequence: a since from another epoch is void

	mu       sync.Mutex
	seq      uint64              // guarded by mu: the last sequence number given
	messages ring                // guarded by mu: the last messages
	presence ring                // guarded by mu: the last joins, leaves and nickname changes
	members  map[member]*profile // guarded by mu
}

// member is where the hub sends a member's frames: a *socket.Conn.
type member interface {
	Send(pm *websocket.PreparedMessage) bool
	SendOwn(b []byte) bool
}

type profile struct {
	nick string
}

// NewHub returns an empty hub.
func NewHub(opts Options) *Hub {
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.PresenceHistory <= 0 {
		opts.PresenceHistory = DefaultPresenceHistory
	}
	if opts.MaxText <= 0 {
		opts.MaxText = DefaultMaxText
	}
	return &Hub{
		opts:     opts,
		epoch:    strings.ToLower(rand.Text()[:10]),
		messages: newRing(opts.History),
		presence: newRing(opts.PresenceHistory),
		members:  make(map[member]*profile),
	}
}

// Event is a chat event on the wire.
type Event struct {
	Type string    `json:"type"` // "message", "join", "leave" or "nick"
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Nick string    `json:"nick"`
	Text string    `json:"text,omitempty"` // of a message
	Old  string    `json:"old,omitempty"`  // the previous nickname, of a nick event
}

// Welcome is the first message a member gets.
type Welcome struct {
	Type    string `json:"type"` // "welcome"
	Epoch   string `json:"epoch"`
	Nick    string `json:"nick"` // the nickname the hub uses for this member
	Seq     uint64 `json:"seq"`  // the last event's sequence number: History ends with it
	MaxText int    `json:"max_text"`
	// History is the events the member missed (after since), or the
	// whole history (without since, or after a reset), in order: the
	// messages kept and the presence events kept, merged.
	History []json.RawMessage `json:"history"`
	// Reset says that since was from another epoch (the server restarted):
	// the member should forget the events it has.
	Reset bool `json:"reset,omitempty"`
	// Truncated says that some messages after since are gone from the
	// history: the member missed them for good. (Presence events gone
	// from theirs are left out without a word.)
	Truncated bool `json:"truncated,omitempty"`
}

// Since is what a joining member has seen: the epoch and the last sequence
// number of its previous connection.
type Since struct {
	Set   bool
	Epoch string
	Seq   uint64
}

// ParseSince reads since and epoch from a query.
func ParseSince(q map[string][]string) (Since, error) {
	v := first(q["since"])
	if v == "" {
		return Since{}, nil
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return Since{}, fmt.Errorf("since=%q is not a sequence number", v)
	}
	return Since{Set: true, Epoch: first(q["epoch"]), Seq: seq}, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// ServeSocket runs a member's connection: nick, since and epoch come from
// the handshake's query.
func (h *Hub) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	q := r.URL.Query()
	nick, nickErr := guestNick(), error(nil)
	if q.Has("nick") {
		if n, err := CleanNick(q.Get("nick")); err == nil {
			nick = n
		} else {
			nickErr = fmt.Errorf("%w: you are %s", err, nick)
		}
	}
	since, sinceErr := ParseSince(q)
	h.Join(c, nick, since)
	defer h.Leave(c)
	for _, err := range []error{nickErr, sinceErr} {
		if err != nil {
			c.SendError("", "", socket.Errorf(socket.CodeInvalid, "%v", err))
		}
	}
	return c.Run(ctx, func(m socket.Message) error { return h.handle(c, m) })
}

// handle handles a message from member c.
func (h *Hub) handle(c member, m socket.Message) error {
	switch m.Type {
	case "send":
		var req struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return socket.Errorf(socket.CodeBadJSON, "send: %v", err)
		}
		_, err := h.Say(c, req.Text)
		return err
	case "nick":
		var req struct {
			Nick string `json:"nick"`
		}
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return socket.Errorf(socket.CodeBadJSON, "nick: %v", err)
		}
		return h.Rename(c, req.Nick)
	default:
		return socket.UnknownType(m.Type)
	}
}

// Join adds member c with nick, sends it its welcome and announces it. The
// welcome holds the events after since, as far as the history goes; every
// later event reaches c after it, in order.
func (h *Hub) Join(c member, nick string, since Since) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := Welcome{Type: "welcome", Epoch: h.epoch, Nick: nick, Seq: h.seq, MaxText: h.opts.MaxText}
	var after uint64 // the events to send are those numbered above
	switch {
	case !since.Set:
	case since.Epoch != h.epoch || since.Seq > h.seq:
		w.Reset = true
	default:
		after = since.Seq
		w.Truncated = h.messages.dropped > since.Seq
	}
	w.History = merge(&h.messages, &h.presence, after)
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // a Welcome always encodes
	}
	c.SendOwn(b)
	h.members[c] = &profile{nick: nick}
	h.publishLocked(Event{Type: "join", Nick: nick})
}

// Leave removes member c and announces it. It does nothing if c is not a
// member.
func (h *Hub) Leave(c member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.members[c]
	if !ok {
		return
	}
	delete(h.members, c)
	h.publishLocked(Event{Type: "leave", Nick: p.nick})
}

// Say publishes a message from member c, cleaned by CleanText, and returns
// its sequence number. The error is a *socket.Error for text over MaxText
// or empty once cleaned.
func (h *Hub) Say(c member, text string) (uint64, error) {
	if len(text) > h.opts.MaxText {
		return 0, socket.Errorf(socket.CodeTooBig, "message of %d bytes, over the limit of %d", len(text), h.opts.MaxText)
	}
	if text = CleanText(text); strings.TrimSpace(text) == "" {
		return 0, socket.Errorf(socket.CodeInvalid, "empty message")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.members[c]
	if !ok {
		return 0, socket.Errorf(socket.CodeInvalid, "not a member")
	}
	return h.publishLocked(Event{Type: "message", Nick: p.nick, Text: text}), nil
}

// Rename changes member c's nickname and announces it.
func (h *Hub) Rename(c member, nick string) error {
	nick, err := CleanNick(nick)
	if err != nil {
		return socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.members[c]
	if !ok {
		return socket.Errorf(socket.CodeInvalid, "not a member")
	}
	if p.nick == nick {
		return nil
	}
	old := p.nick
	p.nick = nick
	h.publishLocked(Event{Type: "nick", Nick: nick, Old: old})
	return nil
}

// Members returns the number of members.
func (h *Hub) Members() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.members)
}

// Epoch returns the hub's epoch.
func (h *Hub) Epoch() string { return h.epoch }

// publishLocked numbers e, keeps it in the history and queues it, encoded
// once, for every member. A member whose queue is full is closed by its
// socket; it stays a member, without sends, until its connection ends and
// Leave runs.
func (h *Hub) publishLocked(e Event) uint64 {
	h.seq++
	e.Seq = h.seq
	e.Time = time.Now().UTC().Truncate(time.Millisecond)
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // an Event always encodes
	}
	if e.Type == "message" {
		h.messages.push(e.Seq, b)
	} else {
		h.presence.push(e.Seq, b)
	}
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, b)
	for m := range h.members {
		m.Send(pm)
	}
	return e.Seq
}

// CleanText neutralises a message's text. The bidi embedding, override and
// isolate controls (U+202A-U+202E, U+2066-U+2069) are removed: they reorder
// what a reader sees (after U+202E the rest shows reversed, so "txt.exe"
// can read "exe.txt"). So are the control characters, but tab and newline.
// Nicknames refuse these and every other format character (CleanNick); a
// message keeps the others, which text needs: joiners in emoji, soft
// hyphens, the marks LRM and RLM of right-to-left writing. Text that is not
// UTF-8 has its bad bytes replaced with U+FFFD.
func CleanText(text string) string {
	if strings.IndexFunc(text, removedFromText) < 0 && utf8.ValidString(text) {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text { // a bad byte comes as U+FFFD
		if !removedFromText(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// removedFromText reports whether CleanText removes r.
func removedFromText(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == '\t' || r == '\n':
		return false
	}
	return unicode.IsControl(r)
}

// CleanNick trims a nickname and checks it: 1 to MaxNickRunes characters,
// none of them control or format characters.
func CleanNick(nick string) (string, error) {
	nick = strings.TrimSpace(nick)
	switch {
	case nick == "":
		return "", fmt.Errorf("empty nickname")
	case !utf8.ValidString(nick):
		return "", fmt.Errorf("nickname is not UTF-8")
	case utf8.RuneCountInString(nick) > MaxNickRunes:
		return "", fmt.Errorf("nickname over %d characters", MaxNickRunes)
	case strings.IndexFunc(nick, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return "", fmt.Errorf("nickname with a control character")
	}
	return nick, nil
}

func guestNick() string { return guestNickPrefix + strings.ToLower(rand.Text()[:4]) }
