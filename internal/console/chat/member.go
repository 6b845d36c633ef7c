package chat

import (
	"fmt"
	"sync"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/websocket"
)

// peer is where a member's frames go: a *socket.Conn.
type peer interface {
	Send(pm *websocket.PreparedMessage) bool
	SendOwn(b []byte) bool
	Close(code websocket.StatusCode, reason string)
}

// maxHeld is how many live events a joining member holds back while its
// welcome is made; past it the member is dropped as too slow.
const maxHeld = socket.DefaultQueueSize

// member is one connection in a room. It is the topic.Sink of the room's
// topics: until its welcome is sent, the live events they deliver are held
// back, so that the welcome comes first and no event falls between it and
// the live ones.
type member struct {
	peer  peer
	room  string
	fixed bool // the nick is the user's login (team mode): Rename refuses

	mu      sync.Mutex
	nick    string                       // guarded by mu
	open    bool                         // guarded by mu: the welcome is sent
	held    []*websocket.PreparedMessage // guarded by mu: live events before the welcome
	dropped bool                         // guarded by mu: held too many
}

func newMember(p peer, room, nick string) *member {
	return &member{peer: p, room: room, nick: nick}
}

// Send queues a live event, or holds it back until the welcome is sent.
func (m *member) Send(pm *websocket.PreparedMessage) bool {
	m.mu.Lock()
	if m.open {
		m.mu.Unlock()
		return m.peer.Send(pm)
	}
	defer m.mu.Unlock()
	if m.dropped {
		return false
	}
	if len(m.held) >= maxHeld {
		m.dropped, m.held = true, nil
		m.peer.Close(socket.CloseSlowConsumer, fmt.Sprintf("too slow: %d messages queued", maxHeld))
		return false
	}
	m.held = append(m.held, pm)
	return true
}

// welcome queues b, then the events held back, and lets later ones
// through.
func (m *member) welcome(b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dropped {
		return
	}
	m.peer.SendOwn(b)
	for _, pm := range m.held {
		m.peer.Send(pm)
	}
	m.held, m.open = nil, true
}

func (m *member) getNick() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nick
}

// setNick sets the nickname and returns the one before.
func (m *member) setNick(nick string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.nick
	m.nick = nick
	return old
}
