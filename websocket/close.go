package websocket

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// Close performs the close handshake: it sends a close frame with code and
// reason, waits up to ConnOptions.CloseTimeout for the peer's close frame,
// and closes the connection. Use StatusNoStatusRcvd to send a close frame
// without a code. A reason may be up to 123 bytes of UTF-8.
//
// If another goroutine is reading, it receives the peer's close frame and
// Close waits for it; otherwise Close reads, discarding data messages, until
// the close frame comes.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := c.sendClose(code, reason); err != nil {
		return err
	}
	err := c.waitPeerClose()
	c.closeConn(nil)
	return err
}

// sendClose sends this side's close frame, once: Close and StartClose
// begin with it.
func (c *Conn) sendClose(code StatusCode, reason string) error {
	var b [maxControlPayload]byte
	payload, err := appendClosePayload(b[:0], code, reason)
	if err != nil {
		return err
	}
	sent, err := c.sendCloseOnce(payload)
	if !sent {
		if cerr := c.closedErr(); cerr != nil {
			return errClosed
		}
		return errCloseSent
	}
	if err != nil {
		c.closeConn(nil)
		return err
	}
	return nil
}

// sendCloseOnce writes a close frame with payload unless this side's close
// frame was written already, and reports whether this call wrote it (or
// tried to: err is the write's error). Close, StartClose, the echo of the
// peer's close and the failing of the connection all go through here.
//
// The close frame is claimed and written under closeMu, so that a caller
// that finds it claimed returns only once the write is over: the reader,
// which closes the connection after the peer's close frame, would
// otherwise close it under a close frame still on its way, and the peer
// would get none (RFC 6455 section 5.5.1). The wait is bounded by
// writeClose's CloseTimeout.
func (c *Conn) sendCloseOnce(payload []byte) (sent bool, err error) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeSent.Load() {
		return false, nil
	}
	c.closeSent.Store(true)
	return true, c.writeClose(payload)
}

// StartClose begins the close handshake and returns without waiting: it
// sends a close frame with code and reason, and the reader goes on
// receiving the messages the peer sent before it answered, until the
// peer's close frame ends the read with a CloseError and closes the
// connection. If that does not happen within CloseTimeout, the connection
// is closed. Use it where every message must be read, as a client that
// sends a request and waits for the replies does; Close, by contrast,
// discards what arrives while it waits unless another goroutine is reading.
func (c *Conn) StartClose(code StatusCode, reason string) error {
	if err := c.sendClose(code, reason); err != nil {
		return err
	}
	// The timer outlives a connection that closes sooner only as a
	// no-op: closeConn runs once.
	time.AfterFunc(c.opts.CloseTimeout, func() { c.closeConn(errCloseTimeout) })
	return nil
}

// writeClose sends a close frame, bounded by CloseTimeout.
func (c *Conn) writeClose(payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
	defer cancel()
	return c.writeFrame(ctx, header{fin: true, op: opClose}, payload)
}

var errCloseTimeout = errors.New("websocket: timed out waiting for the peer's close frame")

// waitPeerClose waits for the peer's close frame after ours was sent.
func (c *Conn) waitPeerClose() error {
	select {
	case <-c.closeRcvd:
		return nil
	case <-c.closed:
		return c.peerCloseResult()
	default:
	}
	timer := time.NewTimer(c.opts.CloseTimeout)
	defer timer.Stop()
	switch c.readMu.lockOr(c.closeRcvd, c.closed, timer.C) {
	case lockStop1:
		return nil
	case lockStop2:
		return c.peerCloseResult()
	case lockTimeout:
		return errCloseTimeout
	}
	// Nobody is reading: read until the close frame.
	defer c.readMu.unlock()
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	for {
		if _, err := c.mr.begin(); err != nil {
			if isTimeout(err) {
				return errCloseTimeout
			}
			return c.peerCloseResult()
		}
	}
}

// peerCloseResult is Close's result once the connection ended.
func (c *Conn) peerCloseResult() error {
	select {
	case <-c.closeRcvd:
		return nil
	default:
	}
	if cerr := c.closedErr(); cerr != nil && cerr != errClosed {
		return cerr
	}
	return errors.New("websocket: connection closed before the peer's close frame")
}

// peerClosed handles the peer's close frame: it answers it unless this side
// sent one first, and closes the connection.
func (c *Conn) peerClosed(ce CloseError) error {
	c.mr.err = ce
	// Echo the code (RFC 6455 section 5.5.1); an empty close is answered
	// with an empty close. If this side's close frame went out first (or
	// is going out now), it is the answer.
	var b [2]byte
	payload, _ := appendClosePayload(b[:0], ce.Code, "")
	c.sendCloseOnce(payload)
	c.closeRcvdOnce.Do(func() { close(c.closeRcvd) })
	c.closeConn(ce)
	return ce
}

// fail fails the connection (RFC 6455 section 7.1.7): it sends a close frame
// with the error's code, unless one was sent, and closes the connection. It
// returns the error as a ProtocolError value.
func (c *Conn) fail(p *ProtocolError) error {
	if c.mr.err != nil {
		return c.mr.err
	}
	perr := *p
	c.mr.err = perr
	var b [maxControlPayload]byte
	payload, _ := appendClosePayload(b[:0], perr.Code, truncateUTF8(perr.Reason, maxCloseReason))
	if sent, err := c.sendCloseOnce(payload); sent && err == nil {
		// The reader learns of the failure now; the socket is closed
		// once the peer has had the close frame. The goroutine takes
		// the read lock, which the caller holds until it returns.
		c.lingering.Store(true)
		go func() {
			if c.readMu.lock(context.Background(), c.closed) == nil {
				c.linger()
				c.readMu.unlock()
			}
			c.closeConn(perr)
		}()
		return perr
	}
	c.closeConn(perr)
	return perr
}

// linger gives the peer the chance to read the close frame before the
// connection is closed: closing a TCP socket with unread data in its
// receive buffer sends a reset, which can destroy the close frame in
// flight. It shuts down the write side, so the peer reads the close frame
// and then end of stream, and reads and drops what the peer still sends
// until it closes too, or CloseTimeout.
func (c *Conn) linger() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	for {
		n := c.br.Buffered()
		if n == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return
			}
			continue
		}
		c.br.Discard(n)
	}
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
