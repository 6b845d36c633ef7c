package websocket

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MessageType is the type of a data message.
type MessageType int

// The data message types: text (UTF-8: Read checks it, Write does not) and
// binary.
const (
	MessageText   MessageType = MessageType(opText)
	MessageBinary MessageType = MessageType(opBinary)
)

// String returns the constant's name, or MessageType(n) for another value.
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "MessageText"
	case MessageBinary:
		return "MessageBinary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// Defaults of the limits in ConnOptions, AcceptOptions and DialOptions, for
// programs that show them (as flag defaults, say).
const (
	DefaultMaxMessageSize   = 16 << 20
	DefaultMaxMessageFrames = 1 << 20
	DefaultCloseTimeout     = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHeaderBytes   = 16 << 10
)

// Default buffer sizes.
const (
	defaultReadBufferSize = 4096
	// pooledReadBufferSize is the default read buffer of TCP and Unix
	// sockets. It is taken from a pool when bytes arrive and given back
	// when the connection waits with nothing buffered, so an idle
	// connection holds none; while active, it lets one read system call
	// take a 16 KiB message with its header (4 KiB took three).
	pooledReadBufferSize   = 32 << 10
	defaultWriteBufferSize = 8192
)

// Errors.
var (
	// ErrMessageTooBig is matched (errors.Is) by the error of a connection
	// failed because a message was over ConnOptions.MaxMessageSize.
	ErrMessageTooBig = errors.New("websocket: message too big")

	// errClosed is what calls on a connection closed by this side return.
	errClosed = fmt.Errorf("websocket: %w", net.ErrClosed)
	// errCloseSent is returned by writes of data after Close began.
	errCloseSent = fmt.Errorf("websocket: close sent: %w", net.ErrClosed)
)

// ConnOptions are the settings of an established connection, shared by
// AcceptOptions and DialOptions. The zero value means the defaults.
type ConnOptions struct {
	// MaxMessageSize is the largest message Read accepts, in bytes. A
	// larger one fails the connection with StatusMessageTooBig, decided
	// from the frame's declared length before its payload is read.
	// 0 means DefaultMaxMessageSize (16 MiB); negative means no limit.
	MaxMessageSize int64

	// MaxMessageFrames is the most frames one message may have. Past it
	// the connection fails with StatusPolicyViolation. 0 means
	// DefaultMaxMessageFrames; negative means no limit.
	MaxMessageFrames int

	// ReadBufferSize is the size of the read buffer. 0 means 32 KiB on
	// TCP and Unix sockets, where the buffer is pooled and held only while
	// bytes wait in it, and 4 KiB on other connections (TLS, pipes,
	// HTTP/2 streams), which keep theirs.
	ReadBufferSize int

	// WriteBufferSize is the size of the buffer frames are assembled in.
	// Buffers are pooled, so an idle connection holds none. 0 means
	// 8 KiB; less than 256 means 256.
	WriteBufferSize int

	// CloseTimeout bounds the close handshake: how long Close waits for
	// the peer's close frame, and how long writing a close frame may take.
	// 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// PingInterval, if positive, makes the connection ping its peer at
	// this interval; a peer that does not answer within PingTimeout is
	// taken for dead and the connection is closed. Pongs are read by the
	// connection's reader, so keepalive needs one.
	PingInterval time.Duration
	// PingTimeout is how long a keepalive ping waits for its pong. 0 means
	// PingInterval.
	PingTimeout time.Duration

	// Compression configures permessage-deflate, off unless
	// Compression.Enabled.
	Compression CompressionOptions
}

func (o ConnOptions) withDefaults() ConnOptions {
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxMessageFrames == 0 {
		o.MaxMessageFrames = DefaultMaxMessageFrames
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = defaultWriteBufferSize
	}
	if o.WriteBufferSize < 256 {
		o.WriteBufferSize = 256
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.PingInterval > 0 && o.PingTimeout <= 0 {
		o.PingTimeout = o.PingInterval
	}
	return o
}

// Conn is a WebSocket connection.
//
// One goroutine may read at a time (Read, ReadAppend, Reader and reads from
// the reader it returns); Write, Writer, Ping, Close and CloseNow may be
// called from any goroutine, and are serialized inside.
type Conn struct {
	nc          net.Conn
	br          *connReader
	client      bool
	subprotocol string
	opts        ConnOptions
	deflate     *deflateState // nil unless permessage-deflate was agreed

	// Reading. Guarded by readMu.
	readMu    ctxMutex
	mr        messageReader
	ctrl      [maxControlPayload]byte
	readWatch sync.WaitGroup // a ctx's read deadline being set (watchRead)

	// Writing. msgMu is held for a whole message, frameMu for one frame,
	// so control frames can go out between the frames of a long message.
	msgMu        ctxMutex
	frameMu      ctxMutex
	mw           messageWriter
	hdr          [maxHeaderSize]byte // guarded by frameMu
	iovArr       [2][]byte           // guarded by frameMu
	iov          net.Buffers         // guarded by frameMu
	writev       bool                // nc takes vectored writes
	rng          *mrand.ChaCha8      // masking keys, client only; guarded by frameMu
	writeErr     error               // guarded by frameMu
	closeWritten bool                // the close frame is going or went out; guarded by frameMu
	wpool        *sync.Pool          // of *[]byte of opts.WriteBufferSize
	writeWatch   sync.WaitGroup      // a ctx's write deadline being set (watchWrite); guarded by frameMu

	closeMu       sync.Mutex  // held while the close frame is claimed and written
	closeSent     atomic.Bool // a close frame was sent or is being sent; set under closeMu
	lingering     atomic.Bool // failed: closing once the peer had the close frame
	mu            sync.Mutex
	closeErr      error // guarded by mu
	closeOnce     sync.Once
	closed        chan struct{} // closed when the connection is closed
	closeRcvdOnce sync.Once
	closeRcvd     chan struct{} // closed when the peer's close frame was read

	pingMu  sync.Mutex
	pings   map[uint64]chan struct{} // guarded by pingMu
	pingSeq atomic.Uint64            // the id of the latest ping; added to under frameMu
	pong    atomic.Pointer[pongSlot] // the pongs owed; stored by the reader at the first ping
}

var defaultWritePool = &sync.Pool{New: func() any {
	b := make([]byte, defaultWriteBufferSize)
	return &b
}}

// newConn makes a Conn over nc, reading through br (which may hold bytes
// already read from nc).
func newConn(nc net.Conn, br *bufio.Reader, client bool, subprotocol string, opts ConnOptions) *Conn {
	opts = opts.withDefaults()
	c := &Conn{
		nc:          nc,
		client:      client,
		subprotocol: subprotocol,
		opts:        opts,
		closed:      make(chan struct{}),
		closeRcvd:   make(chan struct{}),
	}
	c.br = readerFor(nc, br, opts.ReadBufferSize)
	// The first guess of a frame header's length, for scatter reads: a
	// message of 126 bytes to 64 KiB, masked if it comes from a client.
	c.br.spillHdr = 4
	if !client {
		c.br.spillHdr = 8
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		c.writev = true
	}
	c.mr.c = c
	c.mw.c = c
	if opts.WriteBufferSize == defaultWriteBufferSize {
		c.wpool = defaultWritePool
	} else {
		size := opts.WriteBufferSize
		c.wpool = &sync.Pool{New: func() any {
			b := make([]byte, size)
			return &b
		}}
	}
	if client {
		var seed [32]byte
		rand.Read(seed[:])
		c.rng = mrand.NewChaCha8(seed)
	}
	if opts.PingInterval > 0 {
		go c.keepalive()
	}
	return c
}

// readerFor returns the reader of nc, with a buffer of at least size
// bytes, that first yields whatever br (which read the handshake) holds.
// br itself is let go.
func readerFor(nc net.Conn, br *bufio.Reader, size int) *connReader {
	// A control frame is parsed from one Peek of its header and payload.
	const minSize = 2 * (maxHeaderSize + maxControlPayload)
	if size > 0 {
		size = max(size, minSize)
	}
	var prefix []byte
	if br != nil && br.Buffered() > 0 {
		b, _ := br.Peek(br.Buffered())
		prefix = bytes.Clone(b)
	}
	return newConnReader(nc, prefix, size)
}

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Done returns a channel that is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// closeConn closes the underlying connection once, recording why; calls
// that fail afterwards report err (errClosed when it is nil).
func (c *Conn) closeConn(err error) {
	c.closeOnce.Do(func() {
		if err == nil {
			err = errClosed
		}
		c.mu.Lock()
		c.closeErr = err
		c.mu.Unlock()
		close(c.closed)
		c.nc.Close()
	})
}

// closedErr returns the error that closed the connection, or nil while it
// is open.
func (c *Conn) closedErr() error {
	select {
	case <-c.closed:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closeErr
	default:
		return nil
	}
}

// CloseNow closes the connection without the close handshake. A
// connection failed for a protocol error is closed a moment later, once
// the peer has had the close frame (at most CloseTimeout).
func (c *Conn) CloseNow() error {
	if c.closedErr() != nil {
		return errClosed
	}
	if c.lingering.Load() {
		return nil
	}
	c.closeConn(nil)
	return nil
}
