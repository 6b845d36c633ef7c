package websocket

import (
	"io"
	"sync"

	"github.com/wsdeck/wsdeck/websocket/internal/deflate"
	"github.com/wsdeck/wsdeck/websocket/internal/inflate"
)

// CompressionOptions configure permessage-deflate (RFC 7692). The zero
// value means compression off: a server declines every offer, and
// browsers always make one, so a server of many browser connections pays
// for compression only if it asks for it.
//
// Memory: with context takeover a connection keeps its compressor and its
// decompressor's window between messages, as long as it lives, idle or
// not: hundreds of KiB with 15-bit windows, less with smaller windows
// (BenchmarkCompressionMemory measures it). With NoContextTakeover both come
// from pools for each message, and an idle connection keeps almost
// nothing more than one without compression. A server with many
// connections that enables compression should set NoContextTakeover.
type CompressionOptions struct {
	// Enabled turns compression on: a server accepts a client's offer of
	// permessage-deflate, a client makes one. With Enabled false the other
	// fields are ignored.
	Enabled bool

	// NoContextTakeover compresses every message on its own, in both
	// directions: the negotiation asks the peer for it too. It saves the
	// per-connection compression state at the cost of ratio.
	NoContextTakeover bool

	// ServerMaxWindowBits and ClientMaxWindowBits bound the LZ77 window
	// of each side's compressor, 8 to 15; 0 means 15. A server uses at most
	// ServerMaxWindowBits itself and asks the client for at most
	// ClientMaxWindowBits; a client asks for and uses the same. Smaller
	// windows take less memory with context takeover.
	ServerMaxWindowBits int
	ClientMaxWindowBits int

	// Threshold is the size below which messages are sent uncompressed.
	// 0 means 128 bytes; negative compresses every
	// message.
	Threshold int

	// Level is the compression level, 1 (fastest) to 9 (smallest); 0
	// means 1.
	Level int
}

// Defaults for CompressionOptions.
const (
	defaultCompressionThreshold = 128
	defaultCompressionLevel     = 1
)

func (o *CompressionOptions) serverWindowBits() int { return windowOrMax(o.ServerMaxWindowBits) }
func (o *CompressionOptions) clientWindowBits() int { return windowOrMax(o.ClientMaxWindowBits) }

func windowOrMax(bits int) int {
	if bits < 8 || bits > 15 {
		return 15
	}
	return bits
}

// deflateTail ends a compressed message for the decompressor: the 4 bytes
// of the sync flush that the sender removed (RFC 7692 section 7.2.2), then
// an empty final stored block, so that the decompressor stops at io.EOF
// instead of waiting for a next block.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// compressor is a raw DEFLATE compressor that keeps its history across
// Flush: permessage-deflate's context takeover.
type compressor interface {
	io.Writer
	Flush() error
	Reset(dst io.Writer)
}

// deflateState is a connection's permessage-deflate state.
type deflateState struct {
	agreed    deflateAgreement
	threshold int
	level     int

	// Writing; guarded by Conn.msgMu. With context takeover the
	// compressor lives as long as the connection; without, one comes from
	// a pool for each message.
	cw *compressorBuf

	// Reading; guarded by Conn.readMu. With context takeover the
	// decompressor, whose window is the history the next message may
	// refer to, lives as long as the connection; without, one comes from
	// a pool for each message.
	inf *inflate.Reader // with context takeover; nil until the first message
	src inflateSource
}

// compressorBuf is a compressor and the buffer it writes to.
type compressorBuf struct {
	c   compressor
	buf sliceWriter
	bp  *[]byte // the pooled buffer buf.b came from, while a message is written
}

// sliceWriter appends what is written to it.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// compressorPools hold compressors for no context takeover, one pool for
// each level and window.
var compressorPools sync.Map // of compressorKey -> *sync.Pool

type compressorKey struct{ level, bits int }

func getCompressor(level, bits int) *compressorBuf {
	k := compressorKey{level, bits}
	p, ok := compressorPools.Load(k)
	if !ok {
		p, _ = compressorPools.LoadOrStore(k, &sync.Pool{})
	}
	if cb, ok := p.(*sync.Pool).Get().(*compressorBuf); ok {
		return cb
	}
	cb := &compressorBuf{}
	cb.c = newCompressor(&cb.buf, level, bits)
	return cb
}

func putCompressor(level, bits int, cb *compressorBuf) {
	cb.c.Reset(&cb.buf)
	cb.buf.b = nil
	p, _ := compressorPools.Load(compressorKey{level, bits})
	p.(*sync.Pool).Put(cb)
}

// newDeflateState sets up compression as agreed.
func newDeflateState(agreed deflateAgreement, o CompressionOptions) *deflateState {
	d := &deflateState{agreed: agreed, threshold: o.Threshold, level: o.Level}
	if d.threshold == 0 {
		d.threshold = defaultCompressionThreshold
	}
	if d.level < 1 || d.level > 9 {
		d.level = defaultCompressionLevel
	}
	return d
}

// compress compresses p as one message and returns the frame payload: the
// DEFLATE data with the sync flush's final 4 bytes removed. It is valid
// until release.
func (d *deflateState) compress(p []byte) ([]byte, error) {
	cb := d.cw
	if cb == nil {
		cb = getCompressor(d.level, d.agreed.writeWindowBits)
		d.cw = cb
	}
	cb.takeOutBuf()
	if _, err := cb.c.Write(p); err != nil {
		return nil, err
	}
	if err := cb.c.Flush(); err != nil {
		return nil, err
	}
	out := cb.buf.b
	return out[:max(len(out)-4, 0)], nil
}

// release ends the use of compress's result: without context takeover the
// compressor goes back to its pool.
func (d *deflateState) release() {
	cb := d.cw
	if cb == nil {
		return
	}
	cb.giveOutBuf()
	if d.agreed.writeNoContextTakeover {
		putCompressor(d.level, d.agreed.writeWindowBits, cb)
		d.cw = nil
	}
}

// outBufs hold the buffers compressed messages are assembled in, shared by
// all connections so that an idle one keeps none.
var outBufs sync.Pool // of *[]byte

// takeOutBuf gives cb an empty output buffer from the pool.
func (cb *compressorBuf) takeOutBuf() {
	bp, ok := outBufs.Get().(*[]byte)
	if !ok {
		b := make([]byte, 0, 4096)
		bp = &b
	}
	cb.bp = bp
	cb.buf.b = (*bp)[:0]
}

// giveOutBuf returns cb's output buffer to the pool.
func (cb *compressorBuf) giveOutBuf() {
	if cb.bp == nil {
		return
	}
	if cap(cb.buf.b) <= 4<<20 {
		*cb.bp = cb.buf.b[:0]
		outBufs.Put(cb.bp)
	}
	cb.bp = nil
	cb.buf.b = nil
}

// inflateSource gives the decompressor a compressed message's payload,
// unmasked, across its frames, then deflateTail, as pieces (inflate.Source):
// up to a read buffer's worth of payload at a time, read (readPayload: a
// copy from the read buffer, unmasked with one call to mask) into a buffer
// of its own, taken from a pool while the message is read. The piece is
// the source's own, rather than a window on the read buffer, so that
// nothing that reads the connection, between two reads of a message
// through Reader say, can disturb it.
type inflateSource struct {
	mr        *messageReader
	bufp      *[]byte // the pieces' buffer, from inflateBufs; nil when not held
	done      bool    // the payload is all read
	tailGiven bool    // deflateTail was given
}

// inflateChunk is the most payload an inflateSource reads at once: the
// default read buffer, so that one read usually takes all it holds.
const inflateChunk = defaultReadBufferSize

var inflateBufs = sync.Pool{New: func() any {
	b := make([]byte, inflateChunk)
	return &b
}}

// Next returns the next piece of the compressed stream: payload, then
// deflateTail, then io.EOF.
func (s *inflateSource) Next() ([]byte, error) {
	mr := s.mr
	for !s.done {
		if s.bufp == nil {
			s.bufp = inflateBufs.Get().(*[]byte)
		}
		n, err := mr.readPayload(*s.bufp)
		if err == io.EOF {
			s.done = true
			if n > 0 {
				return (*s.bufp)[:n], nil
			}
			break
		}
		if err != nil && mr.err == nil && !isTimeout(err) {
			// The connection failed inside a frame: that is fatal.
			err = mr.fatal(err)
		}
		if n > 0 || err != nil {
			return (*s.bufp)[:n], err
		}
		// No payload (an empty frame): go on.
	}
	if !s.tailGiven {
		s.tailGiven = true
		return deflateTailBytes, nil
	}
	return nil, io.EOF
}

// finish gives the buffer back: the message is over.
func (s *inflateSource) finish() {
	s.done = true
	if s.bufp != nil {
		inflateBufs.Put(s.bufp)
		s.bufp = nil
	}
}

// deflateTailBytes is deflateTail, made once: the decompressor only reads
// the pieces it is given.
var deflateTailBytes = []byte(deflateTail)

var inflaterPool sync.Pool // of *inflate.Reader, for messages without context takeover

// startInflate sets up decompression of a new message.
func (d *deflateState) startInflate(mr *messageReader) *inflate.Reader {
	d.src.finish() // if a message ended otherwise than by endInflate
	d.src = inflateSource{mr: mr}
	if d.agreed.readNoContextTakeover {
		r, _ := inflaterPool.Get().(*inflate.Reader)
		if r == nil {
			r = new(inflate.Reader)
		}
		r.Reset(&d.src, nil)
		return r
	}
	// Context takeover: the previous messages' output, which the
	// decompressor's window holds, is this one's dictionary.
	if d.inf == nil {
		d.inf = inflate.NewReader(&d.src, nil)
	} else {
		d.inf.ResetKeepHistory(&d.src)
	}
	return d.inf
}

// trailing reports whether compressed data followed the final block that
// ended r's output: bytes r took and did not decode, or payload not yet
// given to it. RFC 7692 section 7.2.3.4 allows a final block only at the
// end.
func (d *deflateState) trailing(r *inflate.Reader, mr *messageReader) bool {
	if d.src.tailGiven {
		return false // the data ended in our own tail
	}
	return r.Buffered() > 0 || mr.remaining > 0 || !mr.fin
}

// endInflate is called when a message has been decompressed, with r from
// startInflate.
func (d *deflateState) endInflate(r *inflate.Reader) {
	d.src.finish()
	if d.agreed.readNoContextTakeover {
		r.Reset(nil, nil)
		inflaterPool.Put(r)
	}
}

// newCompressor makes a compressor for level and window bits: our own
// window-limited DEFLATE, since compress/flate always uses a 32 KiB window
// (and takes about 1 MiB per Writer).
func newCompressor(dst io.Writer, level, bits int) compressor {
	w, err := deflate.NewWriter(dst, level, bits)
	if err != nil {
		// Levels and windows are checked when options are read.
		panic("websocket: " + err.Error())
	}
	return w
}
