// Package socket runs one console WebSocket connection: JSON text messages
// with a "type" field in, through a per-connection rate limit, and encoded
// frames out, through a bounded queue. The chat hub, the monitor and Exec
// each implement an Endpoint on top of it.
//
// A message that is not JSON, has no type, is binary, or goes over the rate
// gets an error message back and the connection goes on; only the
// WebSocket-level message size limit fails a connection (1009). A
// connection whose send queue fills, a client that cannot keep up, is closed
// with CloseSlowConsumer, so it never slows the others or grows memory.
// When the server shuts down, every connection is closed with 1001, once
// the frames queued for it by then are written.
package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/metrics"
	"github.com/wsdeck/wsdeck/websocket"
)

// CloseSlowConsumer is the close code of a connection dropped because its
// send queue was full. It is in the private-use range (RFC 6455 section
// 7.4.2); the reason says how many messages were queued.
const CloseSlowConsumer websocket.StatusCode = 4000

// Defaults for Options.
const (
	DefaultQueueSize    = 1024
	DefaultRate         = 20 // messages per second
	DefaultBurst        = 40
	DefaultWriteTimeout = 10 * time.Second
)

// Options configure a Conn. The zero value means the defaults.
type Options struct {
	// QueueSize is how many frames may wait to be written before the
	// connection is dropped as too slow. 0 means DefaultQueueSize. The
	// queue holds references to frames (a broadcast's bytes are shared by
	// every queue) and grows only while frames wait, so an idle connection
	// holds none of it.
	QueueSize int
	// Rate is how many messages per second a client may send on average,
	// and Burst how many at once; a message over the rate is answered with
	// an error and not handled. 0 means DefaultRate and DefaultBurst;
	// a negative Rate means no limit.
	Rate  float64
	Burst int
	// WriteTimeout bounds the writing of one message; a client that does
	// not take it within that time is disconnected. 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// PingInterval, if positive, pings the client at this interval, and a
	// client that does not answer within PingTimeout (0 means
	// PingInterval) is taken for dead and cut. The pings go from a timer,
	// so an idle connection keeps no goroutine for them.
	PingInterval, PingTimeout time.Duration
	// Metrics counts messages and drops; nil counts nothing.
	Metrics *metrics.Endpoint
}

// An Endpoint serves one protocol over accepted connections: the chat, the
// monitor, Exec.
type Endpoint interface {
	// ServeSocket runs the protocol on c, through c.Run, until the
	// connection ends. r is the handshake request (its URL carries the
	// endpoint's parameters), whose own context is done by the time
	// ServeSocket runs: the connection is served apart from its HTTP
	// handler. ctx is done when the server shuts down.
	ServeSocket(ctx context.Context, c *Conn, r *http.Request) error
}

// Conn is one console connection. Send, SendOwn, SendJSON, SendError and
// Close may be called from any goroutine; Run is called once.
//
// An idle connection holds one goroutine, Run's reader: the writer runs
// only while frames wait to be written (on a goroutine shared with other
// connections, see idleWriters), and the pings go from a timer.
type Conn struct {
	ws      *websocket.Conn
	opts    Options
	limiter bucket // used only by the reader

	mu      sync.Mutex
	queue   []frame        // guarded by mu: frames waiting for the writer
	leave   bool           // guarded by mu: close with 1001 once the queue is written
	running bool           // guarded by mu: Run runs; a writer or a ping may start
	writing bool           // guarded by mu: a writer runs
	dead    error          // guarded by mu: why the keepalive cut the connection
	writers sync.WaitGroup // added to under mu while running
	pings   sync.WaitGroup // added to under mu while running
	pongs   atomic.Int64   // pings answered, for tests

	// Used only by the one writer that runs at a time:
	batch    []frame
	run      []*websocket.PreparedMessage // the broadcasts of one write
	watchdog *time.Timer
	pinger   *time.Timer // set before Run starts it; never changed

	closeOnce sync.Once
	quit      chan struct{} // closed when the connection starts closing: the writer stops
	// Set inside closeOnce, read after it:
	closer chan struct{} // closed when our closing handshake returns; nil if we started none
	code   websocket.StatusCode
	reason string
}

// frame is an encoded text message waiting to be written.
type frame struct {
	data     []byte                     // a frame of this connection's own
	prepared *websocket.PreparedMessage // or a broadcast, encoded once for all
}

// New wraps an accepted WebSocket connection.
func New(ws *websocket.Conn, opts Options) *Conn {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Rate == 0 {
		opts.Rate, opts.Burst = DefaultRate, DefaultBurst
	}
	if opts.Burst <= 0 {
		opts.Burst = max(1, int(opts.Rate))
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.PingInterval > 0 && opts.PingTimeout <= 0 {
		opts.PingTimeout = opts.PingInterval
	}
	return &Conn{
		ws:      ws,
		opts:    opts,
		limiter: newBucket(opts.Rate, opts.Burst, time.Now()),
		quit:    make(chan struct{}),
	}
}

// Send queues a message shared with other connections, a broadcast,
// prepared once for all of them (see websocket.PreparedMessage). Send never
// blocks: if the queue is full, the connection is closed with
// CloseSlowConsumer and Send reports false, as it does once the connection
// is closing.
func (c *Conn) Send(pm *websocket.PreparedMessage) bool { return c.enqueue(frame{prepared: pm}) }

// SendOwn queues a frame for this connection alone, a reply or a backfill:
// it is compressed if permessage-deflate was agreed and it is large enough.
// It behaves as Send otherwise.
func (c *Conn) SendOwn(b []byte) bool { return c.enqueue(frame{data: b}) }

// SendJSON encodes v and queues it with SendOwn.
func (c *Conn) SendJSON(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("socket: encoding %T: %v", v, err)) // our own message types always encode
	}
	return c.SendOwn(b)
}

func (c *Conn) enqueue(f frame) bool {
	select {
	case <-c.quit:
		return false
	default:
	}
	c.mu.Lock()
	full := len(c.queue) >= c.opts.QueueSize
	if !full {
		c.queue = append(c.queue, f)
		c.startWriterLocked()
	}
	c.mu.Unlock()
	if full {
		c.opts.Metrics.SlowDropped()
		c.Close(CloseSlowConsumer, fmt.Sprintf("too slow: %d messages queued", c.opts.QueueSize))
		return false
	}
	return true
}

// startWriterLocked starts a writer if Run runs and none does. c.mu is
// held.
func (c *Conn) startWriterLocked() {
	if !c.running || c.writing {
		return
	}
	c.writing = true
	c.writers.Add(1)
	startWriter(c)
}

// Close starts closing the connection with code and reason, without
// waiting: queued frames are dropped, the close frame is sent, and Run
// returns once the client answers or the websocket package's close timeout
// passes. Only the first call has an effect.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.code, c.reason = code, reason
		close(c.quit)
		c.closer = make(chan struct{})
		go func() {
			defer close(c.closer)
			c.ws.Close(code, reason)
		}()
	})
}

// Done is closed when the connection starts closing.
func (c *Conn) Done() <-chan struct{} { return c.quit }

// Message is a message from the client.
type Message struct {
	Type string // its "type" field
	ID   string // its optional "id" field, echoed in an error reply
	// Data is the whole message, for the handler to decode the fields
	// of its type. It is valid only during the handler's call.
	Data []byte
}

// A Handler handles one message from the client, in the connection's
// reading goroutine. An error it returns is sent back as an error message
// (its code is that of an *Error, or CodeInternal), and the connection goes
// on.
type Handler func(m Message) error

// Run writes queued frames and reads messages, passing each well-formed one
// to h, until the connection ends. When ctx is done it closes the connection
// with StatusGoingAway, once the frames queued by then are written (what
// the server sent before it went, such as a job's end, reaches the client).
// It returns why the connection ended.
func (c *Conn) Run(ctx context.Context, h Handler) error {
	c.opts.Metrics.Opened()
	defer c.opts.Metrics.Closed()
	c.mu.Lock()
	c.running = true
	if len(c.queue) > 0 {
		c.startWriterLocked()
	}
	if c.opts.PingInterval > 0 {
		c.pinger = time.AfterFunc(c.opts.PingInterval, c.ping)
	}
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, c.goAway)
	err := c.readLoop(h)
	stop()
	c.mu.Lock()
	c.running = false // no writer or ping starts from now on
	dead := c.dead
	c.mu.Unlock()
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.closeOnce.Do(func() { close(c.quit) }) // the read ended: stop the writer, no close of our own
	c.writers.Wait()
	if c.closer != nil {
		<-c.closer
	}
	c.ws.CloseNow()
	c.pings.Wait() // a ping under way ends with the connection
	switch {
	case dead != nil:
		return fmt.Errorf("%w: %w", dead, err)
	case c.code != 0:
		return fmt.Errorf("closed by the server with %d (%s): %w", int(c.code), c.reason, err)
	}
	return err
}

// goAway has the writer close the connection with StatusGoingAway after
// the frames queued so far, and those that join them before it takes them:
// at most two batches, so a busy broadcast cannot hold the close back.
func (c *Conn) goAway() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leave = true
	c.startWriterLocked()
}

// ping pings the client, from the keepalive timer, and sets the timer
// again once the pong is in; a client that does not answer in time is cut.
func (c *Conn) ping() {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return
	}
	c.pings.Add(1)
	c.mu.Unlock()
	defer c.pings.Done()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.PingTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	select {
	case <-c.quit:
		return // closing: the close handshake or the read's end decides
	default:
	}
	if err != nil {
		c.mu.Lock()
		c.dead = fmt.Errorf("no pong within %v", c.opts.PingTimeout)
		c.mu.Unlock()
		c.ws.CloseNow()
		return
	}
	c.pongs.Add(1)
	c.mu.Lock()
	if c.running { // Run stops the timer once it has cleared running
		c.pinger.Reset(c.opts.PingInterval)
	}
	c.mu.Unlock()
}

// writeLoop writes the queued frames until the queue is empty, then
// returns: it runs only while frames wait.
func (c *Conn) writeLoop() {
	defer c.writers.Done()
	if c.watchdog == nil {
		// One timer for every write, rather than a context with a timeout
		// each: a write that outlasts WriteTimeout cuts the connection,
		// which ends the write (no close frame can get through a full
		// buffer).
		c.watchdog = time.AfterFunc(time.Hour, func() { c.ws.CloseNow() })
		c.watchdog.Stop()
	}
	for {
		c.mu.Lock()
		select {
		case <-c.quit:
			c.queue, c.batch, c.writing = nil, nil, false
			c.mu.Unlock()
			return
		default:
		}
		leave := c.leave
		if len(c.queue) == 0 && !leave {
			// Idle: neither the queue nor the batch is kept, so an idle
			// connection holds no slice of frames.
			c.queue, c.batch, c.run, c.writing = nil, nil, nil, false
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.batch = c.batch[:0], nil
		c.mu.Unlock()
		for i := 0; i < len(batch); {
			select {
			case <-c.quit: // closing wins over the queue
				c.endWriter()
				return
			default:
			}
			// A run of broadcasts goes out in one call (one system
			// call): a writer that fell behind catches up at once.
			j := i + 1
			if batch[i].prepared != nil {
				c.run = c.run[:0]
				for j = i; j < len(batch) && batch[j].prepared != nil && j-i < maxRun; j++ {
					c.run = append(c.run, batch[j].prepared)
				}
			}
			c.watchdog.Reset(c.opts.WriteTimeout)
			var err error
			if batch[i].prepared != nil {
				err = c.ws.WritePrepared(context.Background(), c.run...)
			} else {
				err = c.ws.Write(context.Background(), websocket.MessageText, batch[i].data)
			}
			if !c.watchdog.Stop() || err != nil {
				// A failed write closes the connection, which ends the
				// read too.
				c.endWriter()
				return
			}
			for _, f := range batch[i:j] {
				if f.prepared != nil {
					c.opts.Metrics.Sent(f.prepared.Len())
				} else {
					c.opts.Metrics.Sent(len(f.data))
				}
			}
			clear(c.run)
			clear(batch[i:j]) // the frames are not kept once written
			i = j
		}
		if leave {
			c.Close(websocket.StatusGoingAway, "server shutting down")
			c.endWriter()
			return
		}
		if cap(batch) <= maxKeptQueue {
			c.batch = batch[:0] // reused by the next swap
		}
	}
}

// endWriter marks the writer gone, on a path where the connection is
// closing: no writer starts after it (enqueue refuses frames then).
func (c *Conn) endWriter() {
	c.mu.Lock()
	c.queue, c.batch, c.run, c.writing = nil, nil, nil, false
	c.mu.Unlock()
}

// maxRun bounds the broadcasts written in one call.
const maxRun = 64

// maxKeptQueue is the largest queue capacity kept from one batch to the
// next while a burst lasts.
const maxKeptQueue = 64

// maxKeptBuffer is the largest read buffer kept between messages.
const maxKeptBuffer = 64 << 10

func (c *Conn) readLoop(h Handler) error {
	var buf []byte
	for {
		typ, p, err := c.ws.ReadAppend(context.Background(), buf[:0])
		if err != nil {
			return err
		}
		if buf = p; cap(buf) > maxKeptBuffer {
			buf = nil
		}
		c.opts.Metrics.Received(len(p))
		if !c.limiter.allow(time.Now()) {
			c.opts.Metrics.RateLimited()
			c.SendError("", "", Errorf(CodeRateLimited, "over %g messages per second: message dropped", c.opts.Rate))
			continue
		}
		m, err := Parse(typ, p)
		if err == nil {
			err = h(m)
		}
		if err != nil {
			c.opts.Metrics.Invalid()
			c.SendError(m.ID, m.Type, err)
		}
	}
}

// Parse reads a client's message: a text message holding a JSON object with
// a string "type" (and optionally a string "id"). The error is an *Error
// for the client; m.ID and m.Type are set as far as they could be read.
func Parse(typ websocket.MessageType, p []byte) (m Message, err error) {
	if typ != websocket.MessageText {
		return m, Errorf(CodeBadMessage, "binary message: send JSON text messages")
	}
	var env struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if err := json.Unmarshal(p, &env); err != nil {
		return m, Errorf(CodeBadJSON, "not a JSON object with a string type: %v", err)
	}
	m.ID = env.ID
	if env.Type == "" {
		return m, Errorf(CodeBadMessage, `no "type" field`)
	}
	m.Type, m.Data = env.Type, p
	return m, nil
}

// SendError queues an error message in reply to the message with id and
// type typ (either may be empty).
func (c *Conn) SendError(id, typ string, err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Message: err.Error()}
	}
	return c.SendJSON(errorMessage{Type: "error", Code: e.Code, Error: e.Message, ID: id, For: typ})
}

// Refuse ends a connection that cannot be served (its endpoint could not
// reach the engine): it writes err as an error message, then closes with
// 1001 (going away) so that the page comes back later, as after a
// restart. It returns once the connection has ended, with why, as Run.
func (c *Conn) Refuse(ctx context.Context, err error) error {
	c.SendError("", "", err)
	// Run with a context done at once writes what is queued, then
	// closes with 1001.
	done, cancel := context.WithCancel(ctx)
	cancel()
	return c.Run(done, func(Message) error { return nil })
}

// errorMessage is the error message's wire form (docs/protocol.md).
type errorMessage struct {
	Type  string `json:"type"` // "error"
	Code  string `json:"code"`
	Error string `json:"error"`
	ID    string `json:"id,omitempty"`
	For   string `json:"for,omitempty"`
}
