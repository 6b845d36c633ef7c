package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/websocket"
)

// DefaultRoom is the room every console has, and the one a member joins
// when it names none.
const DefaultRoom = "lobby"

// MaxRoomName is the longest room name, in bytes.
const MaxRoomName = 32

// Subjects and names in the engine.
const (
	msgStream      = "chat"
	presenceStream = "chat-presence"
	roomsBucket    = "chat-rooms"
	roomsSubject   = "chat.rooms"
)

func msgSubject(room string) string      { return "chat.room." + room }
func presenceSubject(room string) string { return "chat.presence." + room }

// CheckRoom reports whether name is a valid room name: 1 to MaxRoomName
// of a-z, 0-9 and '-', starting with a letter or digit. Such a name is one
// token of a subject and a key of the rooms bucket as it is.
func CheckRoom(name string) error {
	if name == "" || len(name) > MaxRoomName {
		return fmt.Errorf("a room name has 1 to %d characters", MaxRoomName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return fmt.Errorf("room name %q: only a-z, 0-9 and - (not first)", name)
		}
	}
	return nil
}

// roomRecord is a room's value in the bucket.
type roomRecord struct {
	Created time.Time `json:"created"`
	By      string    `json:"by,omitempty"` // the creator's nickname
}

// Rooms returns the names of the rooms, sorted, as the engine has them.
func (h *Hub) Rooms(ctx context.Context) ([]string, error) {
	keys, err := h.rooms.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("chat rooms: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// roomList is the rooms this node knows: those in the bucket when the hub
// started and those announced since. It is the hub's sink on the
// announcements topic. Its methods are safe for concurrent use.
type roomList struct {
	mu    sync.Mutex
	names map[string]struct{} // guarded by mu
}

// Send takes an announcement.
func (l *roomList) Send(pm *websocket.PreparedMessage) bool {
	var e RoomEvent
	if json.Unmarshal(pm.Payload(), &e) == nil {
		l.add(e.Name)
	}
	return true
}

func (l *roomList) add(names ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = make(map[string]struct{})
	}
	for _, n := range names {
		l.names[n] = struct{}{}
	}
}

// list returns the rooms, sorted.
func (l *roomList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.names))
}

// roomExists reports whether room is one of the rooms.
func (h *Hub) roomExists(ctx context.Context, room string) (bool, error) {
	_, err := h.rooms.Get(ctx, room)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, engine.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("chat room %s: %w", room, err)
}

// CreateRoom creates room, unless it exists, and announces it to every
// member on every node. It fails with a *socket.Error for a bad name or
// when the console has Options.MaxRooms rooms (nodes creating rooms at
// the same moment may pass the cap by as many), and with the engine's
// error, wrapped, when it cannot store it.
func (h *Hub) CreateRoom(ctx context.Context, room, by string) error {
	if err := CheckRoom(room); err != nil {
		return socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	ok, err := h.roomExists(ctx, room)
	if err != nil {
		return err
	}
	if !ok {
		rooms, err := h.Rooms(ctx)
		if err != nil {
			return err
		}
		if len(rooms) >= h.opts.MaxRooms {
			return socket.Errorf(socket.CodeInvalid, "the console has %d rooms, its limit", len(rooms))
		}
		rec, _ := json.Marshal(roomRecord{Created: time.Now().UTC(), By: by})
		if _, err := h.rooms.Create(ctx, room, rec); err != nil && !errors.Is(err, engine.ErrExists) {
			return fmt.Errorf("chat room %s: %w", room, err)
		}
	}
	// Announced even if it exists: an announcement lost with the engine
	// after the room was stored is made good by creating it again.
	return h.announceRoom(ctx, room)
}

// announceRoom publishes room's creation on chat.rooms. The message id
// makes a repeat (two nodes creating it at once, a retry) one entry.
func (h *Hub) announceRoom(ctx context.Context, room string) error {
	b, _ := json.Marshal(RoomEvent{Type: "room", Name: room})
	if _, err := h.pres.Publish(ctx, roomsSubject, b, "room:"+room); err != nil {
		return fmt.Errorf("chat room %s: %w", room, err)
	}
	return nil
}
