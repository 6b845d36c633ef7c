package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/inflate"
)

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// messageReader is the state of the data message being read, and the
// io.Reader that Conn.Reader returns. Guarded by Conn.readMu.
type messageReader struct {
	c         *Conn
	ctx       context.Context
	active    bool // a message is in progress
	text      bool
	fin       bool  // the current frame is the message's last
	remaining int64 // payload bytes of the current frame not yet read
	masked    bool
	key       uint32
	pos       int   // position in the masking key
	size      int64 // declared bytes of the message so far
	frames    int
	utf8      utf8Validator
	err       error // sticky: the connection failed

	compressed bool            // permessage-deflate: payload goes through inflater
	inflater   *inflate.Reader // while compressed
	outSize    int64           // decompressed bytes so far
	one        [1]byte         // readWholeInflated's probe past a full buffer
}

// Read reads one whole message into a newly allocated slice.
//
// If ctx is done before the message is read, the connection is closed and
// Read returns ctx.Err(). A close frame from the peer ends the read with a
// CloseError (the close handshake is answered); a protocol violation with a
// ProtocolError.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadAppend(ctx, nil)
}

// ReadAppend reads one whole message and appends it to dst, returning the
// extended slice. With a dst of enough capacity it does not allocate.
// It behaves as Read otherwise.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.readMu.lock(ctx, c.closed); err != nil {
		return 0, dst, c.lockErr(err)
	}
	defer c.readMu.unlock()
	stop, err := c.watchRead(ctx)
	if err != nil {
		return 0, dst, err
	}
	// Wait for the message here, near the top of the stack (see await),
	// with a scatter read where one can be made (see scatterRead).
	if spare := dst[len(dst):cap(dst)]; len(spare) >= scatterMin {
		c.br.arm(spare)
	}
	c.br.await()
	c.br.disarm()
	typ, dst, err := c.readWhole(dst)
	c.br.unspill() // nothing of the caller's memory stays with the reader
	return typ, dst, c.unwatch(ctx, stop, err)
}

// scatterMin is the least spare capacity in ReadAppend's dst for which the
// wait for a message ends in a scatter read: the frame header into the
// read buffer and the payload straight into dst, so that readWhole finds
// it in place and copies nothing (see connReader.arm).
const scatterMin = 4 << 10

func (c *Conn) readWhole(dst []byte) (MessageType, []byte, error) {
	mr := &c.mr
	typ, err := mr.begin()
	if err != nil {
		return 0, dst, err
	}
	if mr.compressed {
		return mr.readWholeInflated(typ, dst)
	}
	start := len(dst)
	for {
		for mr.remaining > 0 {
			if len(dst) == cap(dst) {
				// Grow as the payload arrives, not by its declared
				// length: a header alone must not cost the size limit.
				grow := min(mr.remaining, int64(max(64<<10, len(dst)-start)))
				dst = slices.Grow(dst, int(grow))
			}
			p := dst[len(dst):cap(dst)]
			if int64(len(p)) > mr.remaining {
				p = p[:mr.remaining]
			}
			// One read at a time, checked as it comes, so that invalid
			// UTF-8 fails the connection as soon as it arrives.
			n, err := c.br.Read(p)
			if n > 0 {
				mr.remaining -= int64(n)
				dst = dst[:len(dst)+n]
				if perr := mr.payload(p[:n]); perr != nil {
					return 0, dst[:start], perr
				}
			}
			if err != nil {
				return 0, dst[:start], mr.fatal(c.readError(err, true))
			}
		}
		if mr.fin {
			mr.active = false
			return typ, dst, nil
		}
		if err := mr.next(); err != nil {
			return 0, dst, err
		}
	}
}

// Reader waits for the next message and returns its type and a reader of
// its payload, which reads until io.EOF at the end of the message. A message
// not read to its end is discarded by the next call to Reader, Read or
// ReadAppend.
//
// ctx bounds the whole message: if it is done before the message is read,
// the connection is closed.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.readMu.lock(ctx, c.closed); err != nil {
		return 0, nil, c.lockErr(err)
	}
	defer c.readMu.unlock()
	stop, err := c.watchRead(ctx)
	if err != nil {
		return 0, nil, err
	}
	c.br.await()
	typ, err := c.mr.begin()
	if err = c.unwatch(ctx, stop, err); err != nil {
		return 0, nil, err
	}
	c.mr.ctx = ctx
	return typ, &c.mr, nil
}

// Read reads from the current message.
func (mr *messageReader) Read(p []byte) (int, error) {
	c := mr.c
	if !c.readMu.tryLock() {
		return 0, errors.New("websocket: concurrent reads of one connection")
	}
	defer c.readMu.unlock()
	ctx := mr.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	stop, err := c.watchRead(ctx)
	if err != nil {
		return 0, err
	}
	n, err := mr.read(p)
	return n, c.unwatch(ctx, stop, err)
}

// readWholeInflated reads the rest of a compressed message into dst,
// growing it at most to the message size limit.
func (mr *messageReader) readWholeInflated(typ MessageType, dst []byte) (MessageType, []byte, error) {
	start := len(dst)
	limit := mr.c.opts.MaxMessageSize
	one := mr.one[:]
	for {
		p := dst[len(dst):cap(dst)]
		if len(p) == 0 {
			// Full: see whether the message goes on before growing, so
			// that a buffer of exactly the right size is enough.
			p = one
		}
		n, err := mr.read(p)
		if len(dst) == cap(dst) && n > 0 {
			// Double what has been read, starting small: the inflated
			// size is not known, and a chat line should not cost 4 KiB
			// (nor a read buffer kept between messages hold that much).
			grow := max(minInflatedGrow, len(dst)-start)
			if limit > 0 {
				// One byte past the limit lets the check see it.
				grow = int(min(int64(grow), int64(start)+limit+1-int64(len(dst))))
			}
			dst = append(slices.Grow(dst, grow), mr.one[0])
		} else {
			dst = dst[:len(dst)+n]
		}
		switch {
		case err == io.EOF:
			return typ, dst, nil
		case err != nil:
			if isTimeout(err) {
				err = mr.fatal(err)
			}
			return 0, dst[:start], err
		}
	}
}

// minInflatedGrow is the least readWholeInflated grows dst by.
const minInflatedGrow = 512

func (mr *messageReader) read(p []byte) (int, error) {
	if mr.err != nil {
		return 0, mr.err
	}
	if !mr.active {
		return 0, io.EOF
	}
	if mr.compressed {
		return mr.readInflated(p)
	}
	n, err := mr.readPayload(p)
	if err == io.EOF {
		mr.active = false
	}
	return n, err
}

// readInflated reads decompressed bytes of the message, checking its size
// against the limit as they come (a small frame can inflate to gigabytes)
// and its UTF-8.
func (mr *messageReader) readInflated(p []byte) (int, error) {
	c := mr.c
	n, err := mr.inflater.Read(p)
	if n > 0 {
		mr.outSize += int64(n)
		if max := c.opts.MaxMessageSize; max > 0 && mr.outSize > max {
			return 0, c.fail(tooBig(max))
		}
		if mr.text && !mr.utf8.write(p[:n]) {
			return 0, c.fail(&ProtocolError{StatusInvalidFramePayload, "invalid UTF-8 in text message"})
		}
	}
	switch {
	case err == io.EOF:
		if c.deflate.trailing(mr.inflater, mr) {
			// A block with BFINAL set ended the data early.
			return 0, c.fail(&ProtocolError{StatusInvalidFramePayload, "compressed data continues after its final block"})
		}
		if mr.text && !mr.utf8.done() {
			return 0, c.fail(&ProtocolError{StatusInvalidFramePayload, "text message ends inside a UTF-8 sequence"})
		}
		mr.active = false
		c.deflate.endInflate(mr.inflater)
		mr.inflater = nil
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	case err != nil:
		if mr.err != nil {
			// The frames under the compressed data failed.
			return 0, mr.err
		}
		if isTimeout(err) {
			// The decompressor does not resume after an error.
			return 0, mr.fatal(err)
		}
		return 0, c.fail(&ProtocolError{StatusInvalidFramePayload, "invalid compressed data: " + err.Error()})
	}
	return n, nil
}

// readPayload reads the message's payload, unmasked, across its frames,
// and returns io.EOF at its end.
func (mr *messageReader) readPayload(p []byte) (int, error) {
	for mr.remaining == 0 {
		if mr.fin {
			return 0, io.EOF
		}
		if err := mr.next(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > mr.remaining {
		p = p[:mr.remaining]
	}
	n, err := mr.c.br.Read(p)
	if n > 0 {
		mr.remaining -= int64(n)
		if perr := mr.payload(p[:n]); perr != nil {
			return 0, perr
		}
	}
	if err != nil {
		return n, mr.c.readError(err, true)
	}
	return n, nil
}

// payload unmasks and checks bytes of the current message just read. The
// message's last bytes must end its UTF-8 text.
func (mr *messageReader) payload(p []byte) error {
	if mr.masked {
		mr.pos = mask(mr.key, mr.pos, p)
	}
	if mr.text && !mr.compressed {
		if !mr.utf8.write(p) {
			return mr.c.fail(&ProtocolError{StatusInvalidFramePayload, "invalid UTF-8 in text message"})
		}
		if mr.remaining == 0 && mr.fin && !mr.utf8.done() {
			return mr.c.fail(&ProtocolError{StatusInvalidFramePayload, "text message ends inside a UTF-8 sequence"})
		}
	}
	return nil
}

// begin discards what is left of the message in progress, then reads up to
// the first frame of the next message.
func (mr *messageReader) begin() (MessageType, error) {
	if mr.err != nil {
		return 0, mr.err
	}
	if mr.active {
		if err := mr.discard(); err != nil {
			return 0, err
		}
	}
	h, err := mr.c.nextDataFrame()
	if err != nil {
		return 0, err
	}
	if h.op == opContinuation {
		return 0, mr.c.fail(&ProtocolError{StatusProtocolError, "continuation frame without a message to continue"})
	}
	*mr = messageReader{
		c:          mr.c,
		active:     true,
		text:       h.op == opText,
		fin:        h.fin,
		remaining:  h.length,
		masked:     h.masked,
		key:        h.key,
		size:       h.length,
		frames:     1,
		compressed: h.rsv&bitRSV1 != 0,
	}
	if max := mr.wireLimit(); max > 0 && h.length > max {
		return 0, mr.c.fail(tooBig(mr.c.opts.MaxMessageSize))
	}
	if mr.compressed {
		mr.inflater = mr.c.deflate.startInflate(mr)
	}
	return MessageType(h.op), nil
}

// next reads up to the next frame of the message in progress.
func (mr *messageReader) next() error {
	c := mr.c
	h, err := c.nextDataFrame()
	if err != nil {
		return err
	}
	if h.op != opContinuation {
		return c.fail(&ProtocolError{StatusProtocolError, "new " + h.op.String() + " message inside a fragmented message"})
	}
	mr.frames++
	if max := c.opts.MaxMessageFrames; max > 0 && mr.frames > max {
		return c.fail(&ProtocolError{StatusPolicyViolation, "message of more than " + strconv.Itoa(max) + " frames"})
	}
	if max := mr.wireLimit(); max > 0 && h.length > max-mr.size {
		return c.fail(tooBig(c.opts.MaxMessageSize))
	}
	mr.size += h.length
	mr.fin = h.fin
	mr.remaining = h.length
	mr.masked = h.masked
	mr.key = h.key
	mr.pos = 0
	if mr.fin && mr.remaining == 0 && mr.text && !mr.compressed && !mr.utf8.done() {
		return c.fail(&ProtocolError{StatusInvalidFramePayload, "text message ends inside a UTF-8 sequence"})
	}
	return nil
}

// wireLimit is the most payload bytes a message may take on the wire. A
// compressed message is limited by its decompressed size, checked while
// inflating; on the wire it may be a little larger than that limit, since
// incompressible data grows slightly.
func (mr *messageReader) wireLimit() int64 {
	max := mr.c.opts.MaxMessageSize
	if mr.compressed && max > 0 {
		return max + max>>4 + 1024
	}
	return max
}

func tooBig(max int64) *ProtocolError {
	return &ProtocolError{StatusMessageTooBig, "message over the limit of " + strconv.FormatInt(max, 10) + " bytes"}
}

// discard reads and checks the rest of the message in progress, unmasking
// in place in the read buffer.
func (mr *messageReader) discard() error {
	if mr.compressed {
		// Inflate to the end: the history must be kept, and the data
		// checked.
		var scratch [4096]byte
		for {
			if _, err := mr.read(scratch[:]); err == io.EOF {
				return nil
			} else if err != nil {
				if isTimeout(err) {
					return mr.fatal(err)
				}
				return err
			}
		}
	}
	br := mr.c.br
	for {
		for mr.remaining > 0 {
			n := br.Buffered()
			if n == 0 {
				if _, err := br.Peek(1); err != nil {
					return mr.fatal(mr.c.readError(err, true))
				}
				n = br.Buffered()
			}
			n = int(min(int64(n), mr.remaining))
			p, _ := br.Peek(n)
			mr.remaining -= int64(n)
			if err := mr.payload(p); err != nil {
				return err
			}
			br.Discard(n)
		}
		if mr.fin {
			mr.active = false
			return nil
		}
		if err := mr.next(); err != nil {
			return err
		}
	}
}

// fatal makes err the reader's sticky error and closes the connection.
func (mr *messageReader) fatal(err error) error {
	if isTimeout(err) {
		// Part of a frame was consumed: the stream cannot be resumed.
		err = fmt.Errorf("websocket: read interrupted inside a frame: %w", err)
	}
	mr.err = err
	mr.c.closeConn(err)
	return err
}

// nextDataFrame reads frame headers up to the next data frame, handling the
// control frames before it. The data frame's header is consumed; its payload
// is not. A timeout leaves the stream where it was, so the read can be
// retried.
func (c *Conn) nextDataFrame() (header, error) {
	for {
		b, err := c.br.Peek(2)
		if err != nil {
			return header{}, c.mr.frameErr(c.readError(err, len(b) > 0))
		}
		hl := headerLen(b[1])
		if hl > 2 {
			if b, err = c.br.Peek(hl); err != nil {
				return header{}, c.mr.frameErr(c.readError(err, true))
			}
		}
		h, ok := parseHeader(b)
		if perr := c.checkHeader(h, ok); perr != nil {
			return h, c.fail(perr)
		}
		if !h.op.isControl() {
			c.br.Discard(hl)
			return h, nil
		}
		n := hl + int(h.length)
		if b, err = c.br.Peek(n); err != nil {
			return header{}, c.mr.frameErr(c.readError(err, true))
		}
		p := c.ctrl[:copy(c.ctrl[:], b[hl:n])]
		c.br.Discard(n)
		if h.masked {
			mask(h.key, 0, p)
		}
		if err := c.handleControl(h.op, p); err != nil {
			return h, err
		}
	}
}

// frameErr makes a non-timeout error sticky.
func (mr *messageReader) frameErr(err error) error {
	if isTimeout(err) {
		return err
	}
	if mr.err == nil {
		mr.err = err
	}
	mr.c.closeConn(err)
	return err
}

// checkHeader applies RFC 6455's rules for a received frame header.
func (c *Conn) checkHeader(h header, ok bool) *ProtocolError {
	switch {
	case !ok:
		return &ProtocolError{StatusProtocolError, "frame length with the most significant bit set"}
	case h.rsv&^c.rsvAllowed(h) != 0:
		if h.rsv == bitRSV1 && c.deflate != nil {
			return &ProtocolError{StatusProtocolError, "RSV1 set on a " + h.op.String() + " frame"}
		}
		return &ProtocolError{StatusProtocolError, "reserved bits set without a negotiated extension"}
	case !h.op.known():
		return &ProtocolError{StatusProtocolError, "reserved opcode " + strconv.Itoa(int(h.op))}
	case h.masked && c.client:
		return &ProtocolError{StatusProtocolError, "masked frame from the server"}
	case !h.masked && !c.client:
		return &ProtocolError{StatusProtocolError, "unmasked frame from the client"}
	case h.op.isControl() && !h.fin:
		return &ProtocolError{StatusProtocolError, "fragmented " + h.op.String() + " frame"}
	case h.op.isControl() && h.length > maxControlPayload:
		return &ProtocolError{StatusProtocolError, h.op.String() + " frame of " + strconv.FormatInt(h.length, 10) + " bytes"}
	}
	return nil
}

// rsvAllowed returns the RSV bits a frame like h may have: RSV1 on the
// first frame of a data message when permessage-deflate was agreed (RFC 7692
// section 6).
func (c *Conn) rsvAllowed(h header) byte {
	if c.deflate != nil && (h.op == opText || h.op == opBinary) {
		return bitRSV1
	}
	return 0
}

// handleControl acts on a received control frame.
func (c *Conn) handleControl(op opcode, p []byte) error {
	switch op {
	case opPing:
		if !c.closeSent.Load() {
			c.owePong(p)
		}
	case opPong:
		c.gotPong(p)
	case opClose:
		ce, perr := parseClosePayload(p)
		if perr != nil {
			return c.fail(perr)
		}
		return c.peerClosed(ce)
	}
	return nil
}

// readError turns an error from the network into the error a read reports.
// inFrame says whether part of a frame had been read.
func (c *Conn) readError(err error, inFrame bool) error {
	if cerr := c.closedErr(); cerr != nil {
		return cerr
	}
	if isTimeout(err) {
		return err
	}
	if errors.Is(err, io.EOF) && inFrame {
		err = io.ErrUnexpectedEOF
	}
	return &closedError{err}
}

// closedError reports a connection that ended without a close frame:
// CloseStatus gives StatusAbnormalClosure for it.
type closedError struct{ err error }

func (e *closedError) Error() string {
	return "websocket: connection closed without a close frame: " + e.err.Error()
}

func (e *closedError) Unwrap() error { return e.err }

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// watchRead makes a done ctx interrupt the reads that follow by setting a
// read deadline in the past. The returned stop, nil for a ctx that is never
// done, goes to unwatch when the reads are over.
func (c *Conn) watchRead(ctx context.Context) (func() bool, error) {
	if ctx.Done() == nil {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.readWatch.Add(1)
	return context.AfterFunc(ctx, func() {
		c.nc.SetReadDeadline(aLongTimeAgo)
		c.readWatch.Done()
	}), nil
}

// unwatch ends watchRead. If ctx interrupted the reads, the stream may have
// been cut inside a frame, so the connection is closed, once the deadline
// is set: nothing touches the connection after unwatch (an HTTP/2 stream's
// deadline must not be set once its handler returned).
func (c *Conn) unwatch(ctx context.Context, stop func() bool, err error) error {
	if stop == nil {
		return err
	}
	if stop() {
		c.readWatch.Done()
		return err
	}
	c.readWatch.Wait()
	cerr := fmt.Errorf("websocket: read interrupted: %w", context.Cause(ctx))
	c.mr.err = cerr
	c.closeConn(cerr)
	return cerr
}

// lockErr turns the error of a lock wait into what the caller reports.
func (c *Conn) lockErr(err error) error {
	if err == errClosed {
		if cerr := c.closedErr(); cerr != nil {
			return cerr
		}
	}
	return err
}
