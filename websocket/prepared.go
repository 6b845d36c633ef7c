package websocket

import (
	"context"
	"fmt"
	"sync"
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

	mu     sync.Mutex
	frames map[preparedKey][]byte // guarded by mu
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
	return f, nil
}

// WritePrepared writes a prepared message, as Write does.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if c.client {
		return c.Write(ctx, pm.typ, pm.data)
	}
	var k preparedKey
	if d := c.deflate; d != nil && d.agreed.writeNoContextTakeover && len(pm.data) >= d.threshold {
		k = preparedKey{compressed: true, level: d.level, bits: d.agreed.writeWindowBits}
	}
	f, err := pm.frame(k)
	if err != nil {
		return fmt.Errorf("websocket: compressing: %w", err)
	}
	if err := c.msgMu.lock(ctx, c.closed); err != nil {
		return c.lockErr(err)
	}
	defer c.msgMu.unlock()
	return c.sendFrame(ctx, header{op: opcode(pm.typ)}, nil, f)
}
