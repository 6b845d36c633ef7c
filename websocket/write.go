package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// Write sends p as one message of type typ, in one frame. A text message
// must be valid UTF-8; Write does not check it.
//
// If ctx is done before the message is written, the connection is closed
// (a frame cut short cannot be resumed) and Write returns ctx.Err().
//
// With permessage-deflate agreed, a message of at least
// CompressionOptions.Threshold bytes is compressed.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	return c.write(ctx, typ, p)
}

func (c *Conn) write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != MessageText && typ != MessageBinary {
		return fmt.Errorf("websocket: cannot write a message of type %v", typ)
	}
	if err := c.msgMu.lock(ctx, c.closed); err != nil {
		return c.lockErr(err)
	}
	defer c.msgMu.unlock()
	h := header{fin: true, op: opcode(typ)}
	if d := c.deflate; d != nil && len(p) >= d.threshold {
		cp, err := d.compress(p)
		if err != nil {
			return fmt.Errorf("websocket: compressing: %w", err)
		}
		defer d.release()
		h.rsv = bitRSV1
		p = cp
	}
	return c.writeFrame(ctx, h, p)
}

// Writer returns a writer for one message of type typ, sent as one or more
// frames as its buffer fills; Close sends the last frame. Other messages
// wait until the writer is closed; control frames do not. ctx bounds the
// whole message, as for Write.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("websocket: cannot write a message of type %v", typ)
	}
	if err := c.msgMu.lock(ctx, c.closed); err != nil {
		return nil, c.lockErr(err)
	}
	w := &c.mw
	w.ctx = ctx
	w.op = opcode(typ)
	w.rsv = 0
	w.buf = c.wpool.Get().(*[]byte)
	w.n = 0
	w.active = true
	if d := c.deflate; d != nil {
		w.rsv = bitRSV1
		if d.cw == nil {
			d.cw = getCompressor(d.level, d.agreed.writeWindowBits)
		}
		w.cb = d.cw
		w.cb.takeOutBuf()
	}
	return w, nil
}

// messageWriter is the io.WriteCloser that Conn.Writer returns. Guarded by
// Conn.msgMu, which it holds until Close.
type messageWriter struct {
	c      *Conn
	ctx    context.Context
	op     opcode         // of the next frame: the message's type, then continuation
	rsv    byte           // of the next frame: RSV1 on the first of a compressed message
	cb     *compressorBuf // compressing, or nil
	buf    *[]byte
	n      int // bytes in buf
	active bool
}

var errWriterClosed = errors.New("websocket: write to a closed message writer")

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.active {
		return 0, errWriterClosed
	}
	if w.cb != nil {
		return w.writeCompressed(p)
	}
	buf := *w.buf
	written := 0
	for len(p) > 0 {
		if w.n == len(buf) {
			if err := w.flush(buf, false); err != nil {
				return written, err
			}
		}
		if w.n == 0 && len(p) > len(buf) {
			// Larger than the buffer: send it as it is. The last
			// byte stays behind so that Close has a frame to send.
			k := len(p) - 1
			if err := w.flush(p[:k], false); err != nil {
				return written, err
			}
			p = p[k:]
			written += k
		}
		k := copy(buf[w.n:], p)
		w.n += k
		p = p[k:]
		written += k
	}
	return written, nil
}

// writeCompressed compresses p and sends a frame whenever a buffer's worth
// of compressed data is ready, holding back the last 4 bytes, which may be
// the end of the sync flush that Close removes.
func (w *messageWriter) writeCompressed(p []byte) (int, error) {
	if _, err := w.cb.c.Write(p); err != nil {
		return 0, err
	}
	out := w.cb.buf.b
	if len(out) >= len(*w.buf)+4 {
		k := len(out) - 4
		if err := w.flush(out[:k], false); err != nil {
			return 0, err
		}
		w.cb.buf.b = append(out[:0], out[k:]...)
	}
	return len(p), nil
}

func (w *messageWriter) flush(p []byte, fin bool) error {
	err := w.c.writeFrame(w.ctx, header{fin: fin, rsv: w.rsv, op: w.op}, p)
	w.op = opContinuation
	w.rsv = 0
	w.n = 0
	return err
}

// Close sends the last frame of the message and lets other messages go.
func (w *messageWriter) Close() error {
	if !w.active {
		return errWriterClosed
	}
	var err error
	if cb := w.cb; cb != nil {
		err = cb.c.Flush()
		if err == nil {
			out := cb.buf.b
			out = out[:max(len(out)-4, 0)]
			err = w.flush(out, true)
		}
		w.c.deflate.release()
		w.cb = nil
	} else {
		err = w.flush((*w.buf)[:w.n], true)
	}
	w.active = false
	w.c.wpool.Put(w.buf)
	w.buf = nil
	w.ctx = nil
	w.c.msgMu.unlock()
	return err
}

// writeFrame writes one frame with payload p. An error closes the
// connection: a frame cut short leaves the stream unusable.
func (c *Conn) writeFrame(ctx context.Context, h header, p []byte) error {
	return c.sendFrame(ctx, h, p, nil)
}

// sendFrame writes the frame h with payload p, or, when encoded is not nil,
// the frame h already encoded (a prepared message).
func (c *Conn) sendFrame(ctx context.Context, h header, p, encoded []byte) error {
	if err := c.lockFrame(ctx, h.op); err != nil {
		return err
	}
	defer c.frameMu.unlock()
	return c.sendFrameLocked(ctx, h, p, encoded)
}

// lockFrame takes frameMu for a frame of type op, and returns holding it
// only if the frame may go out.
func (c *Conn) lockFrame(ctx context.Context, op opcode) error {
	if err := c.frameMu.lock(ctx, c.closed); err != nil {
		return c.lockErr(err)
	}
	err := c.writeErr
	switch {
	case err != nil:
	case op == opClose:
		// A ping read before this side's close frame is answered.
		if err = c.writeOwedPongsLocked(ctx); err == nil {
			c.closeWritten = true
		}
	case c.closeSent.Load():
		// Not even a ping: the peer closes the TCP connection once it
		// has answered our close frame, and a frame it has not read by
		// then makes its kernel reset the connection, which can destroy
		// its close frame before we read it.
		err = errCloseSent
	}
	if err != nil {
		c.frameMu.unlock()
	}
	return err
}

// sendFrameLocked writes a frame as sendFrame does, with frameMu held
// (see lockFrame).
func (c *Conn) sendFrameLocked(ctx context.Context, h header, p, encoded []byte) error {
	stop, err := c.watchWrite(ctx)
	if err != nil {
		return err
	}
	if encoded != nil {
		_, err = c.nc.Write(encoded)
	} else {
		err = c.writeFrameLocked(h, p)
	}
	return c.endWrite(ctx, stop, err)
}

// watchWrite has ctx, if it can be done, cut the writes that follow short
// (by the write deadline), until stop is called; it returns ctx's error
// if ctx is done already.
func (c *Conn) watchWrite(ctx context.Context) (stop func() bool, err error) {
	if ctx.Done() == nil {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.writeWatch.Add(1)
	return context.AfterFunc(ctx, func() {
		c.nc.SetWriteDeadline(aLongTimeAgo)
		c.writeWatch.Done()
	}), nil
}

// endWrite ends a write that watchWrite watched, with the write's error
// err: a write that ctx cut short, or any that failed, closes the
// connection, as a frame cut short leaves the stream unusable. A deadline
// that ctx set is set before endWrite returns.
func (c *Conn) endWrite(ctx context.Context, stop func() bool, err error) error {
	if stop != nil {
		if stop() {
			c.writeWatch.Done()
		} else {
			c.writeWatch.Wait()
			err = fmt.Errorf("websocket: write interrupted: %w", context.Cause(ctx))
		}
	}
	if err != nil {
		if cerr := c.closedErr(); cerr != nil {
			err = cerr
		}
		c.writeErr = err
		c.closeConn(err)
	}
	return err
}

// sendFramesLocked writes the encoded frames iov holds, as sendFrameLocked
// writes one: with one vectored write where the connection takes them. It
// consumes iov.
func (c *Conn) sendFramesLocked(ctx context.Context, iov *net.Buffers) error {
	stop, err := c.watchWrite(ctx)
	if err != nil {
		return err
	}
	if c.writev {
		_, err = iov.WriteTo(c.nc)
	} else {
		for _, f := range *iov {
			if _, err = c.nc.Write(f); err != nil {
				break
			}
		}
	}
	return c.endWrite(ctx, stop, err)
}

// writeFrameLocked assembles the frame in a pooled buffer and writes it with
// one system call where it fits, or a vectored write of header and payload
// where the connection supports one. A client's payload is masked in the
// buffer, a piece at a time, so the caller's slice is never changed.
func (c *Conn) writeFrameLocked(h header, p []byte) error {
	h.length = int64(len(p))
	if c.client {
		h.masked = true
		h.key = uint32(c.rng.Uint64())
	}
	n := putHeader(&c.hdr, h)
	if !c.client && c.writev && n+len(p) > c.opts.WriteBufferSize {
		c.iovArr = [2][]byte{c.hdr[:n], p}
		c.iov = c.iovArr[:]
		_, err := c.iov.WriteTo(c.nc)
		c.iovArr = [2][]byte{}
		return err
	}
	bp := c.wpool.Get().(*[]byte)
	defer c.wpool.Put(bp)
	buf := *bp
	off := copy(buf, c.hdr[:n])
	pos := 0
	for {
		k := copy(buf[off:], p)
		if h.masked {
			pos = mask(h.key, pos, buf[off:off+k])
		}
		p = p[k:]
		if _, err := c.nc.Write(buf[:off+k]); err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
		off = 0
	}
}
