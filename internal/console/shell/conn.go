package shell

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// writeTimeout bounds the writing of one frame: a page that takes none
// within it is cut.
const writeTimeout = 10 * time.Second

// maxQueued is a last bound on one socket's queued bytes. The watermarks
// keep it far lower (an owner's page holds at most HighWater unacked, a
// watcher WatcherLimit); a socket past it is closed.
const maxQueued = 64 << 20

// maxAttached caps the sessions one socket holds at once.
const maxAttached = 64

// conn is one /ws/shell socket: frames out through a queue its writer
// goroutine empties, the sessions it is attached to by channel. Its
// viewer methods (called by sessions) and send never block.
type conn struct {
	ws *websocket.Conn

	mu      sync.Mutex
	queue   []outFrame           // guarded by mu
	queued  int                  // guarded by mu: bytes in queue
	atts    map[byte]*attachment // guarded by mu
	closed  bool                 // guarded by mu
	wake    chan struct{}        // a frame was queued (capacity 1)
	quit    chan struct{}        // closed when the socket ends
	written chan struct{}        // closed when the writer has returned
}

type outFrame struct {
	ch   byte   // binary: the channel; text: unused
	data []byte // binary: shared terminal output; text: a JSON message
	text bool
}

func newConn(ws *websocket.Conn) *conn {
	return &conn{
		ws: ws, atts: map[byte]*attachment{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), written: make(chan struct{}),
	}
}

func (c *conn) enqueue(f outFrame) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.queued+len(f.data) > maxQueued {
		c.mu.Unlock()
		go c.ws.Close(4000, "too slow: the shell's queue is full")
		return
	}
	c.queue = append(c.queue, f)
	c.queued += len(f.data)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send queues a JSON message.
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return // our own types always encode
	}
	c.enqueue(outFrame{data: b, text: true})
}

// writeLoop writes queued frames until quit.
func (c *conn) writeLoop() {
	defer close(c.written)
	var scratch []byte
	for {
		select {
		case <-c.quit:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		batch := c.queue
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
		for i, f := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			var err error
			if f.text {
				err = c.ws.Write(ctx, websocket.MessageText, f.data)
			} else {
				scratch = append(append(scratch[:0], f.ch), f.data...)
				err = c.ws.Write(ctx, websocket.MessageBinary, scratch)
			}
			cancel()
			batch[i] = outFrame{}
			if err != nil {
				c.ws.CloseNow()
				return
			}
		}
		if cap(scratch) > 1<<20 {
			scratch = nil
		}
	}
}

// The viewer methods.

func (c *conn) output(ch byte, p []byte) { c.enqueue(outFrame{ch: ch, data: p}) }

func (c *conn) ended(ch byte, id, reason string) {
	c.drop(ch)
	c.send(endedMsg{Type: "ended", Ch: ch, Session: id, Reason: reason})
}

func (c *conn) detached(ch byte, id, why string) {
	c.drop(ch)
	c.send(endedMsg{Type: "detached", Ch: ch, Session: id, Reason: why})
}

func (c *conn) resized(ch byte, cols, rows int) {
	c.send(sizeMsg{Type: "size", Ch: ch, Cols: cols, Rows: rows})
}

func (c *conn) drop(ch byte) {
	c.mu.Lock()
	delete(c.atts, ch)
	c.mu.Unlock()
}

// add attaches a session on the first free channel, through attach,
// whose hello must call c.claim. The channel is held with a placeholder
// while attach runs outside c.mu (a session's lock comes before c.mu:
// its output calls in here).
func (c *conn) add(attach func(ch byte) (*attachment, error)) (*attachment, error) {
	c.mu.Lock()
	if len(c.atts) >= maxAttached {
		c.mu.Unlock()
		return nil, errTooMany
	}
	var ch byte
	for i := byte(1); i != 0; i++ {
		if _, used := c.atts[i]; !used {
			ch = i
			break
		}
	}
	if ch == 0 {
		c.mu.Unlock()
		return nil, errTooMany
	}
	c.atts[ch] = nil // held
	c.mu.Unlock()
	a, err := attach(ch)
	if err != nil {
		c.mu.Lock()
		if c.atts[ch] == nil {
			delete(c.atts, ch)
		}
		c.mu.Unlock()
		return nil, err
	}
	return a, nil
}

// claim puts a on its held channel, from a session's attach (its lock
// held), before anything is queued for it: input on the channel reaches
// it from then on. On a closing socket a is detached again.
func (c *conn) claim(a *attachment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		go a.detach()
		return
	}
	c.atts[a.ch] = a
}

func (c *conn) get(ch byte) *attachment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atts[ch]
}

// end detaches every session and stops the writer.
func (c *conn) end() {
	c.mu.Lock()
	c.closed = true
	atts := c.atts
	c.atts, c.queue = map[byte]*attachment{}, nil
	c.mu.Unlock()
	for _, a := range atts {
		if a != nil {
			a.detach()
		}
	}
	close(c.quit)
	<-c.written
}
