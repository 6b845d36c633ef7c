package websocket

import (
	"errors"
	"io"
	"net"
	"sync"
)

// connReader is the buffered reader of a connection: bufio.Reader's Peek,
// Discard, Read and Buffered, with one difference that matters for servers
// holding many idle connections. Its buffer comes from a pool when bytes
// are to be read into it, and goes back to the pool whenever it is empty
// and the reader is about to wait for the peer, so that a connection
// waiting for its next message holds no buffer at all.
//
// On a TCP or Unix socket (and on Unix systems) the wait costs nothing
// extra: the read is made through syscall.RawConn, which tries the read
// system call first, as net.Conn.Read does, and gives the buffer back only
// if the socket had nothing, before parking on the poller. Elsewhere (TLS,
// pipes) the buffer is held for the connection's life, as bufio does.
//
// Not safe for concurrent use: the connection's read lock guards it.
type connReader struct {
	nc     net.Conn
	raw    rawReader // nil: read through nc, and keep the buffer
	prefix []byte    // bytes read from nc before this reader existed, read first
	size   int       // the buffer's size
	pool   *sync.Pool
	buf    []byte // nil while released; a parkSize buffer while parked holding a few bytes
	bufp   *[]byte
	r, w   int // buf[r:w] is buffered
	err    error

	// A scatter read (see arm): the next read from the socket puts its
	// first hdr bytes in the buffer and the rest straight into the
	// caller's memory, where a payload after a header of that length
	// belongs. pending is what landed there: logically buffered after
	// buf[r:w], handed over in place by a Read into the same memory, and
	// moved into the buffer by anything else (unspill).
	spillTo  []byte // armed: the caller's memory; nil when disarmed
	spillHdr int    // the guess of the next frame header's length
	pending  []byte
	inPlace  int64 // bytes handed over in place, for tests
}

// parkSize is the size of the buffer a pooled reader keeps while it waits
// for the rest of a frame header or control frame: the few bytes it holds
// move into one, so that a peer that stalls mid-frame does not hold a full
// read buffer. It is larger than the longest Peek.
const parkSize = 512

var parkPool = sync.Pool{New: func() any {
	b := make([]byte, parkSize)
	return &b
}}

// rawReader reads from a socket without holding a buffer while it waits:
// readInto(nil) reads into the connReader's buffer, acquired when the
// socket has bytes and released when it has none; readInto(p, false) into
// p; readInto(p, true) into p and then, when more bytes are there, into
// the empty buffer (only where haveReadv).
type rawReader interface {
	readInto(p []byte, ahead bool) (int, error)
}

var readPools sync.Map // buffer size → *sync.Pool of *[]byte

func readPool(size int) *sync.Pool {
	if p, ok := readPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := readPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// newConnReader returns a reader of size bytes over nc that first returns
// prefix (which it keeps). Size 0 is pooledReadBufferSize where the buffer
// can be pooled, defaultReadBufferSize where it cannot.
func newConnReader(nc net.Conn, prefix []byte, size int) *connReader {
	b := &connReader{nc: nc, prefix: prefix}
	b.raw = newRawReader(nc, b)
	if size <= 0 {
		size = defaultReadBufferSize
		if b.raw != nil {
			size = pooledReadBufferSize
		}
	}
	b.size, b.pool = size, readPool(size)
	if b.raw == nil {
		b.acquire() // kept for good
	}
	return b
}

// acquire makes sure the reader has a full buffer to read into: from the
// pool, or in place of the small one it parked with.
func (b *connReader) acquire() {
	if b.buf != nil && len(b.buf) == b.size {
		return
	}
	bp := b.pool.Get().(*[]byte)
	if b.buf != nil {
		b.w = copy(*bp, b.buf[b.r:b.w])
		b.r = 0
		b.put()
	}
	b.bufp, b.buf = bp, *bp
}

// put gives the buffer back to its pool.
func (b *connReader) put() {
	b.bufPool().Put(b.bufp)
	b.buf, b.bufp = nil, nil
}

// bufPool is the pool the buffer came from: the park pool's, or the
// reader's own.
func (b *connReader) bufPool() *sync.Pool {
	if len(b.buf) == parkSize && b.size != parkSize {
		return &parkPool
	}
	return b.pool
}

// park is called when the reader is about to wait for the peer: an empty
// buffer goes back to its pool, and a few bytes (part of a frame header,
// say) move into a parkSize buffer, so that a waiting connection holds at
// most that much. It calls the pools itself rather than through put, to
// keep the stack of a goroutine about to wait shallow.
func (b *connReader) park() {
	if b.buf == nil || b.raw == nil {
		return
	}
	n := b.w - b.r
	var sp *[]byte
	if n > 0 {
		if len(b.buf) <= parkSize || n > parkSize/2 {
			return
		}
		sp = parkPool.Get().(*[]byte)
		copy(*sp, b.buf[b.r:b.w])
	}
	b.bufPool().Put(b.bufp)
	b.bufp, b.buf, b.r, b.w = nil, nil, 0, 0
	if sp != nil {
		b.bufp, b.buf, b.w = sp, *sp, n
	}
}

// arm makes the next read from the socket a scatter read: spillHdr bytes
// (the length of the last frame header seen) into the empty buffer, the
// rest into dst, of which at most the buffer's size less spillHdr, so that
// they always fit back into the buffer. It does nothing where scatter
// reads are not made (see readv). The caller disarms before it returns
// dst to anyone, and unspills before dst may change. A wrong guess of the
// header's length costs the copy there would have been anyway. Not
// inlined, so that its locals do not widen the frame of a reader about to
// wait (see await).
//
//go:noinline
func (b *connReader) arm(dst []byte) {
	if !haveReadv || b.raw == nil || len(b.prefix) > 0 || b.Buffered() > 0 || b.spillHdr < 2 || b.spillHdr >= b.size {
		return
	}
	b.spillTo = dst[:min(len(dst), b.size-b.spillHdr)]
}

// disarm ends what arm began, and takes the length of the frame header
// now at the front of the buffer as the next guess.
func (b *connReader) disarm() {
	b.spillTo = nil
	if h := b.buf[b.r:b.w]; len(h) >= 2 {
		b.spillHdr = headerLen(h[1])
	}
}

// unspill moves the pending bytes into the buffer, after what it holds.
func (b *connReader) unspill() {
	if b.pending == nil {
		return
	}
	b.acquire()
	if b.r > 0 {
		copy(b.buf, b.buf[b.r:b.w])
		b.w -= b.r
		b.r = 0
	}
	b.w += copy(b.buf[b.w:], b.pending)
	b.pending = nil
}

// Size returns the size of the buffer.
func (b *connReader) Size() int { return b.size }

// Buffered returns how many bytes can be read without waiting.
func (b *connReader) Buffered() int { return b.w - b.r + len(b.pending) }

func (b *connReader) readErr() error {
	err := b.err
	b.err = nil
	return err
}

// fill reads once more into the buffer, after what it holds.
func (b *connReader) fill() {
	b.unspill()
	if b.r > 0 {
		copy(b.buf, b.buf[b.r:b.w])
		b.w -= b.r
		b.r = 0
	}
	var n int
	var err error
	if b.raw != nil && len(b.prefix) == 0 {
		// Into the buffer, which is acquired when bytes are there, and
		// may change while the read waits (see park).
		n, err = b.readRaw(nil, false)
	} else {
		b.acquire()
		if b.w >= len(b.buf) {
			panic("websocket: connReader.fill on a full buffer")
		}
		n, err = b.read(b.buf[b.w:])
	}
	b.w += n
	if err != nil {
		b.err = err
	}
}

// read reads into p: the prefix first, then the connection.
func (b *connReader) read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		if b.prefix = b.prefix[n:]; len(b.prefix) == 0 {
			b.prefix = nil
		}
		return n, nil
	}
	if b.raw == nil {
		return b.nc.Read(p)
	}
	return b.readRaw(p, false)
}

// readAheadMin is the least a Read must want for it to be made straight
// into the caller's memory with the buffer after it (see rawReader).
const readAheadMin = 1 << 10

// readRaw reads with b.raw, retrying reads of nothing.
func (b *connReader) readRaw(p []byte, ahead bool) (int, error) {
	for range 100 {
		n, err := b.raw.readInto(p, ahead)
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, io.ErrNoProgress
}

// await waits until bytes are buffered (or the read fails: the error is
// kept for the next Peek or Read). Called where a reader starts to wait
// for a message, near the top of its goroutine's stack, it keeps the
// frames of the frame parser off the stack of a goroutine parked for an
// idle peer: such a goroutine then fits in the smallest stack (2 KiB),
// which matters when there are many.
func (b *connReader) await() {
	if b.Buffered() == 0 && b.err == nil {
		b.fill()
	}
}

// Peek returns the next n bytes without consuming them; fewer, with an
// error, if the connection ends or fails first. n over the buffer's size
// is ErrBufferFull's stand-in, errPeekTooBig.
func (b *connReader) Peek(n int) ([]byte, error) {
	if b.w-b.r < n {
		b.unspill()
	}
	if n > b.size {
		return b.buf[b.r:b.w], errPeekTooBig
	}
	for b.w-b.r < n && b.err == nil {
		b.fill()
	}
	if avail := b.w - b.r; avail < n {
		p := b.buf[b.r:b.w]
		err := b.readErr()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return p, err
	}
	return b.buf[b.r : b.r+n], nil
}

// Discard skips the next n bytes, which must be buffered (Peek them
// first).
func (b *connReader) Discard(n int) (int, error) {
	if n > b.w-b.r {
		b.unspill()
		if n > b.w-b.r {
			panic("websocket: connReader.Discard of bytes not buffered")
		}
	}
	b.r += n
	return n, nil
}

// Read reads into p: what is buffered, or else one read from the
// connection, straight into p when p is at least as large as the buffer.
func (b *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if b.Buffered() > 0 {
			return 0, nil
		}
		return 0, b.readErr()
	}
	if b.pending != nil {
		if b.r == b.w && &p[0] == &b.pending[0] {
			// The bytes are where they are wanted already.
			n := min(len(p), len(b.pending))
			rest := b.pending[n:]
			b.pending = nil
			b.inPlace += int64(n)
			if len(rest) > 0 {
				b.acquire()
				b.r, b.w = 0, copy(b.buf, rest)
			}
			return n, nil
		}
		b.unspill()
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.readErr()
		}
		if haveReadv && b.raw != nil && len(b.prefix) == 0 && len(p) >= readAheadMin {
			// Straight into p, and what follows into the buffer:
			// one system call, and no copy.
			b.r, b.w = 0, 0
			return b.readRaw(p, true)
		}
		if len(p) >= b.size {
			// Large read: straight into p, no copy.
			return b.read(p)
		}
		b.r, b.w = 0, 0
		b.fill()
		if b.r == b.w {
			return 0, b.readErr()
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

var errPeekTooBig = errors.New("websocket: peek beyond the read buffer")
