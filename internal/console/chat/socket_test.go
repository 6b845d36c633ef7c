package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"wsdeck/internal/console/socket"
	"wsdeck/websocket"
)

// testTimeout bounds every wait: generous, for a loaded machine.
const testTimeout = 30 * time.Second

// room is a hub served over real WebSocket connections on loopback.
type room struct {
	hub   *Hub
	url   string
	conns chan *socket.Conn // each server-side connection
}

func newRoom(t *testing.T, opts Options, sockOpts socket.Options) *room {
	t.Helper()
	r := &room{hub: NewHub(opts), conns: make(chan *socket.Conn, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{CloseTimeout: testTimeout}})
		if err != nil {
			return
		}
		c := socket.New(ws, sockOpts)
		r.conns <- c
		r.hub.ServeSocket(ctx, c, req)
	}))
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	r.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return r
}

// client is a member's connection seen from its side.
type client struct {
	ws      *websocket.Conn
	welcome Welcome
	server  *socket.Conn
}

func (r *room) join(t *testing.T, nick string, since *Since) *client {
	t.Helper()
	q := url.Values{"nick": {nick}}
	if since != nil {
		q.Set("since", fmt.Sprint(since.Seq))
		q.Set("epoch", since.Epoch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.url+"/?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &client{ws: ws}
	select {
	case c.server = <-r.conns:
	case <-ctx.Done():
		t.Fatal("the server got no connection")
	}
	if err := json.Unmarshal(c.read(t), &c.welcome); err != nil || c.welcome.Type != "welcome" {
		t.Fatalf("first message: not a welcome (%v)", err)
	}
	return c
}

func (c *client) read(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, p, err := c.ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

func (c *client) event(t *testing.T) Event {
	t.Helper()
	var e Event
	if p := c.read(t); json.Unmarshal(p, &e) != nil || e.Seq == 0 {
		t.Fatalf("not an event: %s", p)
	}
	return e
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

func TestChatOverWebSockets(t *testing.T) {
	t.Parallel()
	r := newRoom(t, Options{MaxText: 100}, socket.Options{})
	ann := r.join(t, "ann", nil)
	if e := ann.event(t); e.Type != "join" || e.Nick != "ann" {
		t.Fatalf("ann's first event %+v, want her join", e)
	}
	bob := r.join(t, "bob", nil)
	for _, c := range []*client{ann, bob} {
		if e := c.event(t); e.Type != "join" || e.Nick != "bob" {
			t.Fatalf("event %+v, want bob's join", e)
		}
	}
	ann.send(t, map[string]string{"type": "send", "text": "hi bob"})
	bob.send(t, map[string]string{"type": "send", "text": "hi ann"})
	// Both see both messages, in the same order, with the same numbers.
	a1, a2 := ann.event(t), ann.event(t)
	b1, b2 := bob.event(t), bob.event(t)
	if a1 != b1 || a2 != b2 || a1.Seq+1 != a2.Seq {
		t.Fatalf("ann saw %+v %+v, bob %+v %+v: want the same two events in sequence", a1, a2, b1, b2)
	}
	texts := map[string]string{a1.Nick: a1.Text, a2.Nick: a2.Text}
	if texts["ann"] != "hi bob" || texts["bob"] != "hi ann" {
		t.Fatalf("messages %v", texts)
	}

	// Too long, unknown, malformed: an error each, and the socket stays.
	ann.send(t, map[string]string{"type": "send", "text": strings.Repeat("x", 101)})
	ann.send(t, map[string]string{"type": "dance"})
	ann.send(t, map[string]any{"type": "send", "text": 5})
	for _, want := range []string{socket.CodeTooBig, socket.CodeUnknownType, socket.CodeBadJSON} {
		var m struct{ Type, Code string }
		if p := ann.read(t); json.Unmarshal(p, &m) != nil || m.Type != "error" || m.Code != want {
			t.Fatalf("got %s, want an error %s", p, want)
		}
	}
	ann.send(t, map[string]string{"type": "nick", "nick": "annie"})
	for _, c := range []*client{ann, bob} {
		if e := c.event(t); e.Type != "nick" || e.Nick != "annie" || e.Old != "ann" {
			t.Fatalf("event %+v, want ann's new nickname", e)
		}
	}

	// bob leaves; ann is told.
	bob.ws.Close(websocket.StatusNormalClosure, "")
	if e := ann.event(t); e.Type != "leave" || e.Nick != "bob" {
		t.Fatalf("ann saw %+v, want bob's leave", e)
	}
}

func TestReconnectWithSinceGetsWhatWasMissed(t *testing.T) {
	t.Parallel()
	r := newRoom(t, Options{}, socket.Options{})
	ann := r.join(t, "ann", nil)
	ann.event(t) // her join
	bob := r.join(t, "bob", nil)
	ann.event(t)             // bob's join
	last := bob.event(t).Seq // bob's join, the last event bob saw
	bob.ws.CloseNow()        // a network drop
	if e := ann.event(t); e.Type != "leave" {
		t.Fatalf("ann saw %+v, want bob's leave", e)
	}
	var sent []uint64
	for i := 0; i < 3; i++ {
		ann.send(t, map[string]string{"type": "send", "text": fmt.Sprint("while you were away ", i)})
		sent = append(sent, ann.event(t).Seq)
	}
	bob = r.join(t, "bob", &Since{Seq: last, Epoch: r.hub.Epoch()})
	var got []string
	for _, raw := range bob.welcome.History {
		var e Event
		json.Unmarshal(raw, &e)
		if e.Seq <= last {
			t.Errorf("replayed event %d, which bob had seen", e.Seq)
		}
		if e.Type == "message" {
			got = append(got, e.Text)
		}
	}
	if len(got) != 3 || got[0] != "while you were away 0" || got[2] != "while you were away 2" {
		t.Errorf("bob's replay has messages %q, want the 3 sent while he was away", got)
	}
	if bob.welcome.Reset || bob.welcome.Truncated {
		t.Errorf("welcome %+v: nothing was lost", bob.welcome)
	}
}

// TestSlowConsumerDoesNotSlowOthers: a member that stops reading is
// disconnected with socket.CloseSlowConsumer once its queue fills, while a
// member that reads gets every message, each before the next is sent.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	const queue = 8
	r := newRoom(t, Options{MaxText: 64 << 10}, socket.Options{QueueSize: queue, Rate: -1})
	fast := r.join(t, "fast", nil)
	stalled := r.join(t, "stalled", nil) // never reads until dropped
	pub := &fake{}
	r.hub.Join(pub, "pub", Since{})

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
			seq, err := r.hub.Say(pub, text)
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		_, _, err := stalled.ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != socket.CloseSlowConsumer || !strings.Contains(ce.Reason, "too slow") {
			t.Fatalf("stalled's read ended with %v, want close %d (too slow)", err, socket.CloseSlowConsumer)
		}
		break
	}
	// It is gone from the room (fast and pub stay), and fast hears it left.
	deadline := time.Now().Add(testTimeout)
	for r.hub.Members() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d members, want 2 once stalled is gone", r.hub.Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
