package chat

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// engineTimeout bounds one call to the engine on a member's behalf, and
// joinTimeout a join (a few reads, on an engine that may be busy with many
// joins at once): past them, a JetStream that does not answer is reported
// unavailable. An engine that is not connected fails at once.
const (
	engineTimeout = 10 * time.Second
	joinTimeout   = 30 * time.Second
)

// ServeSocket runs a member's connection: nick, room, since, psince and
// epoch come from the handshake's query. In team mode (a user logged in
// with a password or single sign-on) the member's name is the user's and
// the nick parameter is ignored; in token mode it is the nickname asked
// for, or a guest name. When the engine cannot be reached to join, the
// member gets an unavailable error and the connection is closed with 1001
// (going away: come back later).
func (h *Hub) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	q := r.URL.Query()
	nick, nickErr := guestNick(), error(nil)
	login, fixed := loginName(r)
	if fixed {
		nick = login
	} else if q.Has("nick") {
		if n, err := CleanNick(q.Get("nick")); err == nil {
			nick = n
		} else {
			nickErr = fmt.Errorf("%w: you are %s", err, nick)
		}
	}
	since, sinceErr := ParseSince(q)
	room := cmp.Or(q.Get("room"), DefaultRoom)
	m, roomErr, err := h.join(ctx, c, room, nick, fixed, since)
	if err != nil {
		return c.Refuse(ctx, unavailable("joining the chat", err))
	}
	defer h.Leave(m)
	for _, err := range []error{nickErr, sinceErr, roomErr} {
		if err != nil {
			c.SendError("", "", socket.Errorf(socket.CodeInvalid, "%v", err))
		}
	}
	return c.Run(ctx, func(msg socket.Message) error { return h.handle(ctx, m, msg) })
}

// Join adds a member in room, sends it its welcome and announces it. The
// welcome holds the room's events after since, as far as the history goes;
// every later event reaches p after it, in order. A room that does not
// exist (or a bad name) is refused with roomErr, and the member joins the
// default room. err is the engine's when it cannot be reached; then the
// member is not joined.
func (h *Hub) Join(ctx context.Context, p peer, room, nick string, since Since) (m *member, roomErr, err error) {
	return h.join(ctx, p, room, nick, false, since)
}

// join is Join for a member whose name may be fixed: the user's login,
// which Rename refuses to change.
func (h *Hub) join(ctx context.Context, p peer, room, nick string, fixed bool, since Since) (m *member, roomErr, err error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if room != DefaultRoom {
		if roomErr = CheckRoom(room); roomErr == nil {
			ok, err := h.roomExists(ctx, room)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				roomErr = fmt.Errorf("no room %q", room)
			}
		}
		if roomErr != nil {
			roomErr = fmt.Errorf("%w: you are in %s", roomErr, DefaultRoom)
			room = DefaultRoom
		}
	}
	msgTopic, preTopic, err := h.topics(room)
	if err != nil {
		return nil, nil, err
	}
	w := Welcome{Type: "welcome", Epoch: h.epoch.Load().(string), Nick: nick, Fixed: fixed, Room: room, MaxText: h.opts.MaxText}
	var mi, pi engine.StreamInfo
	if since.Set {
		// A member coming back: its sequences are checked against the
		// streams as they are now (a first join takes the epoch the hub
		// last saw, and spares the engine two requests).
		if mi, pi, err = h.streamInfo(ctx); err != nil {
			return nil, nil, err
		}
		w.Epoch = epoch(mi, pi)
	}
	msgFrom := topic.From{Last: h.opts.History, Max: h.opts.History}
	preFrom := topic.From{Last: h.opts.PresenceHistory, Max: h.opts.PresenceHistory}
	switch {
	case !since.Set:
	case since.Epoch != w.Epoch || since.Seq > mi.LastSeq || since.PSeq > pi.LastSeq:
		w.Reset = true
	default:
		msgFrom = topic.From{Seq: since.Seq + 1, Max: h.opts.History}
		preFrom = topic.From{Seq: since.PSeq + 1, Max: h.opts.PresenceHistory}
		// Entries after since may have gone by the limits: certainly if
		// the stream's oldest is past it (the room's own oldest may be
		// later, by the per-room count, without a word).
		w.Truncated = mi.Msgs > 0 && since.Seq+1 < mi.FirstSeq
	}

	m = newMember(p, room, nick)
	m.fixed = fixed
	var msgLog, preLog topic.Backlog
	// Live room announcements first, then the room list: a room created
	// in between is in both, and the page keeps it once.
	joined := []*topic.Topic{}
	fail := func(err error) (*member, error, error) {
		for _, t := range joined {
			t.Leave(m)
		}
		return nil, nil, err
	}
	for _, j := range []struct {
		t    *topic.Topic
		from topic.From
		log  *topic.Backlog
	}{{h.roomTopic, topic.From{}, nil}, {preTopic, preFrom, &preLog}, {msgTopic, msgFrom, &msgLog}} {
		err := j.t.Join(ctx, m, j.from, func(b topic.Backlog) {
			if j.log != nil {
				*j.log = b
			}
		})
		if err != nil {
			return fail(err)
		}
		joined = append(joined, j.t)
	}
	preLog = newestEvents(preLog, h.opts.PresenceHistory)
	w.Rooms = h.roomList.list()
	w.Seq, w.PSeq = max(msgLog.Last, since.Seq), max(preLog.Last, since.PSeq)
	if w.Reset {
		w.Seq, w.PSeq = msgLog.Last, preLog.Last
	}
	w.Truncated = w.Truncated || msgLog.Truncated
	w.History = history(msgLog, preLog)
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // a Welcome always encodes
	}
	h.mu.Lock()
	h.members[m] = struct{}{}
	h.mu.Unlock()
	m.welcome(b)
	h.presence(m.room, Event{Type: "join", Nick: nick})
	return m, roomErr, nil
}

// history merges a room's messages and presence events in the order they
// were stored, as pages get them: the frames their topics made, once
// for every join (the topics keep the room's entries, so backlogs come
// with frames). An entry that could not be encoded (nil; its topic
// logged it) is left out.
func history(msgs, pres topic.Backlog) []json.RawMessage {
	type entry struct {
		t     time.Time
		frame []byte
	}
	all := make([]entry, 0, len(msgs.Msgs)+len(pres.Msgs))
	for _, b := range []topic.Backlog{msgs, pres} {
		for i, f := range b.Frames {
			if f != nil {
				all = append(all, entry{b.Msgs[i].Time, f})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return a.t.Compare(b.t) })
	out := make([]json.RawMessage, len(all))
	for i, e := range all {
		out[i] = e.frame
	}
	return out
}

// Leave removes member m from its room and announces it. It does nothing
// if m is not a member.
func (h *Hub) Leave(m *member) {
	h.mu.Lock()
	_, ok := h.members[m]
	delete(h.members, m)
	msgTopic, preTopic := h.msgTopics[m.room], h.preTopics[m.room]
	h.mu.Unlock()
	if !ok {
		return
	}
	for _, t := range []*topic.Topic{msgTopic, preTopic, h.roomTopic} {
		if t != nil {
			t.Leave(m)
		}
	}
	h.presence(m.room, Event{Type: "leave", Nick: m.getNick()})
}

// handle handles a message from member m.
func (h *Hub) handle(ctx context.Context, m *member, msg socket.Message) error {
	switch msg.Type {
	case "send":
		var req struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			return socket.Errorf(socket.CodeBadJSON, "send: %v", err)
		}
		seq, err := h.Say(ctx, m, msg.ID, req.Text)
		if err == nil && msg.ID != "" {
			b, _ := json.Marshal(Sent{Type: "sent", ID: msg.ID, Seq: seq})
			m.peer.SendOwn(b)
		}
		return err
	case "nick":
		var req struct {
			Nick string `json:"nick"`
		}
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			return socket.Errorf(socket.CodeBadJSON, "nick: %v", err)
		}
		return h.Rename(ctx, m, req.Nick)
	case "create":
		var req struct {
			Room string `json:"room"`
		}
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			return socket.Errorf(socket.CodeBadJSON, "create: %v", err)
		}
		ctx, cancel := context.WithTimeout(ctx, engineTimeout)
		defer cancel()
		if err := h.CreateRoom(ctx, req.Room, m.getNick()); err != nil {
			return unavailable("creating the room", err)
		}
		b, _ := json.Marshal(Created{Type: "created", Room: req.Room})
		m.peer.SendOwn(b)
		return nil
	default:
		return socket.UnknownType(msg.Type)
	}
}

// MaxID is the longest message id, in bytes.
const MaxID = 64

// checkID reports whether id may be a message id: printable ASCII without
// spaces, up to MaxID bytes.
func checkID(id string) error {
	if len(id) > MaxID {
		return fmt.Errorf("message id over %d bytes", MaxID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("message id with a space or a byte outside printable ASCII")
		}
	}
	return nil
}

// Say stores a message from member m, cleaned by CleanText, in its room,
// and returns its sequence once the engine has acknowledged it. A non-empty
// id is the message's id: a second Say with the same id (a resend) stores
// nothing and returns the first one's sequence. The error is a
// *socket.Error: too_big over MaxText, invalid for a text empty once
// cleaned or a bad id, and CodeUnavailable when the engine cannot store
// it (the message was not stored; it may be sent again).
func (h *Hub) Say(ctx context.Context, m *member, id, text string) (uint64, error) {
	if len(text) > h.opts.MaxText {
		return 0, socket.Errorf(socket.CodeTooBig, "message of %d bytes, over the limit of %d", len(text), h.opts.MaxText)
	}
	if text = CleanText(text); strings.TrimSpace(text) == "" {
		return 0, socket.Errorf(socket.CodeInvalid, "empty message")
	}
	if err := checkID(id); err != nil {
		return 0, socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	e := Event{Type: "message", Nick: m.getNick(), Text: text, ID: id}
	seq, err := h.msgs.Publish(ctx, msgSubject(m.room), stored(e), id)
	if err != nil {
		return 0, unavailable("sending", err)
	}
	return seq, nil
}

// Rename changes member m's nickname and announces it in its room. A
// member named by their login (team mode) keeps that name: the change is
// refused.
func (h *Hub) Rename(ctx context.Context, m *member, nick string) error {
	if m.fixed {
		return socket.Errorf(socket.CodeInvalid, "your name is your login, %s: it cannot be changed", m.getNick())
	}
	nick, err := CleanNick(nick)
	if err != nil {
		return socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	old := m.setNick(nick)
	if old == nick {
		return nil
	}
	h.presence(m.room, Event{Type: "nick", Nick: nick, Old: old})
	return nil
}

// unavailable returns err as a *socket.Error: as it is if it is one,
// CodeUnavailable if the engine could not be reached, CodeInternal
// otherwise.
func unavailable(doing string, err error) error {
	var se *socket.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, engine.ErrDisconnected), errors.Is(err, engine.ErrUnavailable),
		errors.Is(err, engine.ErrClosed), errors.Is(err, ErrShutdown), errors.Is(err, topic.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		return socket.Errorf(CodeUnavailable, "%s: chat storage unavailable (%v); not stored, try again", doing, err)
	}
	return socket.Errorf(socket.CodeInternal, "%s: %v", doing, err)
}
