package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
)

// testTimeout bounds every wait: generous, for a loaded machine.
const testTimeout = 30 * time.Second

// node is a hub on an engine, served over real WebSocket connections on
// loopback: one console node's chat.
type node struct {
	hub   *Hub
	url   string
	conns chan *socket.Conn // each server-side connection
}

func newNode(t *testing.T, e *engine.Engine, opts Options, sockOpts socket.Options) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hub, err := New(ctx, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{hub: hub, conns: make(chan *socket.Conn, 64)}
	sockCtx, stop := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{CloseTimeout: testTimeout}})
		if err != nil {
			return
		}
		c := socket.New(ws, sockOpts)
		n.conns <- c
		n.hub.ServeSocket(sockCtx, c, withTestIdentity(req))
	}))
	t.Cleanup(func() {
		hub.Shutdown(context.Background())
		stop()
		srv.Close()
	})
	n.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return n
}

// client is a member's connection seen from its side.
type client struct {
	ws      *websocket.Conn
	welcome Welcome
	server  *socket.Conn
	early   []frame // frames read while looking for another, in order
}

// frame is a message from the server.
type frame struct {
	Type string
	Raw  []byte
}

// dial connects with query q and returns the connection once the server
// has it, before anything is read.
func (n *node) dial(t *testing.T, q url.Values) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, n.url+"/?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &client{ws: ws}
	select {
	case c.server = <-n.conns:
	case <-ctx.Done():
		t.Fatal("the server got no connection")
	}
	return c
}

// join connects as nick to room ("" for the default) with since (nil for
// none), reads the welcome and returns the member.
func (n *node) join(t *testing.T, nick, room string, since *Since) *client {
	t.Helper()
	q := url.Values{"nick": {nick}}
	if room != "" {
		q.Set("room", room)
	}
	if since != nil {
		q.Set("since", fmt.Sprint(since.Seq))
		q.Set("psince", fmt.Sprint(since.PSeq))
		q.Set("epoch", since.Epoch)
	}
	c := n.dial(t, q)
	if err := json.Unmarshal(c.read(t).Raw, &c.welcome); err != nil || c.welcome.Type != "welcome" {
		t.Fatalf("first message: not a welcome (%v)", err)
	}
	return c
}

func (c *client) read(t *testing.T) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, p, err := c.ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(p, &f); err != nil {
		t.Fatalf("not JSON: %s", p)
	}
	f.Raw = p
	return f
}

// take returns the first frame, among those read before and then new
// ones, that match wants; the others stay for later.
func (c *client) take(t *testing.T, want func(frame) bool) frame {
	t.Helper()
	for i, f := range c.early {
		if want(f) {
			c.early = append(c.early[:i:i], c.early[i+1:]...)
			return f
		}
	}
	for {
		f := c.read(t)
		if want(f) {
			return f
		}
		c.early = append(c.early, f)
	}
}

// event returns the next event of type typ. A join, leave or nick may have
// come in a "presence" event with others that happened meanwhile: its
// events are taken apart (each with the batch's sequence and time), in
// their order.
func (c *client) event(t *testing.T, typ string) Event {
	t.Helper()
	for {
		f := c.take(t, func(f frame) bool { return f.Type == typ || f.Type == "presence" })
		var e Event
		if err := json.Unmarshal(f.Raw, &e); err != nil || e.Seq == 0 {
			t.Fatalf("not an event: %s", f.Raw)
		}
		if e.Type == typ {
			return e
		}
		var parts []frame
		for _, p := range e.Events {
			raw, _ := json.Marshal(Event{Type: p.Type, Seq: e.Seq, Time: e.Time, Nick: p.Nick, Old: p.Old})
			parts = append(parts, frame{Type: p.Type, Raw: raw})
		}
		c.early = append(parts, c.early...)
	}
}

// errorMsg is an error message from the server.
type errorMsg struct {
	Type, Code, Error, ID, For string
}

// error returns the next error message.
func (c *client) error(t *testing.T) errorMsg {
	t.Helper()
	var m errorMsg
	json.Unmarshal(c.take(t, func(f frame) bool { return f.Type == "error" }).Raw, &m)
	return m
}

func (c *client) send(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// say sends text with id and returns its sequence from the acknowledgment.
func (c *client) say(t *testing.T, id, text string) uint64 {
	t.Helper()
	c.send(t, map[string]string{"type": "send", "id": id, "text": text})
	f := c.take(t, func(f frame) bool {
		var m struct{ Type, ID string }
		json.Unmarshal(f.Raw, &m)
		return (m.Type == "sent" || m.Type == "error") && m.ID == id
	})
	var s Sent
	if json.Unmarshal(f.Raw, &s); s.Type != "sent" || s.Seq == 0 {
		t.Fatalf("%q not acknowledged: %s", text, f.Raw)
	}
	return s.Seq
}

// since is what the client has seen: its welcome's positions, moved on by
// the events it has read since.
func (c *client) since(seq, pseq uint64) *Since {
	return &Since{Set: true, Epoch: c.welcome.Epoch, Seq: max(seq, c.welcome.Seq), PSeq: max(pseq, c.welcome.PSeq)}
}

// messages returns the texts of the messages in a welcome's history.
func messages(t *testing.T, w Welcome) []string {
	t.Helper()
	var out []string
	for _, raw := range w.History {
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == "message" {
			out = append(out, e.Text)
		}
	}
	return out
}

func TestChatOverWebSockets(t *testing.T) {
	t.Parallel()
	n := newNode(t, enginetest.Embedded(t), Options{MaxText: 100}, socket.Options{})
	ann := n.join(t, "ann", "", nil)
	if ann.welcome.Room != DefaultRoom || len(ann.welcome.Rooms) != 1 || ann.welcome.Rooms[0] != DefaultRoom {
		t.Errorf("welcome in room %q of %q, want the default room alone", ann.welcome.Room, ann.welcome.Rooms)
	}
	if e := ann.event(t, "join"); e.Nick != "ann" {
		t.Fatalf("ann's first event %+v, want her join", e)
	}
	bob := n.join(t, "bob", "", nil)
	for _, c := range []*client{ann, bob} {
		if e := c.event(t, "join"); e.Nick != "bob" {
			t.Fatalf("event %+v, want bob's join", e)
		}
	}
	annSeq := ann.say(t, "a1", "hi bob")
	bobSeq := bob.say(t, "b1", "hi ann")
	// Both see both messages, in the same order, with the numbers the
	// acknowledgments gave.
	a1, a2 := ann.event(t, "message"), ann.event(t, "message")
	b1, b2 := bob.event(t, "message"), bob.event(t, "message")
	if !reflect.DeepEqual(a1, b1) || !reflect.DeepEqual(a2, b2) || a1.Seq >= a2.Seq {
		t.Fatalf("ann saw %+v %+v, bob %+v %+v: want the same two events in sequence", a1, a2, b1, b2)
	}
	if a1.Seq != annSeq || a1.Text != "hi bob" || a1.ID != "a1" || a2.Seq != bobSeq || a2.Text != "hi ann" {
		t.Fatalf("messages %+v %+v, want ann's (%d) then bob's (%d)", a1, a2, annSeq, bobSeq)
	}

	// Too long, unknown, malformed, a bad id: an error each, and the
	// socket stays.
	ann.send(t, map[string]string{"type": "send", "text": strings.Repeat("x", 101)})
	ann.send(t, map[string]string{"type": "dance"})
	ann.send(t, map[string]any{"type": "send", "text": 5})
	ann.send(t, map[string]any{"type": "send", "text": "hi", "id": "a b"})
	ann.send(t, map[string]any{"type": "send", "text": " \u202e "})
	for _, want := range []string{socket.CodeTooBig, socket.CodeUnknownType, socket.CodeBadJSON, socket.CodeInvalid, socket.CodeInvalid} {
		if m := ann.error(t); m.Code != want {
			t.Fatalf("got %+v, want an error %s", m, want)
		}
	}
	// Bidi controls go from a message.
	ann.say(t, "a2", "open report\u202efdp.exe")
	if e := bob.event(t, "message"); e.Text != "open reportfdp.exe" {
		t.Errorf("bob got %q, want the text without its override", e.Text)
	}
	ann.send(t, map[string]string{"type": "nick", "nick": "annie"})
	for _, c := range []*client{ann, bob} {
		if e := c.event(t, "nick"); e.Nick != "annie" || e.Old != "ann" {
			t.Fatalf("event %+v, want ann's new nickname", e)
		}
	}

	// bob leaves; ann is told.
	bob.ws.Close(websocket.StatusNormalClosure, "")
	if e := ann.event(t, "leave"); e.Nick != "bob" {
		t.Fatalf("ann saw %+v, want bob's leave", e)
	}
}

func TestReconnectWithSinceGetsWhatWasMissed(t *testing.T) {
	t.Parallel()
	n := newNode(t, enginetest.Embedded(t), Options{}, socket.Options{})
	ann := n.join(t, "ann", "", nil)
	ann.event(t, "join")
	ann.say(t, "a0", "before")
	bob := n.join(t, "bob", "", nil)
	ann.event(t, "join")
	pseq := bob.event(t, "join").Seq // bob's join, the last event bob saw
	bob.ws.CloseNow()                // a network drop
	ann.event(t, "leave")
	for i := range 3 {
		ann.say(t, fmt.Sprint("m", i), fmt.Sprint("while you were away ", i))
	}
	again := n.join(t, "bob", "", bob.since(0, pseq))
	if got := messages(t, again.welcome); strings.Join(got, "|") != "while you were away 0|while you were away 1|while you were away 2" {
		t.Errorf("bob's catch-up has messages %q, want the 3 sent while he was away", got)
	}
	for _, raw := range again.welcome.History {
		var e Event
		json.Unmarshal(raw, &e)
		if e.Type != "message" && e.Seq <= pseq {
			t.Errorf("replayed presence event %+v, which bob had seen", e)
		}
	}
	if again.welcome.Reset || again.welcome.Truncated {
		t.Errorf("welcome %+v: nothing was lost", again.welcome)
	}
	// Another epoch: reset, and the whole history.
	stale := bob.since(0, pseq)
	stale.Epoch = "x-y"
	if w := n.join(t, "cy", "", stale).welcome; !w.Reset || len(messages(t, w)) != 4 {
		t.Errorf("since from another epoch: reset %v, %d messages; want a reset and all 4", w.Reset, len(messages(t, w)))
	}
}

// TestSlowConsumerDoesNotSlowOthers: a member that stops reading is
// disconnected with socket.CloseSlowConsumer once its queue fills, while a
// member that reads gets every message, each before the next is sent.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	const queue = 8
	n := newNode(t, enginetest.Embedded(t), Options{MaxText: 64 << 10}, socket.Options{QueueSize: queue, Rate: -1})
	fast := n.join(t, "fast", "", nil)
	stalled := n.join(t, "stalled", "", nil) // never reads until dropped
	ctx := context.Background()
	pub, _, err := n.hub.Join(ctx, &fakePeer{}, DefaultRoom, "pub", Since{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.hub.Leave(pub)

	// fast reads in the background and reports the sequence numbers of
	// messages.
	seqs := make(chan uint64, 1)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, p, err := fast.ws.Read(context.Background())
			if err != nil {
				readErr <- err
				return
			}
			var e Event
			json.Unmarshal(p, &e)
			if e.Type == "message" {
				seqs <- e.Seq
			}
		}
	}()

	text := strings.Repeat("x", 60<<10)
	// Loopback buffers hold a few MiB; 60 KiB messages fill them and the
	// queue within a few hundred. The bound only stops a broken test.
	const most = 5000
	sent := 0
	for ; sent < most; sent++ {
		select {
		case <-stalled.server.Done():
		default:
			seq, err := n.hub.Say(ctx, pub, "", text)
			if err != nil {
				t.Fatal(err)
			}
			// fast gets it before the next is sent: nothing waits on
			// stalled.
			select {
			case got := <-seqs:
				if got != seq {
					t.Fatalf("fast got message %d, want %d", got, seq)
				}
			case err := <-readErr:
				t.Fatalf("fast's read failed after %d messages: %v", sent, err)
			case <-time.After(testTimeout):
				t.Fatalf("fast did not get message %d", seq)
			}
			continue
		}
		break
	}
	if sent == most {
		t.Fatalf("stalled was not dropped after %d messages", most)
	}
	t.Logf("stalled dropped after %d messages of %d bytes", sent, len(text))

	// stalled reads what reached it, then the close frame.
	rctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	for {
		_, _, err := stalled.ws.Read(rctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != socket.CloseSlowConsumer || !strings.Contains(ce.Reason, "too slow") {
			t.Fatalf("stalled's read ended with %v, want close %d (too slow)", err, socket.CloseSlowConsumer)
		}
		break
	}
	// It is gone from the room (fast and pub stay).
	waitFor(t, "stalled gone", func() bool { return n.hub.Members() == 2 })
}

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, testTimeout, what, cond)
}

// fakePeer is a member's connection that keeps what it is sent.
type fakePeer struct {
	mu     sync.Mutex
	frames [][]byte
	closed bool
}

func (f *fakePeer) add(b []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, b)
	return true
}

func (f *fakePeer) Send(pm *websocket.PreparedMessage) bool { return f.add(pm.Payload()) }
func (f *fakePeer) SendOwn(b []byte) bool                   { return f.add(b) }
func (f *fakePeer) Close(websocket.StatusCode, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// events decodes the events among the frames.
func (f *fakePeer) events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for _, b := range f.frames {
		var e Event
		if json.Unmarshal(b, &e) == nil && e.Seq > 0 {
			out = append(out, e)
		}
	}
	return out
}
