package websocket

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// PreparedMessage is a message encoded once to be written to many
// connections, a broadcast: each server connection writes the same frame
// bytes. It is safe for concurrent use.
//
// A server connection with permessage-deflate and no context takeover gets
// the message compressed, once for all connections with the same window and
// level. With context takeover, compressing against each connection's
// history would mean encoding the message once for each, so it is sent
// uncompressed. A client connection masks every frame with a key of its
// own, so it encodes the message itself.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	// last is the frame made last, read without the lock: the
	// connections of a broadcast nearly all want the same one.
	last   atomic.Pointer[preparedFrame]
	mu     sync.Mutex
	frames map[preparedKey][]byte // guarded by mu
}

// preparedFrame is a frame of a PreparedMessage and how it was encoded.
type preparedFrame struct {
	k preparedKey
	b []byte
}

// preparedKey says how a frame was encoded: plain, or compressed with a
// level and window.
type preparedKey struct {
	compressed  bool
	level, bits int
}

// NewPreparedMessage prepares p, which it keeps and which the caller must
// not change, as a message of type typ.
func NewPreparedMessage(typ MessageType, p []byte) (*PreparedMessage, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("websocket: cannot prepare a message of type %v", typ)
	}
	return &PreparedMessage{typ: typ, data: p}, nil
}

// Len returns the length of the message's payload.
func (pm *PreparedMessage) Len() int { return len(pm.data) }

// Payload returns the message's payload, which must not be changed.
func (pm *PreparedMessage) Payload() []byte { return pm.data }

// frame returns the message encoded as one server frame for k.
func (pm *PreparedMessage) frame(k preparedKey) ([]byte, error) {
	if f := pm.last.Load(); f != nil && f.k == k {
		return f.b, nil
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if f, ok := pm.frames[k]; ok {
		return f, nil
	}
	h := header{fin: true, op: opcode(pm.typ)}
	payload := pm.data
	if k.compressed {
		cb := getCompressor(k.level, k.bits)
		cb.takeOutBuf()
		_, err := cb.c.Write(pm.data)
		if err == nil {
			err = cb.c.Flush()
		}
		if err != nil {
			return nil, err
		}
		out := cb.buf.b
		payload = append([]byte(nil), out[:max(len(out)-4, 0)]...)
		cb.giveOutBuf()
		putCompressor(k.level, k.bits, cb)
		h.rsv = bitRSV1
	}
	h.length = int64(len(payload))
	var hdr [maxHeaderSize]byte
	n := putHeader(&hdr, h)
	f := make([]byte, 0, n+len(payload))
	f = append(append(f, hdr[:n]...), payload...)
	if pm.frames == nil {
		pm.frames = make(map[preparedKey][]byte, 2)
	}
	pm.frames[k] = f
	pm.last.Store(&preparedFrame{k: k, b: f})
	return f, nil
}

// WritePrepared writes prepared messages, in order, each as Write writes
// one. A server connection writes several with as few system calls as it
// can (one vectored write over TCP), so a writer that has fallen behind a
// broadcast catches up in one go rather than one call per message. An
// error ends the call: the messages before it were written, the one it
// names and those after it were not.
func (c *Conn) WritePrepared(ctx context.Context, pms ...*PreparedMessage) error {
	if c.client {
		for _, pm := range pms {
			if err := c.Write(ctx, pm.typ, pm.data); err != nil {
				return err
			}
		}
		return nil
	}
	if len(pms) == 0 {
		return nil
	}
	if err := c.msgMu.lock(ctx, c.closed); err != nil {
		return c.lockErr(err)
	}
	defer c.msgMu.unlock()
	if len(pms) == 1 {
		f, err := pms[0].frame(c.preparedKey(pms[0]))
		if err != nil {
			return fmt.Errorf("websocket: compressing: %w", err)
		}
		return c.sendFrame(ctx, header{op: opcode(pms[0].typ)}, nil, f)
	}
	iov := iovPool.Get().(*net.Buffers)
	defer iovPool.Put(iov)
	for len(pms) > 0 {
		n := min(len(pms), maxWriteBatch)
		if err := c.writeFrames(ctx, iov, pms[:n]); err != nil {
			return err
		}
		pms = pms[n:]
	}
	return nil
}

// maxWriteBatch bounds the frames of one vectored write.
const maxWriteBatch = 64

// iovPool holds the slices of frames that WritePrepared writes at once.
var iovPool = sync.Pool{New: func() any {
	b := make(net.Buffers, 0, maxWriteBatch)
	return &b
}}

// writeFrames writes the frames of pms, at most maxWriteBatch, with msgMu
// held, through iov.
func (c *Conn) writeFrames(ctx context.Context, iov *net.Buffers, pms []*PreparedMessage) error {
	all := (*iov)[:0]
	defer func() {
		clear(all[:cap(all)]) // the frames are not kept
		*iov = all[:0]
	}()
	for _, pm := range pms {
		f, err := pm.frame(c.preparedKey(pm))
		if err != nil {
			return fmt.Errorf("websocket: compressing: %w", err)
		}
		all = append(all, f)
	}
	if err := c.lockFrame(ctx, opcode(pms[0].typ)); err != nil {
		return err
	}
	defer c.frameMu.unlock()
	*iov = all
	return c.sendFramesLocked(ctx, iov)
}

// preparedKey returns the encoding of pm that this connection writes.
func (c *Conn) preparedKey(pm *PreparedMessage) preparedKey {
	if d := c.deflate; d != nil && d.agreed.writeNoContextTakeover && len(pm.data) >= d.threshold {
		return preparedKey{compressed: true, level: d.level, bits: d.agreed.writeWindowBits}
	}
	return preparedKey{}
}
