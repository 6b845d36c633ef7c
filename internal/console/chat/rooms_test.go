package chat

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// TestRooms: a member creates a room, every member hears of it, messages
// stay in their room, each room has its own history, and bad names and
// the cap are refused.
func TestRooms(t *testing.T) {
	t.Parallel()
	n := newNode(t, enginetest.Embedded(t), Options{MaxRooms: 3}, socket.Options{})
	ann := n.join(t, "ann", "", nil)
	bob := n.join(t, "bob", "", nil)

	ann.send(t, map[string]string{"type": "create", "room": "ops"})
	if f := ann.take(t, func(f frame) bool { return f.Type == "created" || f.Type == "error" }); f.Type != "created" {
		t.Fatalf("create: %s", f.Raw)
	}
	// (The lobby's own announcement, made when the hub started, may
	// reach a page after it joined: a page takes a room it knows again
	// as no news.)
	for _, c := range []*client{ann, bob} {
		c.take(t, func(f frame) bool { return f.Type == "room" && strings.Contains(string(f.Raw), `"name":"ops"`) })
	}
	rooms, err := n.hub.Rooms(context.Background())
	if err != nil || !slices.Equal(rooms, []string{"lobby", "ops"}) {
		t.Fatalf("rooms %q, %v; want lobby and ops", rooms, err)
	}

	// Messages stay in their room.
	cy := n.join(t, "cy", "ops", nil)
	if cy.welcome.Room != "ops" || !slices.Equal(cy.welcome.Rooms, rooms) {
		t.Errorf("welcome in %q of %q, want ops of %q", cy.welcome.Room, cy.welcome.Rooms, rooms)
	}
	cy.say(t, "c1", "in ops")
	ann.say(t, "a1", "in the lobby")
	if e := ann.event(t, "message"); e.Text != "in the lobby" {
		t.Errorf("the lobby got %q, want only its own message", e.Text)
	}
	if e := cy.event(t, "message"); e.Text != "in ops" {
		t.Errorf("ops got %q first, want its own message", e.Text)
	}
	if got := messages(t, n.join(t, "dee", "ops", nil).welcome); !slices.Equal(got, []string{"in ops"}) {
		t.Errorf("ops' history %q, want its one message", got)
	}
	if got := messages(t, n.join(t, "dee", "", nil).welcome); !slices.Equal(got, []string{"in the lobby"}) {
		t.Errorf("the lobby's history %q, want its one message", got)
	}

	// Creating a room that exists is no error (two pages at once).
	ann.send(t, map[string]string{"type": "create", "room": "ops"})
	if f := ann.take(t, func(f frame) bool { return f.Type == "created" || f.Type == "error" }); f.Type != "created" {
		t.Errorf("creating ops again: %s", f.Raw)
	}
	// Bad names, then the cap (3: lobby, ops, and one more).
	for _, name := range []string{"", "Ops", "a.b", "-x", strings.Repeat("a", MaxRoomName+1)} {
		ann.send(t, map[string]string{"type": "create", "room": name})
		if m := ann.error(t); m.Code != socket.CodeInvalid || m.For != "create" {
			t.Errorf("room %q: %+v, want invalid", name, m)
		}
	}
	ann.send(t, map[string]string{"type": "create", "room": "dev"})
	ann.take(t, func(f frame) bool { return f.Type == "created" })
	ann.send(t, map[string]string{"type": "create", "room": "one-too-many"})
	if m := ann.error(t); m.Code != socket.CodeInvalid || !strings.Contains(m.Error, "limit") {
		t.Errorf("a 4th room: %+v, want refused for the limit", m)
	}
	if rooms, _ := n.hub.Rooms(context.Background()); len(rooms) != 3 {
		t.Errorf("rooms %q, want 3", rooms)
	}

	// A room that does not exist: an error, and the default room.
	lost := n.join(t, "eve", "nowhere", nil)
	if lost.welcome.Room != DefaultRoom {
		t.Errorf("joining a room that does not exist: in %q, want %q", lost.welcome.Room, DefaultRoom)
	}
	if m := lost.error(t); m.Code != socket.CodeInvalid || !strings.Contains(m.Error, "nowhere") {
		t.Errorf("%+v, want an invalid error naming the room", m)
	}
}

// TestTwoNodes: two hubs on one engine are two console nodes: members on
// each see the other's messages, presence and rooms, with the same
// sequences.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	e := enginetest.Embedded(t)
	a := newNode(t, e, Options{}, socket.Options{})
	b := newNode(t, e, Options{}, socket.Options{})
	ann := a.join(t, "ann", "", nil)
	ann.event(t, "join")
	bob := b.join(t, "bob", "", nil)
	if ann.welcome.Epoch != bob.welcome.Epoch {
		t.Errorf("epochs %s and %s: the nodes share the streams", ann.welcome.Epoch, bob.welcome.Epoch)
	}
	if got := ann.event(t, "join"); got.Nick != "bob" {
		t.Errorf("ann on a saw %+v, want bob's join on b", got)
	}
	seq := ann.say(t, "a1", "from a")
	if got := bob.event(t, "message"); got.Text != "from a" || got.Seq != seq {
		t.Errorf("bob on b got %+v, want ann's message %d", got, seq)
	}
	seq = bob.say(t, "b1", "from b")
	ann.event(t, "message") // her own
	if got := ann.event(t, "message"); got.Text != "from b" || got.Seq != seq {
		t.Errorf("ann on a got %+v, want bob's message %d", got, seq)
	}
	bob.send(t, map[string]string{"type": "nick", "nick": "robert"})
	if got := ann.event(t, "nick"); got.Nick != "robert" || got.Old != "bob" {
		t.Errorf("ann got %+v, want bob's new nickname", got)
	}
	bob.send(t, map[string]string{"type": "create", "room": "ops"})
	if f := ann.take(t, func(f frame) bool { return f.Type == "room" }); !strings.Contains(string(f.Raw), `"ops"`) {
		t.Errorf("ann got %s, want the room bob made on b", f.Raw)
	}
	bob.ws.CloseNow()
	if got := ann.event(t, "leave"); got.Nick != "robert" {
		t.Errorf("ann got %+v, want bob's leave", got)
	}
}

// TestEngineLost: while the engine is unreachable a message is refused
// with CodeUnavailable (and its id), a new member is refused and told to
// come back, and once it is back the same message is stored, once.
func TestEngineLost(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	e, err := engine.Open(ctx, engine.Config{URLs: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdownEngine(t, e) })
	n := newNode(t, e, Options{}, socket.Options{Rate: -1})
	ann := n.join(t, "ann", "", nil)
	bob := n.join(t, "bob", "", nil)
	ann.say(t, "a1", "before")

	srv.Stop()
	ann.send(t, map[string]string{"type": "send", "id": "a2", "text": "while it is down"})
	if m := ann.error(t); m.Code != CodeUnavailable || m.ID != "a2" || m.For != "send" || !strings.Contains(m.Error, "not stored") {
		t.Errorf("a message while the engine is down: %+v, want unavailable, for a2", m)
	}
	late := n.dial(t, nil)
	if f := late.read(t); !strings.Contains(string(f.Raw), CodeUnavailable) {
		t.Errorf("a member joining while the engine is down got %s, want an unavailable error", f.Raw)
	}
	if _, _, err := late.ws.Read(ctx); err == nil || !strings.Contains(err.Error(), "1001") {
		t.Errorf("then %v, want a close with 1001 (going away: come back later)", err)
	}

	srv.Restart(t)
	// The page retries until the engine takes it.
	waitFor(t, "the engine to take the message", func() bool {
		ann.send(t, map[string]string{"type": "send", "id": "a2", "text": "while it is down"})
		f := ann.take(t, func(f frame) bool { return f.Type == "sent" || f.Type == "error" })
		return f.Type == "sent"
	})
	ann.say(t, "a3", "after")
	for _, want := range []string{"before", "while it is down", "after"} {
		if got := bob.event(t, "message"); got.Text != want {
			t.Errorf("bob got %q, want %q: every stored message once, in order", got.Text, want)
		}
	}
	if got := messages(t, n.join(t, "cy", "", nil).welcome); !slices.Equal(got, []string{"before", "while it is down", "after"}) {
		t.Errorf("history %q, want each message once", got)
	}
}
